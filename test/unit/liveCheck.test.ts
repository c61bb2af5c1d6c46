import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { describeServing } from "../../components/privateRegistry";
import { explainError } from "../../scripts/liveCheck/checks";
import { parseCli, UsageError } from "../../scripts/liveCheck/cli";
import { generateTinyImage, MEDIA_TYPES, sha256Digest } from "../../scripts/liveCheck/image";
import { OutputsError, parseStackOutputs, REQUIRED_OUTPUTS, secretsOf } from "../../scripts/liveCheck/outputs";
import { describeResponse, RegistryClient } from "../../scripts/liveCheck/registryClient";
import { formatStepLine, MAX_DETAIL_CHARS, parseStepLine } from "../../scripts/liveCheck/report";
import { daysUntil } from "../../scripts/liveCheck/tls";

const PASSWORD = "Pa55w0rdPa55w0rdPa55w0rdPa55w0rd";
const CA = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", "/CN=unit CA", "-days", "1"], { encoding: "utf8" }).stdout;

/** What `pulumi stack output --json --show-secrets` prints for a private-CA deploy, trimmed to what matters. */
function outputs(overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
        registryHost: "203.0.113.7",
        registryUrl: "https://203.0.113.7",
        registryUsername: "ci",
        registryPassword: PASSWORD,
        caCertificate: CA,
        serving: describeServing({ exposure: "public", tls: "private-ca" }, "203.0.113.7"),
        bucketName: "registry-storage-1234",
        ...overrides,
    });
}

function outputsError(text: string): string {
    try {
        parseStackOutputs(text);
    } catch (error) {
        assert.ok(error instanceof OutputsError, `expected an OutputsError, got ${String(error)}`);
        return error.message;
    }
    assert.fail(`expected ${text.slice(0, 80)} to be refused`);
}

describe("live check: reading the stack outputs", () => {
    it("a private-CA deploy and a tunnel deploy", () => {
        const target = parseStackOutputs(outputs());
        assert.deepEqual({ ...target, registryUrl: target.registryUrl.href }, {
            registryHost: "203.0.113.7", registryUrl: "https://203.0.113.7/", username: "ci", password: PASSWORD, caCertificate: CA, tunnel: false, pullUsers: [],
        });
        const tunnel = parseStackOutputs(outputs({ registryHost: "localhost:5000", registryUrl: "http://localhost:5000", caCertificate: undefined, serving: describeServing({ exposure: "tunnel", tls: "none" }, "localhost:5000") }));
        assert.equal(tunnel.tunnel, true);
        assert.equal(tunnel.caCertificate, undefined);
    });

    it("takes the unrestricted pull users from registryUsers, and refuses a hidden or malformed one", () => {
        const registryUsers = {
            ci: { username: "ci", password: PASSWORD, role: "push" },
            deploy: { username: "deploy", password: "PullPa55w0rd", role: "pull" },
            team: { username: "team", password: "TeamPa55w0rd", role: "pull", repositories: ["team-a/**"] },
        };
        const target = parseStackOutputs(outputs({ registryUsers }));
        assert.deepEqual(target.pullUsers, [{ username: "deploy", password: "PullPa55w0rd" }], "the push user and a limited one are not the roles step's");
        const secrets = secretsOf(target);
        assert.ok(secrets.includes("PullPa55w0rd") && secrets.includes(Buffer.from("deploy:PullPa55w0rd").toString("base64")), "the pull user's password is redacted too");
        assert.match(outputsError(outputs({ registryUsers: "[secret]" })), /registryUsers is hidden/);
        assert.match(outputsError(outputs({ registryUsers: { deploy: { username: "deploy" } } })), /registryUsers\.deploy must hold a username, password and role/);
    });

    it("names every missing required key, and what the outputs do hold", () => {
        assert.match(outputsError(outputs({ registryPassword: undefined })), /^missing registryPassword \(the outputs hold bucketName, caCertificate, registryHost, /);
        const none = outputsError("{}");
        assert.match(none, new RegExp(`^missing ${REQUIRED_OUTPUTS.join(", ")} \\(the outputs hold nothing;`));
        // null and "" are as good as absent.
        assert.match(outputsError(outputs({ registryHost: null, registryUsername: "" })), /^missing registryHost, registryUsername /);
    });

    it("wrong types, a hidden secret, and a URL that is not the host are refused with the reason", () => {
        assert.match(outputsError(outputs({ registryHost: 42, caCertificate: ["x"] })), /registryHost must be a string; got number; caCertificate must be a string; got an array/);
        assert.match(outputsError(outputs({ registryPassword: "[secret]" })), /registryPassword is hidden as "\[secret\]": run `pulumi stack output --json --show-secrets`/);
        assert.match(outputsError(outputs({ registryUrl: "https://198.51.100.1" })), /does not point at registryHost 203\.0\.113\.7/);
        assert.match(outputsError(outputs({ registryUrl: "ftp://203.0.113.7" })), /must be https:\/\//);
        assert.match(outputsError(outputs({ registryUrl: "http://203.0.113.7" })), /plain HTTP to another machine/);
        assert.match(outputsError(outputs({ registryUrl: "https://203.0.113.7/v2/" })), /bare origin/);
        const withLogin = outputsError(outputs({ registryUrl: `https://ci:${PASSWORD}@203.0.113.7` }));
        assert.match(withLogin, /must not carry credentials/);
        assert.ok(!withLogin.includes(PASSWORD), withLogin);
        assert.match(outputsError(outputs({ caCertificate: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n" })), /caCertificate is not a PEM certificate/);
    });

    it("a first `up` still waiting for DNS is reported as unfinished", () => {
        const serving = describeServing({ exposure: "public", tls: "letsencrypt" }, "registry.example.com", "203.0.113.7");
        const message = outputsError(outputs({ registryHost: "registry.example.com", registryUrl: "https://registry.example.com", caCertificate: undefined, serving }));
        assert.match(message, /^the deploy is not finished: waiting for DNS: create an A record registry\.example\.com -> 203\.0\.113\.7/);
    });

    it("text that is not a JSON object never has its content quoted (it may be the password)", () => {
        for (const text of [`{"registryPassword": "${PASSWORD}"`, `"${PASSWORD}"`, `[${JSON.stringify(PASSWORD)}]`, `registryPassword=${PASSWORD}`]) {
            const message = outputsError(text);
            assert.ok(!message.includes(PASSWORD.slice(0, 8)), `quoted the input: ${message}`);
        }
        assert.match(outputsError(""), /got nothing$/);
        assert.match(outputsError(`"${PASSWORD}"`), /got a string \(ask for all outputs, not one\)/);
    });
});

describe("live check: the tiny image", () => {
    it("every digest is the sha256 of its bytes, and the manifest and config reference them", () => {
        assert.equal(sha256Digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        const image = generateTinyImage();
        for (const blob of [image.layer, image.config, image.manifest]) {
            assert.equal(blob.digest, `sha256:${createHash("sha256").update(blob.bytes).digest("hex")}`);
            assert.equal(blob.size, blob.bytes.length);
        }
        const manifest = JSON.parse(image.manifest.bytes.toString("utf8"));
        assert.equal(manifest.mediaType, MEDIA_TYPES.manifest);
        assert.deepEqual(manifest.config, { mediaType: MEDIA_TYPES.config, digest: image.config.digest, size: image.config.size });
        assert.deepEqual(manifest.layers, [{ mediaType: MEDIA_TYPES.layerTar, digest: image.layer.digest, size: image.layer.size }]);
        assert.deepEqual(JSON.parse(image.config.bytes.toString("utf8")).rootfs, { type: "layers", diff_ids: [image.layer.digest] });
        assert.deepEqual(image.blobs, [image.layer, image.config]);
    });

    it("is new on every run and the same for the same payload", () => {
        assert.notEqual(generateTinyImage().manifest.digest, generateTinyImage().manifest.digest);
        const payload = Buffer.alloc(700, 7);
        assert.equal(generateTinyImage({ payload }).manifest.digest, generateTinyImage({ payload }).manifest.digest);
    });

    it("the layer is a tar that GNU tar reads back byte for byte", () => {
        const payload = Buffer.from("live check payload\n".repeat(40));
        const dir = mkdtempSync(join(tmpdir(), "live-check-layer-"));
        try {
            writeFileSync(join(dir, "layer.tar"), generateTinyImage({ payload }).layer.bytes);
            const listing = spawnSync("tar", ["-tvf", join(dir, "layer.tar")], { encoding: "utf8" });
            assert.equal(listing.status, 0, listing.stderr);
            assert.match(listing.stdout, new RegExp(`^-rw-r--r-- 0/0 +${payload.length} .* live-check/payload\\.bin\\n$`));
            const extracted = spawnSync("tar", ["-xOf", join(dir, "layer.tar")]);
            assert.deepEqual(extracted.stdout, payload);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("live check: one line per step", () => {
    it("ok and FAIL lines, squeezed onto one line, cost appended", () => {
        assert.equal(formatStepLine({ step: "auth", ok: true, detail: "fine", cost: "2 requests, 9 ms" }), "ok   auth: fine (2 requests, 9 ms)");
        assert.equal(formatStepLine({ step: "storage", ok: false, detail: "HTTP 500\n  s3aws:\tbroken " }), "FAIL storage: HTTP 500 s3aws: broken");
    });

    it("a long reason is cut, but the cost stays", () => {
        const line = formatStepLine({ step: "push", ok: false, detail: "x".repeat(1000), cost: "1 request, 3 ms" });
        assert.ok(line.endsWith("x… (1 request, 3 ms)"), line);
        assert.equal(line.length, "FAIL push: ".length + MAX_DETAIL_CHARS + " (1 request, 3 ms)".length);
    });

    it("secrets are replaced, even one the cut would have split", () => {
        const secrets = secretsOf({ username: "ci", password: PASSWORD });
        assert.equal(secrets[1], Buffer.from(`ci:${PASSWORD}`).toString("base64"));
        const line = formatStepLine({ step: "auth", ok: false, detail: `echoed ${PASSWORD} and Basic ${secrets[1]}` }, secrets);
        assert.equal(line, "FAIL auth: echoed *** and Basic ***");
        const straddling = formatStepLine({ step: "auth", ok: false, detail: `${"y".repeat(MAX_DETAIL_CHARS - 10)}${PASSWORD}` }, secrets);
        assert.ok(!straddling.includes(PASSWORD.slice(0, 9)), straddling);
    });

    it("lines parse back; anything else does not", () => {
        assert.deepEqual(parseStepLine("ok   pull: 2 blobs (6 requests, 20 ms)"), { ok: true, step: "pull", detail: "2 blobs (6 requests, 20 ms)" });
        assert.deepEqual(parseStepLine("FAIL outputs: missing registryHost"), { ok: false, step: "outputs", detail: "missing registryHost" });
        for (const line of ["ok  pull: two spaces", "FAIL nonsense: step", "warning: something", ""]) {
            assert.equal(parseStepLine(line), undefined, line);
        }
    });

    it("registry errors, other bodies and thrown errors read as one reason", () => {
        const body = JSON.stringify({ errors: [{ code: "UNKNOWN", message: "unknown error", detail: "s3aws: SignatureDoesNotMatch" }, { code: "UNAUTHORIZED", message: "authentication required", detail: null }] });
        assert.equal(describeResponse({ status: 500, body: Buffer.from(body) }), "HTTP 500 UNKNOWN: unknown error: s3aws: SignatureDoesNotMatch; UNAUTHORIZED: authentication required");
        assert.equal(describeResponse({ status: 502, body: Buffer.from("<html>\n<b>Bad gateway</b>\n</html>") }), "HTTP 502 <html> <b>Bad gateway</b> </html>");
        assert.equal(describeResponse({ status: 404, body: Buffer.alloc(0) }), "HTTP 404");
        const refused = Object.assign(new Error("GET /v2/: connect ECONNREFUSED 127.0.0.1:5000"), { code: "ECONNREFUSED" });
        assert.match(explainError(refused, { tunnel: true }), /^GET \/v2\/: connect ECONNREFUSED 127\.0\.0\.1:5000 \(is the SSH tunnel open\?/);
        assert.equal(explainError(Object.assign(new Error("certificate has expired"), { code: "CERT_HAS_EXPIRED" }), { tunnel: false }), "CERT_HAS_EXPIRED: certificate has expired");
    });

    it("days until expiry", () => {
        assert.equal(daysUntil("Jan 15 00:00:00 2030 GMT", new Date("2030-01-01T00:00:00Z")), 14);
        assert.ok(daysUntil("Jan 1 00:00:00 2020 GMT", new Date("2020-01-02T00:00:00Z")) < 0);
        assert.throws(() => daysUntil("soon"), /cannot read the certificate's expiry/);
    });
});

describe("live check: flags", () => {
    it("defaults and overrides", () => {
        assert.deepEqual(parseCli([]), { help: false, stack: undefined, minDays: 14, timeoutMs: 30_000, repository: undefined });
        assert.deepEqual(parseCli(["--stack", "prod", "--min-days", "0", "--timeout-seconds", "2.5", "--repository", "ci/live-check"]), {
            help: false, stack: "prod", minDays: 0, timeoutMs: 2500, repository: "ci/live-check",
        });
    });

    it("bad flags are usage errors naming the flag", () => {
        for (const [args, pattern] of [
            [["--min-days", "two"], /--min-days must be a number of at least 0; got "two"/],
            [["--timeout-seconds", "0"], /--timeout-seconds must be a number of at least 1/],
            [["--repository", "Live/Check"], /--repository must be a repository name/],
            [["--stak", "prod"], /Unknown option '--stak'/],
            [["prod"], /Unexpected argument 'prod'/],
        ] as const) {
            assert.throws(() => parseCli([...args]), (error: Error) => error instanceof UsageError && pattern.test(error.message), args.join(" "));
        }
    });
});

describe("live check: redirects leave the registry's login behind", () => {
    const seen: { server: string; authorization?: string; url?: string }[] = [];
    let registry: http.Server;
    let storage: http.Server;
    const listen = (server: http.Server) => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));

    before(async () => {
        storage = http.createServer((req, res) => {
            seen.push({ server: "storage", authorization: req.headers.authorization, url: req.url });
            res.end("blob bytes");
        });
        const storagePort = await listen(storage);
        registry = http.createServer((req, res) => {
            seen.push({ server: "registry", authorization: req.headers.authorization });
            res.writeHead(307, { Location: `http://127.0.0.1:${storagePort}/bucket/blob?X-Amz-Signature=abc` }).end();
        });
        await listen(registry);
    });

    after(() => {
        registry.close();
        storage.close();
    });

    it("the registry gets Basic auth, the presigned URL none", async () => {
        const client = new RegistryClient({ baseUrl: new URL(`http://127.0.0.1:${(registry.address() as AddressInfo).port}`), username: "ci", password: PASSWORD, timeoutMs: 5000 });
        try {
            const res = await client.call("/v2/team/app/blobs/sha256:00", { followRedirects: true });
            assert.equal(res.body.toString(), "blob bytes");
            assert.equal(res.redirects, 1);
            assert.equal(client.requestCount, 2);
        } finally {
            client.close();
        }
        assert.deepEqual(seen, [
            { server: "registry", authorization: `Basic ${Buffer.from(`ci:${PASSWORD}`).toString("base64")}` },
            { server: "storage", authorization: undefined, url: "/bucket/blob?X-Amz-Signature=abc" },
        ]);
    });
});
