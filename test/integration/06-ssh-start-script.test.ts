/**
 * Check 6: the program's rendered start/stop scripts, run exactly as @pulumi/command runs them:
 * the script text is the SSH exec command and the secrets bundle arrives on stdin, against a real
 * sshd on 127.0.0.1 whose PATH puts a `docker` -> podman shim first (in this test's temp dir
 * only). The container runs the pinned image name, pre-loaded from the locally built registry
 * binary, so nothing is pulled.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { renderDeployment, type Deployment, type DeploymentInput } from "../../components/render/deployment";
import { renderStartScript, renderStopScript, type StartScriptInput } from "../../components/render/scripts";
import { registryImageReference, REGISTRY_VERSION } from "../../components/versions";
import { parse } from "yaml";
import {
    buildOciImage,
    cachedBinary,
    dockerRef,
    freePort,
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
import type { RunResult, TempDir, TestCertificates } from "../harness";
import { rehearseOnHost, withDropletValues, type HostSwaps } from "../harness/host";
import { CONTAINER_HOST_LOOPBACK, ensureRegistryImage, removeContainer, removeContainerSync, writeDockerShim, type DockerShim } from "../harness/podman";
import { SshServer } from "../harness/sshd";
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
    const containerName = `registry-rehearsal-${randomBytes(4).toString("hex")}`;
    const login = generateLogin();
    const httpSecret = randomBytes(36).toString("base64url");
    let startInput: StartScriptInput;

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

    /**
     * The program's stdin bundle with one swap in both configs: the S3 endpoint, which the
     * container reaches through slirp4netns at 10.0.2.2 (its own 127.0.0.1 is itself).
     */
    function bundle(secretKey = s3.secretKey): string {
        return rehearseOnHost(programInput(secretKey), hostSwaps()).stdin;
    }

    function hostSwaps(): HostSwaps {
        const s3Endpoint = `http://${CONTAINER_HOST_LOOPBACK}:${s3.port}`;
        return { containerName, image, root: tmp.join("host"), port, debugPort, s3Endpoint, healthTimeoutSeconds: 60 };
    }

    function assertNoSecrets(text: string, where: string): void {
        for (const { name, value } of secrets) {
            assert.ok(!text.includes(value), `${where} contains the ${name}`);
        }
    }

    async function containers(): Promise<string[]> {
        const ps = await tracker.runChecked(systemBinary("podman"), ["ps", "-a", "--filter", `name=^${containerName}$`, "--format", "{{.ID}} {{.Status}}"]);
        return ps.stdout.split("\n").filter((l) => l.trim() !== "");
    }

    function describeRun(result: RunResult): string {
        return `exit ${result.code ?? result.signal} after ${result.durationMs} ms\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
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

        // The pinned image name the program deploys, pre-loaded from the locally built binary.
        const built = await ensureRegistryImage(tracker, { image: registryImageReference(REGISTRY_VERSION), binary: cachedBinary("registry"), workDir: tmp.path });
        image = built.image;
        tracker.addCleanup("rehearsal registry image", built.cleanup, built.cleanupSync);
        tracker.addCleanup(`container ${containerName}`, () => removeContainer(tracker, containerName), () => removeContainerSync(containerName));

        shim = writeDockerShim(tmp.join("shim"));
        ssh = await SshServer.start(tracker, { dir: tmp.join("ssh"), remotePath: `${shim.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` });
        port = await freePort();
        debugPort = await freePort();
        // The program's start-script input (components/render/deployment.ts), with the container
        // name, host directories (systemd's unit directory too), published ports and the health
        // check's port swapped for this machine: the droplet publishes 443 on every interface,
        // the rehearsal 127.0.0.1 only.
        startInput = rehearseOnHost(programInput(), hostSwaps()).start;
    });

    after(async () => {
        try {
            await tracker.dispose();
        } finally {
            tmp?.remove();
        }
    });

    test("6a) the start script over SSH starts the registry, passes its own health wait, and twice leaves one container", async () => {
        const script = renderStartScript(startInput);
        assertNoSecrets(script, "the start script's text (the SSH command @pulumi/command prints on failure)");

        // What runs is the program's script but for the swapped values: with the droplet's values
        // put back, the same renderer gives the program's text byte for byte.
        const program = deployment();
        const programValues: StartScriptInput = withDropletValues(startInput, programInput());
        assert.equal(programValues.maintenance?.unitDir, "/etc/systemd/system");
        assert.equal(programValues.health.url, `https://${PUBLIC_NAME}/v2/`);
        assert.equal(renderStartScript(programValues), program.startScript, "the rehearsal's start-script input drifted from components/render/deployment.ts");
        // ...and the bundle is the program's but for both configs' S3 endpoint.
        const ours = decodeBundleFiles(bundle());
        const theirs = decodeBundleFiles(program.stdin);
        const configs = ["config.yml", "config-readonly.yml"];
        assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), "bundle file names");
        for (const name of Object.keys(theirs).filter((n) => !configs.includes(n))) {
            assert.equal(ours[name], theirs[name], `bundle file ${name} differs from the program's`);
        }
        for (const name of configs) {
            const oursConfig = parse(ours[name]) as { storage: { s3: Record<string, unknown> } };
            assert.equal(oursConfig.storage.s3.regionendpoint, `http://${CONTAINER_HOST_LOOPBACK}:${s3.port}`, name);
            assert.equal(oursConfig.storage.s3.forcepathstyle, true, name);
            delete oursConfig.storage.s3.regionendpoint;
            delete oursConfig.storage.s3.forcepathstyle;
            // The program names AWS's regional endpoint (or none); only that is swapped.
            const theirsConfig = parse(theirs[name]) as { storage: { s3: Record<string, unknown> } };
            delete theirsConfig.storage.s3.regionendpoint;
            assert.deepEqual(oursConfig, theirsConfig, `${name} differs from the program's by more than the S3 endpoint`);
        }

        const first = await ssh.exec(script, { stdin: bundle(), timeoutMs: 120_000 });
        assert.equal(first.code, 0, `first run of the start script failed: ${describeRun(first)}`);
        assert.match(first.stdout, /registry is serving: HTTP 401 without credentials, 200 with them/, `first run: ${describeRun(first)}`);
        assert.match(first.stdout, /its storage answers/, `first run did not prove storage works: ${describeRun(first)}`);
        // Not a systemd host: the maintenance timer is skipped, and nothing lands in the unit directory.
        assert.match(first.stdout, /systemd is not running here: the maintenance timer is not installed/, describeRun(first));
        assert.equal(fs.existsSync(startInput.maintenance?.unitDir ?? ""), false, "the start script wrote a unit directory where systemd does not run");
        assertNoSecrets(first.stdout + first.stderr, "the first run's output");
        const afterFirst = await containers();
        assert.equal(afterFirst.length, 1, `after one run: ${afterFirst.join("; ")}`);

        const second = await ssh.exec(script, { stdin: bundle(), timeoutMs: 120_000 });
        assert.equal(second.code, 0, `second run of the start script failed: ${describeRun(second)}`);
        assertNoSecrets(second.stdout + second.stderr, "the second run's output");
        const afterSecond = await containers();
        assert.equal(afterSecond.length, 1, `running the start script twice left ${afterSecond.length} containers: ${afterSecond.join("; ")}`);
        const running = await tracker.run(systemBinary("podman"), ["inspect", "-f", "{{.State.Running}}", containerName]);
        assert.equal(running.stdout.trim(), "true", `the container is not running: ${afterSecond[0]}`);
        assert.notEqual(afterSecond[0].split(" ")[0], afterFirst[0].split(" ")[0], "the second run did not replace the container");

        // The shim really ran the engine commands, and no secret went through docker's argv.
        const calls = shim.calls();
        assert.ok(calls.some((c) => c.startsWith(`run -d --name ${containerName} `)), `the docker shim saw no 'run': ${calls.join("\n")}`);
        assert.ok(!calls.some((c) => c.startsWith("pull ")), `the start script pulled although the image was pre-loaded: ${calls.join("\n")}`);
        assertNoSecrets(calls.join("\n"), "the docker command lines");
        // The files landed with the modes the script promises.
        assert.equal(fs.statSync(startInput.configDir).mode & 0o777, 0o700, "config dir mode");
        for (const file of ["config.yml", "config-readonly.yml", "htpasswd", "tls.key", "health.curlrc", "bin/run-registry", "bin/maintenance"]) {
            assert.equal(fs.statSync(`${startInput.configDir}/${file}`).mode & 0o077, 0, `${file} is readable by group/others`);
        }
    });

    test("6b) the container the script started stores pushes in S3, serves pulls by presigned redirect, and its debug health is 200", async () => {
        assert.equal((await containers()).length, 1, "6a did not leave a container running");
        const host = `127.0.0.1:${port}`;
        const work = makeTempDir("rehearsal-ssh-image");
        try {
            const img = await buildOciImage(work.join("source"), { layerSizes: [12 * MB, 2 * MB], tag: "v1", compression: "gzip" });
            const since = s3.operationCount();
            const push = await skopeo.copy(ociRef(img.layoutDir, "v1"), dockerRef(host, "team/containerized", "v1"), { destCreds: login, destCertDir: certs.certDir });
            assertSucceeded(push, "push to the containerized registry", { secrets: [login.password] });
            const fromContainer = s3.operations({ since, userAgent: REGISTRY_S3_USER_AGENT });
            assert.ok(fromContainer.some((op) => op.operation === "CompleteMultipartUpload" || op.operation === "PutObject"), "the S3 server saw no uploads from the container");

            const manifest = await request(`https://${host}/v2/team/containerized/manifests/v1`, {
                ca: certs.caCertPem,
                basicAuth: login,
                headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
            });
            assert.equal(manifest.status, 200, `manifest from the container: HTTP ${manifest.status}`);
            assert.equal(manifest.digest, img.manifest.digest, "manifest digest from the container");
            // The program redirects blob pulls to presigned S3 URLs (redirectPullsToS3 defaults to
            // true). The container signs them for its view of S3 (10.0.2.2:PORT); fetch each one
            // through 127.0.0.1:PORT with the signed Host header, and check the bytes.
            for (const layer of [img.config, ...img.layers]) {
                const blob = await request(`https://${host}/v2/team/containerized/blobs/${layer.digest}`, { ca: certs.caCertPem, basicAuth: login, maxBodyBytes: 0 });
                assert.equal(blob.status, 307, `blob ${layer.digest}: HTTP ${blob.status}, want a 307 redirect to S3`);
                const location = String(blob.headers.location);
                assert.ok(location.startsWith(`http://${CONTAINER_HOST_LOOPBACK}:${s3.port}/${BUCKET}/`), `unexpected redirect target ${location}`);
                const fromS3 = await request(location, { connectTo: { host: "127.0.0.1", port: s3.port }, maxBodyBytes: 0 });
                assert.equal(fromS3.status, 200, `presigned GET of ${layer.digest}: HTTP ${fromS3.status}`);
                assert.equal(fromS3.digest, layer.digest, `the presigned URL for ${layer.digest} served other bytes`);
            }
        } finally {
            work.remove();
        }
        const health = await request(`http://127.0.0.1:${debugPort}/debug/health`);
        assert.equal(health.status, 200, `/debug/health of the container: HTTP ${health.status} ${health.text()}`);
    });

    test("6c) renderStopScript removes the container and its secret files, and succeeds again when there is nothing left", async () => {
        const stop = renderStopScript({ containerName, configDir: startInput.configDir });
        const first = await ssh.exec(stop, { timeoutMs: 60_000 });
        assert.equal(first.code, 0, `stop script failed: ${describeRun(first)}`);
        assert.deepEqual(await containers(), [], "the stop script left the container");
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
                await ssh.exec(renderStopScript({ containerName, configDir: startInput.configDir }), { timeoutMs: 60_000 });
            }
    });
});
