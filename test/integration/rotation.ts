/**
 * Rotating credentials with real clients, over real SSH with podman as the engine, for either
 * storage (checks 15 and 20).
 * (a) A new storage key, as `pulumi up` rolls it out: it creates key B, reruns the start script
 * with it, and only afterwards deletes key A. Under a steady push and pull load through the
 * front, no request fails, the registry signs with B from then on, and everything pushed pulls
 * back intact. With Spaces the registry runs the program's Spaces storage section, versitygw
 * signs in the Spaces region, and the Spaces stand-in (spacesProxy.ts) sits in front of it and
 * refuses none of the registry's requests. (b) New passwords (`credentialRotation`): the old
 * ones are refused, the new ones work with their roles, and the front took them by reloading in
 * place. (c) No secret shows in the engine's argv, the script's output, the front's access log or
 * either container's log.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { type DeploymentInput, type DeploymentUser } from "../../components/render/deployment";
import { renderHtpasswd } from "../../components/render/htpasswd";
import { renderStartScript } from "../../components/render/scripts";
import { rehearseOnHost, type HostRehearsal } from "../harness/host";
import { request } from "../harness/http";
import type { DockerCallMark } from "../harness/podman";
import { startPodmanHost, type PodmanHost } from "../harness/podmanHost";
import { LOOPBACK } from "../harness/ports";
import { describeRun, ProcessTracker, type RunResult } from "../harness/processes";
import { generateLogin, programDeploymentInput, type GeneratedLogin } from "../harness/registry";
import { RegistryLoad } from "../harness/registryLoad";
import { REGISTRY_S3_USER_AGENT } from "../harness/s3";
import { S3WithAccounts, type S3Key } from "../harness/s3accounts";
import type { S3RecordingProxy } from "../harness/s3proxy";
import { startSpacesStandIn } from "../harness/spacesProxy";
import { generateTestCertificates, type TestCertificates } from "../harness/tls";
import { makeTempDir, systemBinary, type TempDir } from "../harness/tools";
import { sleep } from "../harness/wait";

const PUBLIC_NAME = "registry.rehearsal.test";
const BUCKET = "rehearsal-rotation";
/** The Spaces region the stand-in signs in with `storage: "spaces"`. */
const SPACES_REGION = "nyc3";
/** How long the load runs before the redeploy, and after key A is gone. */
const STEADY_MS = 3000;
/** How long the slow upload's body takes to arrive; the registry is stopped while it does, however long the redeploy takes to reach its stop (5.5 s was too short once on a loaded machine). */
const SLOW_UPLOAD_MS = 15_000;

const slowPatchOf = (load: RegistryLoad) => load.requests.find((r) => r.step === "PATCH slow layer");

/** A new password for the same login and salt, as `credentialRotation` replaces only the RandomPassword. */
function rotated(login: GeneratedLogin): GeneratedLogin {
    const password = generateLogin(login.username).password;
    return { ...login, password, htpasswd: renderHtpasswd({ username: login.username, password, salt: login.salt }) };
}

/** The rotation checks for one storage; `check` is the checks' number, which names their tests. */
export function describeRotation(check: number, storage: NonNullable<DeploymentInput["storage"]>): void {
    const storageName = storage === "spaces" ? "Spaces" : "S3";
    describe(`rotating the ${storageName} key and the passwords under load, over real SSH`, () => {
        const tracker = new ProcessTracker();
        let tmp: TempDir;
        let s3: S3WithAccounts;
        /** The Spaces stand-in in front of versitygw, with `storage: "spaces"`. */
        let spacesProxy: S3RecordingProxy | undefined;
        /** Where the registry's driver sends its requests: versitygw, or the Spaces stand-in in front of it. */
        const storageEndpoint = () => spacesProxy?.endpoint ?? s3.endpoint;
        let certs: TestCertificates;
        let host: PodmanHost;
        let last: HostRehearsal;
        const httpSecret = randomBytes(36).toString("base64url");
        let ci = generateLogin("ci");
        let deploy = generateLogin("deploy");
        const oldLogins: GeneratedLogin[] = [];
        let keyA: S3Key;
        let keyB: S3Key;
        /** Everything a deploy printed. */
        const outputs: string[] = [];

        const front = () => `https://${LOOPBACK}:${host.ports.frontPort}`;

        function programInput(key: S3Key): DeploymentInput {
            const pullUser: DeploymentUser = { name: deploy.username, role: "pull", password: deploy.password, salt: deploy.salt };
            return programDeploymentInput({
                s3: { endpoint: "(unused: the program targets the cloud's endpoint)", region: s3.region, bucket: BUCKET, accessKey: key.accessKey, secretKey: key.secretKey },
                storage,
                login: ci,
                moreUsers: [pullUser],
                httpSecret,
                certs,
                hostname: PUBLIC_NAME,
            });
        }

        /** The start command as @pulumi/command runs it, with the program's input for this key and these logins. */
        async function runStart(key: S3Key): Promise<RunResult> {
            last = rehearseOnHost(programInput(key), {
                containerName: host.containerName,
                frontContainerName: host.frontContainerName,
                image: host.image,
                root: tmp.join("host"),
                ...host.ports,
                s3Endpoint: storageEndpoint(),
                healthTimeoutSeconds: 60,
            });
            const result = await host.ssh.exec(renderStartScript(last.start), { stdin: last.stdin, timeoutMs: 180_000 });
            outputs.push(result.stdout, result.stderr);
            assert.equal(result.code, 0, `the start script failed: ${describeRun(result)}`);
            return result;
        }

        async function containerId(name: string): Promise<string> {
            return (await tracker.runChecked(systemBinary("podman"), ["inspect", "-f", "{{.Id}}", name])).stdout.trim();
        }

        async function containerLogs(name: string): Promise<string> {
            const logs = await tracker.runChecked(systemBinary("podman"), ["logs", name]);
            return logs.stdout + logs.stderr;
        }

        /** Each secret, named, that no log may hold. */
        function secrets(): { name: string; value: string }[] {
            const keyBody = fs.readFileSync(certs.keyFile, "utf8").split("\n")[1];
            return [
                { name: `${storageName} secret key A`, value: keyA.secretKey },
                { name: `${storageName} secret key B`, value: keyB?.secretKey ?? keyA.secretKey },
                { name: "S3 stand-in's root secret", value: s3.root.secretKey },
                ...[ci, deploy, ...oldLogins].map((l) => ({ name: `password of ${l.username}`, value: l.password })),
                // The Basic header of a login carries the password in base64.
                ...[ci, deploy, ...oldLogins].map((l) => ({ name: `Basic header of ${l.username}`, value: Buffer.from(`${l.username}:${l.password}`).toString("base64") })),
                { name: "http secret", value: httpSecret },
                { name: "TLS private key", value: keyBody },
            ];
        }

        function assertNoSecrets(text: string, where: string): void {
            for (const { name, value } of secrets()) {
                assert.ok(!text.includes(value), `${where} contains the ${name}`);
            }
        }

        /** Logs of the running containers, gathered before a deploy replaces the registry's. */
        const containerLogTexts: string[] = [];

        before(async () => {
            tmp = makeTempDir("rehearsal-rotation");
            s3 = await S3WithAccounts.start(tracker, { dir: tmp.join("s3"), region: storage === "spaces" ? SPACES_REGION : undefined });
            await s3.createBucket(BUCKET);
            if (storage === "spaces") {
                const proxy = await startSpacesStandIn({ upstreamPort: s3.server.port, bucket: BUCKET });
                tracker.addCleanup("Spaces stand-in proxy", () => proxy.close());
                spacesProxy = proxy;
            }
            keyA = await s3.createKey();
            await s3.grant(BUCKET, [keyA]);
            certs = await generateTestCertificates(tracker, tmp.join("tls"), { hosts: [LOOPBACK, "localhost", PUBLIC_NAME] });
            host = await startPodmanHost(tracker, { dir: tmp.path, namePrefix: "registry-rotation", marks: s3.accessLogFile });
        });

        after(async () => {
            try {
                await tracker.dispose();
            } finally {
                tmp?.remove();
            }
        });

        test(`${check}a) a new ${storageName} key rolled out under a steady push and pull load: no request fails, and the registry signs with the new key`, { timeout: 300_000 }, async () => {
            await runStart(keyA);
            const load = await RegistryLoad.start({ baseUrl: front(), ca: certs.caCertPem, login: ci, repository: "team/load", workers: 3, layerBytes: 64 * 1024 });
            let restart: { from: number; to: number; marks: DockerCallMark[] } | undefined;
            let deployedAt = 0;
            try {
                await sleep(STEADY_MS);
                containerLogTexts.push(await containerLogs(host.containerName));
                // Pulumi's order: key B exists (and is granted) before the start command reruns with it...
                keyB = await s3.createKey();
                await s3.grant(BUCKET, [keyA, keyB]);
                const marksBefore = host.shim.marks().length;
                // One upload whose body is still arriving when the registry is told to stop: the drain must let it finish.
                const slow = load.slowPush(SLOW_UPLOAD_MS);
                await sleep(500);
                const started = Date.now();
                await runStart(keyB);
                deployedAt = Date.now();
                await slow;
                // ...and key A is deleted only after that, when the update deletes what it no longer declares.
                await s3.deleteKey(keyA);
                restart = { from: started, to: deployedAt, marks: host.shim.marks().slice(marksBefore) };
                await sleep(STEADY_MS);
            } finally {
                await load.stop();
            }

            assert.ok(restart !== undefined);
            const failures = load.failures();
            const during = load.overlapping(restart.from, restart.to).filter((r) => r.worker >= 0);
            const waited = during.map((r) => r.endMs - r.startMs).sort((a, b) => b - a);
            process.stdout.write(
                `# load: ${load.requests.length} requests (${load.pushed.length} images pushed), ${failures.length} failed; ` +
                    `${during.length} during the ${restart.to - restart.from} ms redeploy, the longest ${waited[0] ?? 0} ms, ` +
                    `${waited.filter((ms) => ms > 1000).length} over 1 s; the slow upload's PATCH ${(slowPatchOf(load)?.endMs ?? 0) - (slowPatchOf(load)?.startMs ?? 0)} ms\n`,
            );
            assert.deepEqual(failures.map((f) => `${f.step} (worker ${f.worker}, at +${f.startMs - restart.from} ms): ${f.error}`), [], "requests failed during the key rotation");
            assert.ok(during.length > 0 && load.requests.some((r) => r.startMs > deployedAt), "the load did not run across the redeploy");
            const stop = restart.marks.find((m) => m.call.startsWith("stop -t ") && m.call.endsWith(` ${host.containerName}`));
            assert.ok(stop !== undefined, `the registry was not drained: ${restart.marks.map((m) => m.call).join("\n")}`);
            const slowPatch = slowPatchOf(load);
            assert.ok(slowPatch !== undefined && slowPatch.startMs < stop.atMs && slowPatch.endMs > stop.atMs, "the slow upload was not in flight when the registry was stopped");

            // Key A is refused now; the registry's requests since the redeploy were all signed with B.
            const withA = s3.client(keyA);
            try {
                await assert.rejects(withA.send(new ListObjectsV2Command({ Bucket: BUCKET })), /InvalidAccessKeyId/);
            } finally {
                withA.destroy();
            }
            const registryOps = s3.operations({ userAgent: REGISTRY_S3_USER_AGENT });
            const byKey = (key: S3Key) => registryOps.filter((op) => op.requester === key.accessKey).length;
            assert.ok(byKey(keyA) > 0 && byKey(keyB) > 0, `requests signed with A: ${byKey(keyA)}, with B: ${byKey(keyB)}`);
            const lastA = registryOps.map((op) => op.requester).lastIndexOf(keyA.accessKey);
            const afterA = registryOps.slice(lastA + 1);
            // A refused request names no requester (`-`): this also proves none was refused after the switch.
            assert.ok(afterA.length > 0 && afterA.every((op) => op.requester === keyB.accessKey), `after the last request signed with A: ${afterA.filter((op) => op.requester !== keyB.accessKey).map((op) => op.raw).join("\n")}`);
            const refused = registryOps.filter((op) => /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied/.test(op.errorCode));
            assert.deepEqual(refused.map((op) => op.raw), [], "the S3 server refused some of the registry's requests");
            process.stdout.write(`# ${storageName}: ${byKey(keyA)} registry requests signed with key A, ${byKey(keyB)} with key B, none refused\n`);
            if (spacesProxy !== undefined) {
                const refusedBySpaces = spacesProxy.requests().filter((r) => r.refused);
                assert.deepEqual(refusedBySpaces.map((r) => `${r.method} ${r.url.split("?")[0]}: ${r.refusal?.rule ?? ""} ${r.refusal?.code ?? ""}`), [], "the Spaces stand-in refused some of the registry's requests");
                assert.ok(spacesProxy.requests().length > 0, "no request went through the Spaces stand-in");
            }

            // Everything pushed, in either key's time, pulls back intact.
            for (const pushed of load.pushed) {
                const manifest = await request(`${front()}/v2/${pushed.repository}/manifests/${pushed.tag}`, { ca: certs.caCertPem, basicAuth: ci, headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
                assert.equal(manifest.digest, pushed.manifestDigest, `${pushed.tag}: manifest`);
                for (const digest of [pushed.configDigest, pushed.layerDigest]) {
                    const redirect = await request(`${front()}/v2/${pushed.repository}/blobs/${digest}`, { ca: certs.caCertPem, basicAuth: ci, maxBodyBytes: 0 });
                    assert.equal(redirect.status, 307, `${pushed.tag}: blob ${digest}`);
                    assert.equal((await request(String(redirect.headers.location), { maxBodyBytes: 0 })).digest, digest, `${pushed.tag}: blob ${digest}`);
                }
            }
        });

        test(`${check}b) new passwords: the old ones get 401, the new ones work with their roles, and the front was reloaded in place`, async () => {
            const frontBefore = await containerId(host.frontContainerName);
            containerLogTexts.push(await containerLogs(host.containerName));
            const callsBefore = host.shim.calls().length;
            oldLogins.push(ci, deploy);
            const [oldCi, oldDeploy] = [ci, deploy];
            [ci, deploy] = [rotated(ci), rotated(deploy)];
            const result = await runStart(keyB);
            assert.match(result.stdout, new RegExp(`front ${host.frontContainerName} reloaded`), describeRun(result));
            assert.equal(await containerId(host.frontContainerName), frontBefore, "the front's container was replaced instead of reloaded");
            const calls = host.shim.calls().slice(callsBefore);
            assert.ok(calls.some((c) => c.startsWith(`exec ${host.frontContainerName} caddy reload `)), calls.join("\n"));
            assert.ok(!calls.some((c) => c.startsWith(`run -d --name ${host.frontContainerName} `)), calls.join("\n"));

            const get = (path: string, login: GeneratedLogin, method = "GET") => request(`${front()}${path}`, { method, ca: certs.caCertPem, basicAuth: login, headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
            for (const old of [oldCi, oldDeploy]) {
                assert.equal((await get("/v2/", old)).status, 401, `the old password of ${old.username}`);
            }
            // ci pushes with its new password (the load's steps, one image), deploy pulls it and may not push.
            const load = await RegistryLoad.start({ baseUrl: front(), ca: certs.caCertPem, login: ci, repository: "team/rotated", workers: 1, layerBytes: 4096 });
            while (load.pushed.length === 0 && load.failures().length === 0) {
                await sleep(100);
            }
            await load.stop();
            assert.deepEqual(load.failures(), [], "ci's push with the new password");
            const pushed = load.pushed[0];
            const pulled = await get(`/v2/team/rotated/manifests/${pushed.tag}`, deploy);
            assert.equal(pulled.status, 200, `deploy's pull with the new password: HTTP ${pulled.status}`);
            assert.equal(pulled.digest, pushed.manifestDigest);
            const refused = await get("/v2/team/rotated/blobs/uploads/", deploy, "POST");
            assert.equal(refused.status, 403, `deploy's push: HTTP ${refused.status} ${refused.text()}`);
        });

        test(`${check}c) no secret in the engine's argv, the script's output, the front's access log or the containers' logs`, async () => {
            assertNoSecrets(host.shim.calls().join("\n"), "the docker command lines");
            assertNoSecrets(outputs.join("\n"), "the start script's output");
            const accessLog = fs.readFileSync(last.front.accessLogFile, "utf8");
            const refusedLog = fs.readFileSync(last.front.refusedLogFile, "utf8");
            assert.match(refusedLog, /"status":401/, "the refusal log lacks the refused logins");
            assertNoSecrets(accessLog, "the front's access log");
            assertNoSecrets(refusedLog, "the front's refusal log");
            for (const name of [host.containerName, host.frontContainerName]) {
                containerLogTexts.push(await containerLogs(name));
            }
            containerLogTexts.forEach((text, i) => assertNoSecrets(text, `container log ${i}`));
        });
    });
}
