/**
 * Check 5: broken inputs fail loudly.
 *  - Wrong S3 credentials (or a missing bucket): the storage health check the program enables
 *    turns /debug/health, /v2/ and the front's uptime target `/` into 503 naming the S3 error,
 *    and pushes are refused; not a registry that looks fine and loses data.
 *  - A missing (or non-bcrypt) htpasswd: the program's rendered start script refuses to start
 *    anything, because the registry itself would invent a user (shown here with the real binary).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { deploymentParts, renderDeployment } from "../../components/render/deployment";
import { renderStartScript, renderStdinBundle } from "../../components/render/scripts";
import { STORAGE_HEALTH_INTERVAL_SECONDS } from "../../components/render/registryConfig";
import { buildOciImage, dockerRef, generateLogin, LocalRegistry, programDeploymentInput, makeTempDir, ociRef, startFrontedRegistry, startStack, waitUntil } from "../harness";
import type { OciImage, Stack, TempDir } from "../harness";
import { assertFailedWith, MB } from "./support";

/** When the program's storage health check trips: interval x threshold (3). */
const healthTripMs = STORAGE_HEALTH_INTERVAL_SECONDS * 3 * 1000;

describe("broken inputs", () => {
    let stack: Stack;
    let work: TempDir;
    let image: OciImage;

    before(async () => {
        stack = await startStack({ name: "rehearsal-broken" });
        work = makeTempDir("rehearsal-broken-work");
        image = await buildOciImage(work.join("source"), { layerSizes: [1 * MB], tag: "v1" });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("5a) wrong S3 credentials or a missing bucket: /debug/health, /v2/ and the uptime target turn 503 naming the S3 error; pushes are refused", async () => {
        const cases = [
            { label: "wrong secret key", change: { secretKey: "definitely-not-the-secret" }, error: /SignatureDoesNotMatch/ },
            // AWS answers InvalidAccessKeyId; versitygw v1.8.0 answers XAdminUserNotFound (404).
            { label: "unknown access key", change: { accessKey: "AKIDOESNOTEXIST0000" }, error: /InvalidAccessKeyId|XAdminUserNotFound/ },
            { label: "missing bucket", change: { bucket: "no-such-bucket-here" }, error: /NoSuchBucket/ },
        ];
        // All three at once: the health check needs interval x threshold (30 s x 3) to trip.
        await Promise.all(
            cases.map(async ({ label, change, error }, index) => {
                const started = Date.now();
                const registry = await startFrontedRegistry(stack.tracker, {
                    dir: stack.tmp.join(`broken-${index}`),
                    s3: { ...stack.s3Target, ...change },
                    certs: stack.certs,
                    waitFor: "listening",
                });
                // At once: /v2/ does not touch storage, but listing the catalog does (the start script relies on this).
                const catalog = await registry.get("/v2/_catalog?n=1");
                assert.equal(catalog.status, 500, `${label}: _catalog right after start: HTTP ${catalog.status}, want 500`);
                assert.match(catalog.text(), error, `${label}: the _catalog error does not carry the S3 error: ${catalog.text()}`);
                let lastAuthenticated200 = 0;
                const health = await waitUntil(
                    async () => {
                        const v2 = await registry.get("/v2/");
                        if (v2.status === 200) {
                            lastAuthenticated200 = Date.now();
                        }
                        const h = await registry.health();
                        return h.status === 503 ? { done: true, value: h.body } : { done: false, seen: `/debug/health HTTP ${h.status} ${h.body}; /v2/ HTTP ${v2.status}` };
                    },
                    { description: `/debug/health to report the broken storage (${label})`, timeoutMs: healthTripMs + 30_000, intervalMs: 500 },
                );
                assert.match(health, /storagedriver_s3/, `${label}: /debug/health does not name the storage driver: ${health}`);
                assert.match(health, error, `${label}: /debug/health does not carry the S3 error: ${health}`);
                const v2 = await registry.get("/v2/");
                assert.equal(v2.status, 503, `${label}: /v2/ with credentials: HTTP ${v2.status}, want 503`);
                // Without credentials /v2/ is the front's 401 now (it asks for a login before the
                // registry is reached); `/`, which the front passes on without one, is the
                // uptime check's view of the registry's health.
                const uptime = await registry.get("/", { auth: false });
                assert.equal(uptime.status, 503, `${label}: / without credentials: HTTP ${uptime.status}, want 503`);
                const push = await stack.skopeo.copy(ociRef(image.layoutDir, "v1"), dockerRef(registry.host, "team/app", "v1"), {
                    destCreds: registry.login,
                    destCertDir: stack.certs.certDir,
                });
                assertFailedWith(push, /503|unavailable|health/i, `${label}: push to a registry with broken storage`);
                assert.match(registry.log(), error, `${label}: the registry's log does not show the S3 error`);
                process.stdout.write(
                    `# ${label}: /v2/ answered 200 with credentials for ${((lastAuthenticated200 - started) / 1000).toFixed(1)} s before the health check tripped after ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
                );
                await registry.close();
            }),
        );
    });

    test("5b) missing or non-bcrypt htpasswd: the rendered start script refuses and runs no docker command", async () => {
        const dir = work.join("start-script");
        const stubBin = path.join(dir, "bin");
        const dockerCalls = path.join(dir, "docker-calls.log");
        fs.mkdirSync(stubBin, { recursive: true });
        // A docker that records every call and fails: the script must not get as far as calling it.
        fs.writeFileSync(path.join(stubBin, "docker"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${dockerCalls}'\nexit 1\n`, { mode: 0o755 });
        const configDir = path.join(dir, "etc-registry");
        // The program's own start script and bundle (config.yml, htpasswd, Caddyfile, TLS files,
        // health-check login), with only the host directories swapped and no systemd job.
        const login = generateLogin();
        const input = programDeploymentInput({ s3: stack.s3Target, login, httpSecret: "unused-here", certs: stack.certs });
        const script = renderStartScript({ ...deploymentParts(input).start, configDir, dataDir: path.join(dir, "data"), maintenance: undefined });
        const program = renderDeployment(input);
        const goodBundle = program.stdin;
        const config = program.configYaml;

        // The renderer itself refuses a bundle without htpasswd.
        assert.throws(() => renderStdinBundle({ files: { "config.yml": config }, healthCheckUser: login }), /htpasswd/, "renderStdinBundle accepted a bundle without htpasswd");

        const b64 = (text: string) => Buffer.from(text).toString("base64");
        const withoutHtpasswdLine = goodBundle.split("\n").filter((l) => !l.startsWith("file htpasswd ")).join("\n");
        const replaceHtpasswd = (content: string) =>
            goodBundle.split("\n").map((l) => (l.startsWith("file htpasswd ") ? `file htpasswd ${b64(content)}` : l)).join("\n");
        const cases = [
            { label: "no htpasswd in the bundle", bundle: withoutHtpasswdLine, reason: /lacks htpasswd/ },
            { label: "empty htpasswd", bundle: replaceHtpasswd(""), reason: /lacks htpasswd/ },
            { label: "apr1 (MD5) htpasswd", bundle: replaceHtpasswd(`${login.username}:$apr1$abcdefgh$0123456789abcdefghijkl\n`), reason: /no bcrypt entry/ },
            { label: "plain-text htpasswd", bundle: replaceHtpasswd(`${login.username}:${login.password}\n`), reason: /no bcrypt entry/ },
            { label: "bundle cut short", bundle: goodBundle.replace(/\nend\n$/, "\n"), reason: /cut short/ },
        ];
        for (const { label, bundle, reason } of cases) {
            const result = await stack.tracker.run("sh", ["-c", script], {
                input: bundle,
                env: { ...process.env, PATH: `${stubBin}:/usr/sbin:/usr/bin:/sbin:/bin` },
                timeoutMs: 30_000,
            });
            assertFailedWith(result, reason, `start script with ${label}`);
            const calls = fs.existsSync(dockerCalls) ? fs.readFileSync(dockerCalls, "utf8").trim() : "";
            assert.equal(calls, "", `start script with ${label} called docker before refusing:\n${calls}`);
            assert.equal(fs.existsSync(path.join(configDir, "config.yml")), false, `start script with ${label} installed config.yml anyway`);
            assert.doesNotMatch(result.stdout + result.stderr, new RegExp(login.password), `start script with ${label} printed the password`);
        }
        // Control: the good bundle gets past the checks and reaches docker (the stub then fails it).
        const good = await stack.tracker.run("sh", ["-c", script], { input: goodBundle, env: { ...process.env, PATH: `${stubBin}:/usr/sbin:/usr/bin:/sbin:/bin` } });
        assert.notEqual(good.code, 0);
        assert.match(fs.readFileSync(dockerCalls, "utf8"), /image inspect/, "control: with a good bundle the script should reach docker");
    });

    test("5c) why 5b matters: the real registry without an htpasswd file invents a user and prints its password", async () => {
        const registry = await LocalRegistry.start(stack.tracker, {
            dir: stack.tmp.join("registry-no-htpasswd"),
            s3: stack.s3Target,
            certs: stack.certs,
            omitHtpasswd: true,
            waitFor: "ready",
        });
        try {
            assert.match(registry.log(), /htpasswd is missing, provisioning with default user/, "the registry did not report inventing a user");
            assert.match(registry.log(), /password=/, "the registry did not print the invented password");
            assert.ok(fs.existsSync(registry.htpasswdFile), "the registry did not write the invented htpasswd file");
        } finally {
            await registry.stop();
        }
    });
});
