/**
 * Check 6: the program's rendered start/stop scripts, run exactly as @pulumi/command runs them:
 * the script text is the SSH exec command and the secrets bundle arrives on stdin, against a real
 * sshd on 127.0.0.1 whose PATH puts a `docker` -> podman shim first (in this test's temp dir
 * only). Two containers on the host's network: the registry and its front (Caddy), under the
 * pinned image names, pre-loaded from the locally built binaries, so nothing is pulled.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { renderDeployment, type Deployment, type DeploymentInput } from "../../components/render/deployment";
import { renderFrontConfig } from "../../components/render/front";
import { renderStartScript, renderStopScript, type StartScriptInput } from "../../components/render/scripts";
import { parse } from "yaml";
import {
    buildOciImage,
    describeRun,
    dockerRef,
    generateLogin,
    generateTestCertificates,
    makeTempDir,
    ociRef,
    ProcessTracker,
    programDeploymentInput,
    REGISTRY_S3_USER_AGENT,
    request,
    S3Server,
    Skopeo,
    systemBinary,
} from "../harness";
import type { TempDir, TestCertificates } from "../harness";
import { bundleWithDropletValues, rehearseOnHost, withDropletValues, type HostRehearsal, type HostSwaps } from "../harness/host";
import type { DockerShim } from "../harness/podman";
import { startPodmanHost } from "../harness/podmanHost";
import type { SshServer } from "../harness/sshd";
import { assertSucceeded, MB } from "./support";
import { decodeBundleFiles } from "../support/bundle";

/** The name clients use; the health check reaches it with curl --connect-to, as on a droplet behind DNS. */
const PUBLIC_NAME = "registry.rehearsal.test";
const BUCKET = "rehearsal-ssh";

describe("the rendered start/stop scripts over real SSH, with podman as the engine", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let s3: S3Server;
    let certs: TestCertificates;
    let ssh: SshServer;
    let shim: DockerShim;
    let skopeo: Skopeo;
    let image: string;
    let port: number;
    let debugPort: number;
    let frontPort: number;
    let containerName: string;
    let frontContainerName: string;
    const login = generateLogin();
    const httpSecret = randomBytes(36).toString("base64url");
    let startInput: StartScriptInput;
    let rehearsal: HostRehearsal;

    /** Every secret that must never show in script output, command text or docker argv. */
    let secrets: { name: string; value: string }[] = [];

    /** The program's input for this deploy (private CA, the program's defaults). */
    function programInput(secretKey = s3.secretKey): DeploymentInput {
        return programDeploymentInput({
            s3: { endpoint: "(unused: the program targets AWS)", region: s3.region, bucket: BUCKET, accessKey: s3.accessKey, secretKey },
            login,
            httpSecret,
            certs,
            hostname: PUBLIC_NAME,
        });
    }

    /** What the program renders for this deploy. */
    function deployment(): Deployment {
        return renderDeployment(programInput());
    }

    /** The program's stdin bundle with the loopback swaps (see test/harness/host.ts). */
    function bundle(secretKey = s3.secretKey): string {
        return rehearseOnHost(programInput(secretKey), hostSwaps()).stdin;
    }

    function hostSwaps(): HostSwaps {
        // Host network: the registry reaches the S3 stand-in on the host's loopback.
        return { containerName, frontContainerName, image, root: tmp.join("host"), port, debugPort, frontPort, s3Endpoint: s3.endpoint, healthTimeoutSeconds: 60 };
    }

    function assertNoSecrets(text: string, where: string): void {
        for (const { name, value } of secrets) {
            assert.ok(!text.includes(value), `${where} contains the ${name}`);
        }
    }

    async function containers(name = containerName): Promise<string[]> {
        const ps = await tracker.runChecked(systemBinary("podman"), ["ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.ID}} {{.Status}}"]);
        return ps.stdout.split("\n").filter((l) => l.trim() !== "");
    }

    before(async () => {
        tmp = makeTempDir("rehearsal-ssh");
        s3 = await S3Server.start(tracker, { dir: tmp.join("s3") });
        await s3.createBucket(BUCKET);
        certs = await generateTestCertificates(tracker, tmp.join("tls"), { hosts: ["127.0.0.1", "localhost", PUBLIC_NAME] });
        skopeo = new Skopeo(tracker, tmp.join("skopeo"));
        const keyBody = fs.readFileSync(certs.keyFile, "utf8").split("\n")[1];
        secrets = [
            { name: "S3 secret key", value: s3.secretKey },
            { name: "registry password", value: login.password },
            { name: "http secret", value: httpSecret },
            { name: "TLS private key", value: keyBody },
        ];

        const droplet = await startPodmanHost(tracker, { dir: tmp.path, namePrefix: "registry-rehearsal" });
        ({ ssh, shim, image, containerName, frontContainerName } = droplet);
        ({ port, debugPort, frontPort } = droplet.ports);
        // The program's start-script input (components/render/deployment.ts), with the container
        // names, host directories (systemd's unit directory too), the registry's loopback ports,
        // the front's port and the health check's swapped for this machine: the droplet's front
        // binds 443 on every interface, the rehearsal's 127.0.0.1 only.
        rehearsal = rehearseOnHost(programInput(), hostSwaps());
        startInput = rehearsal.start;
    });

    after(async () => {
        try {
            await tracker.dispose();
        } finally {
            tmp?.remove();
        }
    });

    test("6a) the start script over SSH starts the registry and its front, passes its own health wait, and twice leaves one of each", async () => {
        const script = renderStartScript(startInput);
        assertNoSecrets(script, "the start script's text (the SSH command @pulumi/command prints on failure)");

        // What runs is the program's script and bundle but for the swapped values: with the
        // droplet's values put back, the same renderers give the program's text byte for byte.
        const program = deployment();
        const programValues: StartScriptInput = withDropletValues(startInput, programInput());
        assert.equal(programValues.maintenance?.unitDir, "/etc/systemd/system");
        assert.equal(programValues.health.url, `https://${PUBLIC_NAME}/v2/`);
        assert.equal(renderStartScript(programValues), program.startScript, "the rehearsal's start-script input drifted from components/render/deployment.ts");
        assert.deepEqual(bundleWithDropletValues(rehearsal, programInput()), decodeBundleFiles(program.stdin), "the rehearsal's bundle differs from the program's by more than the swaps");
        // ...and the swaps are what they say: loopback ports, the S3 stand-in, the front's log under the temp root.
        const ours = decodeBundleFiles(bundle());
        for (const name of ["config.yml", "config-readonly.yml"]) {
            const config = parse(ours[name]) as { http: { addr: string; debug: { addr: string } }; storage: { s3: Record<string, unknown> } };
            assert.equal(config.storage.s3.regionendpoint, s3.endpoint, name);
            assert.equal(config.storage.s3.forcepathstyle, true, name);
            assert.equal(config.http.addr, `127.0.0.1:${port}`, name);
            assert.equal(config.http.debug.addr, `127.0.0.1:${debugPort}`, name);
        }
        assert.equal(ours["front/Caddyfile"], renderFrontConfig(rehearsal.front));
        assert.deepEqual(
            [rehearsal.front.listen, rehearsal.front.upstream, rehearsal.front.accessLogFile],
            [`127.0.0.1:${frontPort}`, `127.0.0.1:${port}`, tmp.join("host", "var", "log", "private-registry", "front-access.log")],
        );

        const first = await ssh.exec(script, { stdin: bundle(), timeoutMs: 120_000 });
        assert.equal(first.code, 0, `first run of the start script failed: ${describeRun(first)}`);
        assert.match(first.stdout, /registry is serving: HTTP 401 without credentials, 200 with them/, `first run: ${describeRun(first)}`);
        assert.match(first.stdout, /its storage answers/, `first run did not prove storage works: ${describeRun(first)}`);
        assert.match(first.stdout, new RegExp(`front ${frontContainerName} started`), describeRun(first));
        // Not a systemd host: the maintenance timer is skipped, and nothing lands in the unit directory.
        assert.match(first.stdout, /systemd is not running here: the maintenance timer is not installed/, describeRun(first));
        assert.equal(fs.existsSync(startInput.maintenance?.unitDir ?? ""), false, "the start script wrote a unit directory where systemd does not run");
        assertNoSecrets(first.stdout + first.stderr, "the first run's output");
        const afterFirst = await containers();
        const frontFirst = await containers(frontContainerName);
        assert.equal(afterFirst.length, 1, `registry containers after one run: ${afterFirst.join("; ")}`);
        assert.equal(frontFirst.length, 1, `front containers after one run: ${frontFirst.join("; ")}`);

        const second = await ssh.exec(script, { stdin: bundle(), timeoutMs: 120_000 });
        assert.equal(second.code, 0, `second run of the start script failed: ${describeRun(second)}`);
        // The same files again: the running front and registry are left alone (15-rotation proves
        // the reload and the replacement when their files change).
        assert.match(second.stdout, new RegExp(`front ${frontContainerName} unchanged`), describeRun(second));
        assert.match(second.stdout, new RegExp(`registry container ${containerName} unchanged \\(readwrite\\)`), describeRun(second));
        assertNoSecrets(second.stdout + second.stderr, "the second run's output");
        const afterSecond = await containers();
        assert.equal(afterSecond.length, 1, `running the start script twice left ${afterSecond.length} registry containers: ${afterSecond.join("; ")}`);
        for (const name of [containerName, frontContainerName]) {
            const running = await tracker.run(systemBinary("podman"), ["inspect", "-f", "{{.State.Running}}", name]);
            assert.equal(running.stdout.trim(), "true", `container ${name} is not running`);
        }
        assert.equal(afterSecond[0].split(" ")[0], afterFirst[0].split(" ")[0], "the second run replaced the registry's container although nothing it reads changed");
        assert.deepEqual((await containers(frontContainerName)).map((c) => c.split(" ")[0]), [frontFirst[0].split(" ")[0]], "the second run replaced the front instead of leaving it running");

        // The shim really ran the engine commands, and no secret went through docker's argv.
        const calls = shim.calls();
        for (const name of [containerName, frontContainerName]) {
            const runs = calls.filter((c) => c.startsWith(`run -d --name ${name} `));
            assert.equal(runs.length, 1, `docker run of ${name}: ${calls.join("\n")}`);
            assert.match(runs[0], / --network host /, `${name} is not on the host's network`);
        }
        assert.ok(!calls.some((c) => c.startsWith(`exec ${frontContainerName} caddy reload `)), `the front was reloaded with unchanged files: ${calls.join("\n")}`);
        assert.ok(!calls.some((c) => c.startsWith("pull ")), `the start script pulled although the images were pre-loaded: ${calls.join("\n")}`);
        assertNoSecrets(calls.join("\n"), "the docker command lines");
        // The files landed with the modes the script promises.
        assert.equal(fs.statSync(startInput.configDir).mode & 0o777, 0o700, "config dir mode");
        for (const file of ["config.yml", "config-readonly.yml", "htpasswd", "front/Caddyfile", "front/tls.key", "health.curlrc", "bin/run-registry", "bin/run-front", "bin/wait-serving", "bin/maintenance"]) {
            assert.equal(fs.statSync(`${startInput.configDir}/${file}`).mode & 0o077, 0, `${file} is readable by group/others`);
        }
    });

    test("6b) through the front, the registry the script started stores pushes in S3, serves pulls by presigned redirect, and its debug health is 200", async () => {
        assert.equal((await containers()).length, 1, "6a did not leave a container running");
        const host = `127.0.0.1:${frontPort}`;
        const work = makeTempDir("rehearsal-ssh-image");
        try {
            const img = await buildOciImage(work.join("source"), { layerSizes: [12 * MB, 2 * MB], tag: "v1", compression: "gzip" });
            const since = s3.operationCount();
            const push = await skopeo.copy(ociRef(img.layoutDir, "v1"), dockerRef(host, "team/containerized", "v1"), { destCreds: login, destCertDir: certs.certDir });
            assertSucceeded(push, "push through the front", { secrets: [login.password] });
            const fromContainer = s3.operations({ since, userAgent: REGISTRY_S3_USER_AGENT });
            assert.ok(fromContainer.some((op) => op.operation === "CompleteMultipartUpload" || op.operation === "PutObject"), "the S3 server saw no uploads from the container");

            const manifest = await request(`https://${host}/v2/team/containerized/manifests/v1`, {
                ca: certs.caCertPem,
                basicAuth: login,
                headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
            });
            assert.equal(manifest.status, 200, `manifest through the front: HTTP ${manifest.status}`);
            assert.equal(manifest.digest, img.manifest.digest, "manifest digest through the front");
            // The program redirects blob pulls to presigned S3 URLs (redirectPullsToS3 defaults to
            // true); the front passes the redirect on. The container signs them for its view of
            // S3, the host's loopback here: fetch each one and check the bytes.
            for (const layer of [img.config, ...img.layers]) {
                const blob = await request(`https://${host}/v2/team/containerized/blobs/${layer.digest}`, { ca: certs.caCertPem, basicAuth: login, maxBodyBytes: 0 });
                assert.equal(blob.status, 307, `blob ${layer.digest}: HTTP ${blob.status}, want a 307 redirect to S3`);
                const location = String(blob.headers.location);
                assert.ok(location.startsWith(`${s3.endpoint}/${BUCKET}/`), `unexpected redirect target ${location}`);
                const fromS3 = await request(location, { maxBodyBytes: 0 });
                assert.equal(fromS3.status, 200, `presigned GET of ${layer.digest}: HTTP ${fromS3.status}`);
                assert.equal(fromS3.digest, layer.digest, `the presigned URL for ${layer.digest} served other bytes`);
            }
        } finally {
            work.remove();
        }
        const health = await request(`http://127.0.0.1:${debugPort}/debug/health`);
        assert.equal(health.status, 200, `/debug/health of the container: HTTP ${health.status} ${health.text()}`);
        // The front logged the requests, and no secret went into its log or either container's.
        const accessLog = fs.readFileSync(rehearsal.front.accessLogFile, "utf8");
        assert.match(accessLog, /"uri":"\/v2\/team\/containerized\/manifests\/v1"/, "the front's access log lacks the pull");
        assertNoSecrets(accessLog, "the front's access log");
        for (const name of [containerName, frontContainerName]) {
            const logs = await tracker.runChecked(systemBinary("podman"), ["logs", name]);
            assertNoSecrets(logs.stdout + logs.stderr, `the logs of container ${name}`);
        }
    });

    test("6c) renderStopScript removes both containers and their secret files, and succeeds again when there is nothing left", async () => {
        const stop = renderStopScript({ containerName, frontContainerName, configDir: startInput.configDir, unitDir: startInput.maintenance?.unitDir ?? startInput.configDir });
        const first = await ssh.exec(stop, { timeoutMs: 60_000 });
        assert.equal(first.code, 0, `stop script failed: ${describeRun(first)}`);
        assert.deepEqual(await containers(), [], "the stop script left the registry's container");
        assert.deepEqual(await containers(frontContainerName), [], "the stop script left the front's container");
        assert.equal(fs.existsSync(startInput.configDir), false, "the stop script left the config dir (with htpasswd and the TLS key)");
        const again = await ssh.exec(stop, { timeoutMs: 60_000 });
        assert.equal(again.code, 0, `a second stop failed (delete must be tolerant): ${describeRun(again)}`);
        assertNoSecrets(first.stdout + first.stderr + again.stdout + again.stderr, "the stop script's output");
    });

    test("6d) with broken S3 credentials the start script exits non-zero and prints the registry's last log lines", async () => {
        const script = renderStartScript({ ...startInput, health: { ...startInput.health, timeoutSeconds: 20 } });
        const result = await ssh.exec(script, { stdin: bundle("wrong-secret-key-for-the-bucket"), timeoutMs: 120_000 });
        try {
            assertNoSecrets(result.stdout + result.stderr, "the failing run's output");
            assert.notEqual(result.code, 0, `the start script reported success for a registry whose S3 credentials are wrong: ${describeRun(result)}`);
            assert.match(result.stderr, /--- last registry log lines ---/, `no registry log lines in the failure output: ${describeRun(result)}`);
            assert.match(result.stderr, /SignatureDoesNotMatch|s3aws/, `the printed log lines do not show the S3 error: ${describeRun(result)}`);
        } finally {
            await ssh.exec(renderStopScript({ containerName, frontContainerName, configDir: startInput.configDir, unitDir: startInput.maintenance?.unitDir ?? startInput.configDir }), { timeoutMs: 60_000 });
        }
    });
});
