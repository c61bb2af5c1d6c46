/**
 * Check 11: the live check CI runs after `pulumi up` (scripts/live-check.ts), against the real
 * front and registry binaries (the program's rendered configs) and S3 stand-in on 127.0.0.1. It is fed the stack outputs as `pulumi stack
 * output --json --show-secrets` prints them, and must pass every step on a healthy registry, fail
 * at the right step with a reason that names the cause on broken ones, and never print a secret.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { renderDockerConfigJson } from "../../components/outputs";
import { describeServing } from "../../components/privateRegistry";
import { registryImageReference, REGISTRY_VERSION } from "../../components/versions";
import { runLiveCheck } from "../../scripts/liveCheck/checks";
import { parseStackOutputs, REQUIRED_OUTPUTS } from "../../scripts/liveCheck/outputs";
import { parseStepLine, type StepResult } from "../../scripts/liveCheck/report";
import { generateTestCertificates, LOOPBACK, REGISTRY_S3_USER_AGENT, REPO_ROOT, startFrontedRegistry, startStack } from "../harness";
import type { FrontedRegistry, FrontUserSpec, RunResult, Stack } from "../harness";

/** The rehearsal's certificates live 2 days; the default threshold (14) is for real deploys. */
const MIN_DAYS = ["--min-days", "1"];
const RUN_TIMEOUT_MS = 60_000;
const ALL_OK = ["ok tls", "ok auth", "ok storage", "ok push", "ok pull", "ok roles", "ok delete"];
/** Stands in for the SSH deploy key, a secret output the check must not print either. */
const FAKE_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAfakefakefake\n-----END OPENSSH PRIVATE KEY-----\n";

/** The program's default users: a push user and a pull user. */
const DEFAULT_USERS: FrontUserSpec[] = [
    { name: "ci", role: "push" },
    { name: "deploy", role: "pull" },
];

/** `ok tls`, `FAIL storage`, ...: which steps ran, and how they ended. */
const verdicts = (result: { steps: StepResult[] }) => result.steps.map((s) => `${s.ok ? "ok" : "FAIL"} ${s.step}`);

describe("the live check (scripts/live-check.ts) against the rehearsal registry", () => {
    let stack: Stack;

    before(async () => {
        stack = await startStack({ name: "rehearsal-live-check", users: DEFAULT_USERS });
    });

    after(async () => {
        await stack?.stop();
    });

    /** Every output `pulumi stack output --json --show-secrets` prints for a private-CA deploy, for this registry. */
    function stackOutputs(registry: FrontedRegistry, overrides: Record<string, unknown> = {}): Record<string, unknown> {
        const { username, password } = registry.login;
        return {
            bucketName: stack.s3Target.bucket,
            bucketRegion: stack.s3Target.region,
            caCertificate: stack.certs.caCertPem,
            dockerConfigJson: renderDockerConfigJson(registry.host, username, password),
            dropletIp: LOOPBACK,
            estimatedMonthlyCostUsd: 8.42,
            registryHost: registry.host,
            registryImage: registryImageReference(REGISTRY_VERSION),
            registryPassword: password,
            registryUrl: registry.url,
            registryUsername: username,
            registryUsers: Object.fromEntries(
                Object.values(registry.users).map((u) => [u.username, { username: u.username, password: u.password, role: u.role, ...(u.repositories ? { repositories: u.repositories } : {}) }]),
            ),
            serving: describeServing({ exposure: "public", tls: "private-ca" }, registry.host),
            sshHostPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTheRehearsal root@registry",
            sshPrivateKey: FAKE_SSH_KEY,
            ...overrides,
        };
    }

    async function liveCheck(outputs: unknown, args: string[] = MIN_DAYS, env: NodeJS.ProcessEnv = process.env): Promise<RunResult & { steps: StepResult[] }> {
        const result = await stack.tracker.run(process.execPath, ["--import", "tsx", "scripts/live-check.ts", ...args], {
            cwd: REPO_ROOT,
            env,
            input: typeof outputs === "string" ? outputs : JSON.stringify(outputs, null, 2),
            timeoutMs: RUN_TIMEOUT_MS,
        });
        assert.equal(result.timedOut, false, `the live check did not finish within ${RUN_TIMEOUT_MS} ms:\n${result.stdout}`);
        const lines = result.stdout.split("\n").filter((line) => line !== "");
        const steps = lines.map((line) => parseStepLine(line) ?? assert.fail(`not a step line: ${JSON.stringify(line)}`));
        process.stdout.write(`# live check exited ${result.code} after ${result.durationMs} ms:\n${lines.map((l) => `#   ${l}`).join("\n")}\n`);
        return { ...result, steps };
    }

    /** No secret output, nor the Basic credential made from the password, anywhere in what the tool printed. */
    function assertNoSecretPrinted(result: RunResult, outputs: Record<string, unknown>): void {
        const printed = `${result.stdout}\n${result.stderr}`;
        const { registryUsername, registryPassword } = outputs as { registryUsername: string; registryPassword: string };
        const users = Object.values((outputs.registryUsers ?? {}) as Record<string, { username: string; password: string }>);
        const secrets = {
            registryPassword,
            "Basic credential": Buffer.from(`${registryUsername}:${registryPassword}`).toString("base64"),
            ...Object.fromEntries(users.map((u) => [`${u.username}'s password`, u.password])),
            dockerConfigJson: String(outputs.dockerConfigJson),
            sshPrivateKey: FAKE_SSH_KEY.split("\n")[1],
        };
        for (const [name, secret] of Object.entries(secrets)) {
            assert.ok(!printed.includes(secret), `the live check printed ${name}`);
        }
    }

    test("11a) a healthy registry: every step ok, exit 0; the image is gone afterwards; no secret printed", { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
        const { registry, s3 } = stack;
        const outputs = stackOutputs(registry);
        const opsBefore = s3.operationCount();
        const result = await liveCheck(outputs);
        assert.equal(result.code, 0, `live check failed:\n${result.stdout}${result.stderr}\n--- registry log ---\n${registry.logTail(20)}`);
        assert.deepEqual(verdicts(result), ALL_OK);
        assert.equal(result.stderr, "");
        assertNoSecretPrinted(result, outputs);

        assert.match(result.steps[0].detail, /verifies against the caCertificate output/);
        const pushed = /pushed (live-check\/[0-9a-f]{12}):probe /.exec(result.steps[3].detail);
        assert.ok(pushed !== null, `push line names no scratch repository: ${result.steps[3].detail}`);
        // The program redirects pulls to S3: the blobs came from the S3 server, fetched with the presigned URL alone.
        assert.match(result.steps[4].detail, new RegExp(`served by ${new URL(s3.endpoint).host.replace(/\./g, "\\.")}\\)`));
        const ops = s3.operations({ since: opsBefore });
        assert.ok(ops.some((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent) && /PutObject|UploadPart/.test(op.operation)), "the registry wrote nothing to S3 during the push");
        const notRegistry = ops.filter((op) => !REGISTRY_S3_USER_AGENT.test(op.userAgent));
        assert.deepEqual(notRegistry.map((op) => `${op.operation} ${op.status} ${op.userAgent}`), [1, 2].map(() => "GetObject 200 registry-live-check/1"), "the check's own S3 requests: the 2 blob pulls by presigned URL");

        // Independently of the tool: nothing of the run is left in the repository listing.
        const catalog = await registry.get("/v2/_catalog");
        assert.deepEqual(catalog.json<{ repositories: string[] }>().repositories, [], `${pushed[1]} was left behind`);
    });

    test("11b) the same modules in-process: 20 HTTP requests, 2 of them to S3", { timeout: 30_000 }, async () => {
        const lines: string[] = [];
        const run = await runLiveCheck(parseStackOutputs(JSON.stringify(stackOutputs(stack.registry))), { minDays: 1, timeoutMs: 10_000 }, (line) => lines.push(line));
        assert.equal(run.ok, true, lines.join("\n"));
        // auth 2, storage 1, push 2x(POST+PUT)+manifest, pull 2 manifests + 2 blobs + 2 redirects,
        // roles 1 manifest + 1 refused upload, delete 1+2+1.
        assert.equal(run.requests, 20, lines.join("\n"));
        process.stdout.write(`# one in-process run: ${run.requests} HTTP requests (+1 TLS probe) in ${run.durationMs} ms\n`);
    });

    test("11i) a pull user the front lets push: FAIL roles, and the image is still deleted", { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
        // The outputs call the push user a pull user: the live front lets it start an upload.
        const { username, password } = stack.registry.login;
        const outputs = stackOutputs(stack.registry, { registryUsers: { [username]: { username, password, role: "pull" } } });
        const result = await liveCheck(outputs);
        assert.equal(result.code, 1);
        assert.deepEqual(verdicts(result), ["ok tls", "ok auth", "ok storage", "ok push", "ok pull", "FAIL roles", "ok delete"]);
        assert.match(result.steps[5].detail, /pull user ci: POST \/v2\/live-check\/[0-9a-f]+\/blobs\/uploads\/ answered HTTP 202.*want 403/);
        const roles = (await liveCheck(stackOutputs(stack.registry))).steps.find((s) => s.step === "roles");
        assert.match(roles?.detail ?? "", /^pull user deploy: the manifest pulls, an upload is refused with 403/);
        assertNoSecretPrinted(result, outputs);
    });

    test("11c) a certificate expiring before --min-days: FAIL tls, and nothing else runs", { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
        const result = await liveCheck(stackOutputs(stack.registry), ["--min-days", "30"]);
        assert.equal(result.code, 1);
        assert.deepEqual(verdicts(result), ["FAIL tls"]);
        assert.match(result.steps[0].detail, /expires in [01] days? .*under --min-days 30/);
    });

    test("11d) a caCertificate that did not sign the certificate, or a wrong password: FAIL at tls, at auth", { timeout: 2 * RUN_TIMEOUT_MS + 30_000 }, async () => {
        const other = await generateTestCertificates(stack.tracker, stack.tmp.join("other-ca"));
        const otherCa = await liveCheck(stackOutputs(stack.registry, { caCertificate: other.caCertPem }));
        assert.equal(otherCa.code, 1);
        assert.deepEqual(verdicts(otherCa), ["FAIL tls"]);
        assert.match(otherCa.stdout, /^FAIL tls: .*UNABLE_TO_VERIFY_LEAF_SIGNATURE.*against the caCertificate output/m);

        const wrong = stackOutputs(stack.registry, { registryPassword: `${stack.registry.login.password}x` });
        const result = await liveCheck(wrong);
        assert.equal(result.code, 1);
        assert.deepEqual(verdicts(result), ["ok tls", "FAIL auth"]);
        // The front answers a wrong login itself, with no registry error body after the status.
        assert.match(result.steps[1].detail, /HTTP 401\b.*refuses registryUsername\/registryPassword/);
        assertNoSecretPrinted(result, wrong);
    });

    test("11e) broken S3 credentials: FAIL storage with the S3 error, exit 1, nothing pushed; no secret printed", { timeout: RUN_TIMEOUT_MS + 30_000 }, async () => {
        // As in 05-broken-inputs: the program's config, signing with a wrong secret key.
        const broken = await startFrontedRegistry(stack.tracker, {
            dir: stack.tmp.join("registry-broken-s3"),
            s3: { ...stack.s3Target, secretKey: "definitely-not-the-secret" },
            certs: stack.certs,
            waitFor: "listening",
        });
        try {
            const outputs = stackOutputs(broken);
            // Right after start: /v2/ does not touch storage (the health check needs 90 s to trip), _catalog does.
            const result = await liveCheck(outputs);
            assert.notEqual(result.code, 0, "the live check passed against a registry that cannot reach its bucket");
            assert.equal(result.code, 1);
            assert.deepEqual(verdicts(result), ["ok tls", "ok auth", "FAIL storage"]);
            const reason = result.steps[2].detail;
            assert.match(reason, /cannot list its S3 storage/);
            assert.match(reason, /_catalog\?n=1 answered HTTP 500/);
            assert.match(reason, /SignatureDoesNotMatch/);
            assertNoSecretPrinted(result, outputs);
        } finally {
            await broken.close();
        }
    });

    test("11f) tunnel mode (plain HTTP on loopback, as the program renders it): TLS skipped, the rest ok", { timeout: RUN_TIMEOUT_MS + 30_000 }, async () => {
        // The program's tunnel deploy: the front serves plain HTTP on loopback, in front of the registry.
        const plain = await startFrontedRegistry(stack.tracker, { dir: stack.tmp.join("registry-tunnel"), s3: stack.s3Target, certs: stack.certs, tls: "none", users: DEFAULT_USERS });
        try {
            assert.equal(plain.front.input.tls.kind, "none", "the program's tunnel front");
            // 127.0.0.1 rather than the program's localhost:5000, to keep every connection on IPv4 loopback.
            const host = `${LOOPBACK}:${plain.port}`;
            const outputs = stackOutputs(plain, { registryHost: host, registryUrl: `http://${host}`, caCertificate: undefined, serving: describeServing({ exposure: "tunnel", tls: "none" }, host) });
            const result = await liveCheck(outputs);
            assert.equal(result.code, 0, result.stdout);
            assert.deepEqual(verdicts(result), ALL_OK);
            assert.match(result.steps[0].detail, /^skipped: .*plain HTTP through the SSH tunnel/);
            assertNoSecretPrinted(result, outputs);
        } finally {
            await plain.close();
        }
    });

    test("11g) unusable outputs: FAIL outputs naming each missing key, exit 2", { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
        const outputs = stackOutputs(stack.registry);
        for (const key of REQUIRED_OUTPUTS) {
            delete outputs[key];
        }
        const result = await liveCheck(outputs);
        assert.equal(result.code, 2);
        assert.deepEqual(verdicts(result), ["FAIL outputs"]);
        assert.match(result.stdout, new RegExp(`^FAIL outputs: missing ${REQUIRED_OUTPUTS.join(", ")} `, "m"));
    });

    test("11h) --stack NAME runs `pulumi stack output --json --show-secrets --stack NAME` itself; a failing pulumi is FAIL outputs", { timeout: 2 * RUN_TIMEOUT_MS + 10_000 }, async () => {
        // A stand-in pulumi first on PATH: answers only the exact command line the check must use.
        const bin = stack.tmp.join("fake-pulumi-bin");
        const outputsFile = stack.tmp.join("outputs.json");
        fs.mkdirSync(bin, { recursive: true });
        const outputs = stackOutputs(stack.registry);
        fs.writeFileSync(outputsFile, JSON.stringify(outputs, null, 4), { mode: 0o600 });
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            `#!/bin/sh\nif [ "$*" = "stack output --json --show-secrets --stack rehearsal" ]; then cat '${outputsFile}'; exit 0; fi\necho "error: no stack named '$6' found" >&2\nexit 255\n`,
            { mode: 0o755 },
        );
        const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };

        const result = await liveCheck("", ["--stack", "rehearsal", ...MIN_DAYS], env);
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.deepEqual(verdicts(result), ALL_OK);
        assertNoSecretPrinted(result, outputs);

        const missing = await liveCheck("", ["--stack", "nope"], env);
        assert.equal(missing.code, 2);
        assert.match(missing.stdout, /^FAIL outputs: `pulumi stack output --stack nope` exited with 255: error: no stack named 'nope' found$/m);
    });
});
