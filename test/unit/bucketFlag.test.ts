import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, IncomingMessage } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BUCKET_FLAG_PREFIX, renderBucketFlagProgram, renderBucketFlagSettings } from "../../components/render/bucketFlag";
import { spacesStorageConfig } from "../../components/render/spaces";

/**
 * bucket-flag run for real against a local server that checks each request's SigV4 signature
 * the way S3 does, recomputed here from the request as received. Check 21 runs it against the
 * stand-in S3 on the twins, in the virtual-hosted style AWS uses; this covers Spaces' path style.
 */

const ACCESS = "AKIDEXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

function hmac(key: Buffer | string, text: string): Buffer {
    return createHmac("sha256", key).update(text, "utf8").digest();
}

/** The signature S3 expects for this request (the AWS SigV4 header-based algorithm). */
function expectedSignature(req: IncomingMessage, body: Buffer, region: string): { ok: boolean; why: string } {
    const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? "");
    if (auth === null) return { ok: false, why: `authorization ${req.headers.authorization}` };
    const [, access, day, scopeRegion, signedHeaders, signature] = auth;
    const payloadHash = createHash("sha256").update(body).digest("hex");
    if (req.headers["x-amz-content-sha256"] !== payloadHash) return { ok: false, why: "x-amz-content-sha256 is not the body's hash" };
    const names = signedHeaders.split(";");
    if (!["host", "x-amz-content-sha256", "x-amz-date"].every((h) => names.includes(h))) return { ok: false, why: `signed headers ${signedHeaders}` };
    const canonical = [req.method, req.url ?? "", "", names.map((h) => `${h}:${String(req.headers[h]).trim()}\n`).join(""), signedHeaders, payloadHash].join("\n");
    const scope = `${day}/${scopeRegion}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", String(req.headers["x-amz-date"]), scope, createHash("sha256").update(canonical).digest("hex")].join("\n");
    const key = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, day), scopeRegion), "s3"), "aws4_request");
    const wanted = createHmac("sha256", key).update(toSign).digest("hex");
    if (access !== ACCESS || scopeRegion !== region) return { ok: false, why: `credential ${access}/${scopeRegion}` };
    return wanted === signature ? { ok: true, why: "" } : { ok: false, why: "SignatureDoesNotMatch" };
}

function runProgram(program: string, args: string[], input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("python3", [program, ...args], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.stdin.end(input);
    });
}

describe("bucket-flag", () => {
    it("takes the registry's own endpoint, bucket, style and key, under its root directory when it has one", () => {
        const aws = JSON.parse(
            renderBucketFlagSettings({ kind: "s3", region: "eu-central-1", bucket: "b", accessKey: ACCESS, secretKey: SECRET, regionEndpoint: "https://s3.eu-central-1.amazonaws.com", chunkSizeBytes: 10, rootDirectory: "/team/" }),
        );
        assert.deepEqual(aws, { endpoint: "https://s3.eu-central-1.amazonaws.com", region: "eu-central-1", bucket: "b", pathStyle: false, prefix: `team/${BUCKET_FLAG_PREFIX}`, accessKey: ACCESS, secretKey: SECRET });
        const spaces = JSON.parse(renderBucketFlagSettings(spacesStorageConfig({ region: "fra1", bucket: "b", accessKey: ACCESS, secretKey: SECRET, chunkSizeBytes: 10 })));
        assert.equal(spaces.endpoint, "https://fra1.digitaloceanspaces.com");
        assert.equal(spaces.pathStyle, true);
        assert.equal(spaces.prefix, BUCKET_FLAG_PREFIX);
    });

    it("puts, gets and deletes path-style objects, each request signed as S3 checks it; refuses bad names; says what S3 answered", async () => {
        const objects = new Map<string, Buffer>();
        const seen: string[] = [];
        const server = createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                const body = Buffer.concat(chunks);
                const verdict = expectedSignature(req, body, "fra1");
                seen.push(`${req.method} ${req.headers.host} ${req.url}`);
                if (!verdict.ok) {
                    res.writeHead(403).end(`<Error><Code>SignatureDoesNotMatch</Code><Message>${verdict.why}</Message></Error>`);
                    return;
                }
                const key = req.url ?? "";
                if (req.method === "PUT") objects.set(key, body);
                if (req.method === "DELETE") objects.delete(key);
                if (req.method === "GET" && !objects.has(key)) {
                    res.writeHead(404).end("<Error><Code>NoSuchKey</Code></Error>");
                    return;
                }
                res.writeHead(req.method === "DELETE" ? 204 : 200).end(req.method === "GET" ? objects.get(key) : undefined);
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        try {
            const port = (server.address() as AddressInfo).port;
            const dir = mkdtempSync(join(tmpdir(), "bucket-flag-"));
            const program = join(dir, "bucket-flag");
            writeFileSync(program, renderBucketFlagProgram());
            const settings = { endpoint: `http://127.0.0.1:${port}`, region: "fra1", bucket: "team-bucket", pathStyle: true, prefix: BUCKET_FLAG_PREFIX, accessKey: ACCESS, secretKey: SECRET };
            writeFileSync(join(dir, "bucket.json"), JSON.stringify(settings));
            writeFileSync(join(dir, "wrong.json"), JSON.stringify({ ...settings, secretKey: `${SECRET}x` }));
            const flag = (args: string[], input = "", file = "bucket.json") => runProgram(program, [join(dir, file), ...args], input);

            assert.equal((await flag(["get", "window"])).status, 3, "an absent flag");
            const put = await flag(["put", "window"], "1700000000-42");
            assert.equal(put.status, 0, put.stderr);
            const got = await flag(["get", "window"]);
            assert.deepEqual([got.status, got.stdout], [0, "1700000000-42"], got.stderr);
            assert.equal((await flag(["delete", "window"])).status, 0);
            assert.equal((await flag(["get", "window"])).status, 3, "the flag is gone");
            assert.deepEqual(seen.slice(0, 2), [`GET 127.0.0.1:${port} /team-bucket/${BUCKET_FLAG_PREFIX}window`, `PUT 127.0.0.1:${port} /team-bucket/${BUCKET_FLAG_PREFIX}window`]);

            const wrong = await flag(["put", "window"], "x", "wrong.json");
            assert.equal(wrong.status, 1);
            assert.equal(wrong.stderr.trim(), "bucket-flag: put window: HTTP 403 SignatureDoesNotMatch");
            const bad = await flag(["put", "../escape"], "x");
            assert.equal(bad.status, 2, "a name outside the flags' alphabet");
        } finally {
            server.close();
        }
    });
});
