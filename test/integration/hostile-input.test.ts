/**
 * Issue 16, finding 6: malformed requests from a logged-in client. Each one, sent through the
 * real front to the real registry, must get a 4xx in the registry's error shape
 * (`{"errors":[{"code":"...","message":"..."}]}`), and neither the registry's log nor the
 * front's (Caddy's stderr and its access log) may gain an error-level line for it: an error
 * line is what an operator is paged for, and a client's mistake is not the server's. What no
 * front or registry setting can reach is a `todo` test that says why; it passes once it can.
 * Run alone: node --import tsx --test --test-reporter=spec test/integration/hostile-input.test.ts
 */
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import { basicAuthorization, LocalFront, openRawConnection, type FrontLogin } from "../harness/front";
import { buildOciImage, type OciImage } from "../harness/oci";
import { dockerRef, ociRef } from "../harness/skopeo";
import { startStack, type Stack } from "../harness/stack";
import { makeTempDir, type TempDir } from "../harness/tools";
import { sleep } from "../harness/wait";
import { assertSucceeded } from "./support";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** An answer as the client saw it. */
interface Answer {
    status: number;
    body: string;
}

/** What one input cost: the answer, and the error-level lines each log gained meanwhile. */
interface Outcome extends Answer {
    registryErrors: string[];
    frontErrors: string[];
}

/** logrus's text lines (the registry's `formatter: text`) and zap's JSON lines (Caddy's). */
const ERROR_LINE = /\blevel=(?:error|fatal|panic)\b|"level":"(?:error|fatal|panic)"/;

/** An HTTP/1.1 response read off a raw socket: status line, headers, body (chunked decoded). */
function parseHttp1(raw: string): Answer {
    const end = raw.indexOf("\r\n\r\n");
    const head = end < 0 ? raw : raw.slice(0, end);
    let body = end < 0 ? "" : raw.slice(end + 4);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        let decoded = "";
        let rest = body;
        for (;;) {
            const line = rest.indexOf("\r\n");
            const size = line < 0 ? 0 : parseInt(rest.slice(0, line), 16);
            if (!(size > 0)) {
                break;
            }
            decoded += rest.slice(line + 2, line + 2 + size);
            rest = rest.slice(line + 2 + size + 2);
        }
        body = decoded;
    }
    return { status, body };
}

describe("the front: malformed requests get the registry's 4xx and no error-level log line", () => {
    let stack: Stack;
    let work: TempDir;
    let image: OciImage;
    let ci: FrontLogin;

    before(async () => {
        stack = await startStack({ name: "rehearsal-hostile-input", users: [{ name: "ci", role: "push" }] });
        ci = stack.users.ci as FrontLogin;
        work = makeTempDir("rehearsal-hostile-input-images");
        image = await buildOciImage(work.join("source"), { layerSizes: [1000], tag: "v1" });
        assertSucceeded(
            await stack.skopeo.copy(ociRef(image.layoutDir, image.tag), dockerRef(stack.front.host, "app/base", "v1"), { destCreds: ci, destCertDir: stack.certs.certDir }),
            "ci's push of the base image",
            { secrets: [ci.password] },
        );
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    const call = async (method: string, path: string, extra: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Answer> => {
        const res = await stack.front.get(path, { auth: ci, method, ...extra });
        return { status: res.status, body: res.text() };
    };

    /** A fresh upload's location (path and query, with its `_state`). */
    const openUpload = async (repository: string): Promise<string> => {
        const location = await stack.front.openUpload(repository, ci);
        return location.pathname + location.search;
    };

    /**
     * Sends one input and collects what the logs gained for it. The front writes a request's
     * line (to its access log, or its refusal log without a login) after answering it; the
     * registry logs before its answer reaches the front, so once either has grown, all the logs
     * hold this request's lines (a short grace covers the registry's access line, written when
     * its handler returns).
     */
    const probe = async (send: () => Promise<Answer>): Promise<Outcome> => {
        const registryFrom = stack.registry.log().length;
        const frontFrom = stack.front.log().length;
        const accessFrom = stack.front.accessLogText().length;
        const refusedFrom = stack.front.refusedLogText().length;
        const answer = await send();
        for (let i = 0; i < 100 && stack.front.accessLogText().length === accessFrom && stack.front.refusedLogText().length === refusedFrom; i++) {
            await sleep(50);
        }
        await sleep(300);
        const errors = (text: string) => text.split("\n").filter((line) => ERROR_LINE.test(line));
        return {
            ...answer,
            registryErrors: errors(stack.registry.log().slice(registryFrom)),
            frontErrors: [...errors(stack.front.log().slice(frontFrom)), ...errors(stack.front.accessLogText().slice(accessFrom)), ...errors(stack.front.refusedLogText().slice(refusedFrom))],
        };
    };

    /**
     * The goal: a 4xx, the registry's error shape with `code`, and no error-level line anywhere.
     * `registryLog: false` leaves the registry's log to a test of its own (see BODY_ABORTED).
     */
    const assertRefused = (outcome: Outcome, code: string, what: string, { registryLog = true } = {}) => {
        const summary = `${what}: HTTP ${outcome.status} ${outcome.body.slice(0, 300)}`;
        const lines = [...outcome.registryErrors.map((l) => `registry: ${l}`), ...outcome.frontErrors.map((l) => `front: ${l}`)];
        process.stdout.write(`# ${summary.replace(/\s+/g, " ").slice(0, 200)} | error-level lines: ${lines.length}\n${lines.map((l) => `#   ${l.slice(0, 400)}\n`).join("")}`);
        assert.ok(outcome.status >= 400 && outcome.status < 500, `${summary}\nwant a 4xx`);
        let parsed: unknown;
        try {
            parsed = JSON.parse(outcome.body);
        } catch {
            assert.fail(`${summary}\nthe body is not JSON`);
        }
        const errors = (parsed as { errors?: { code?: unknown; message?: unknown }[] }).errors;
        assert.ok(Array.isArray(errors) && errors.length > 0, `${summary}\nno "errors" array`);
        assert.equal(typeof errors[0].message, "string", `${summary}\nthe first error has no message`);
        assert.equal(errors[0].code, code, summary);
        if (registryLog) {
            assert.deepEqual(outcome.registryErrors, [], `${what}: error-level lines in the registry's log`);
        }
        assert.deepEqual(outcome.frontErrors, [], `${what}: error-level lines in the front's log`);
    };

    const longNames = [
        ["a single component of 256 characters", "a".repeat(256)],
        ["two components, 300 characters after the first", `team/${"b".repeat(300)}`],
    ];
    for (const [shape, name] of longNames) {
        for (const [method, suffix] of [
            ["GET", "manifests/latest"],
            ["GET", "tags/list"],
            ["HEAD", `blobs/${sha256("x")}`],
            ["POST", "blobs/uploads/"],
        ]) {
            test(`a repository name of ${shape}: ${method} .../${suffix.split("/")[0]}`, async () => {
                const outcome = await probe(() => call(method, `/v2/${name}/${suffix}`));
                if (method === "HEAD") {
                    // A HEAD answer has no body; the status and the logs are what it can show.
                    assert.ok(outcome.status >= 400 && outcome.status < 500, `HEAD with a long name: HTTP ${outcome.status}`);
                    assert.deepEqual([...outcome.registryErrors, ...outcome.frontErrors], [], "HEAD with a long name: error-level lines");
                    return;
                }
                assertRefused(outcome, "NAME_INVALID", `${method} with a ${name.length}-character name`);
            });
        }
    }

    for (const range of ["abc", "-5-10", "bytes 0-4/5"]) {
        for (const method of ["PATCH", "PUT"]) {
            test(`an upload ${method} with Content-Range ${JSON.stringify(range)}`, async () => {
                const location = await openUpload("app/range");
                const target = method === "PUT" ? `${location}&digest=${sha256("hello")}` : location;
                const outcome = await probe(() => call(method, target, { body: "hello", headers: { "Content-Type": "application/octet-stream", "Content-Range": range } }));
                assertRefused(outcome, "RANGE_INVALID", `${method} with Content-Range ${JSON.stringify(range)}`);
            });
        }
    }

    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream; charset=binary"]) {
        test(`an upload PATCH with Content-Type ${type}`, async () => {
            const location = await openUpload("app/type");
            const outcome = await probe(() => call("PATCH", location, { body: "hello", headers: { "Content-Type": type } }));
            assertRefused(outcome, "UNSUPPORTED", `PATCH with Content-Type ${type}`);
        });
    }

    test("control: a chunked upload with well-formed ranges, with and without a Content-Type, still completes", async () => {
        const next = (res: { headers: Record<string, unknown> }) => {
            const location = new URL(String(res.headers.location), stack.front.url);
            return location.pathname + location.search;
        };
        const first = await stack.front.get(await openUpload("app/chunks"), { auth: ci, method: "PATCH", body: "hello", headers: { "Content-Range": "0-4" } });
        assert.equal(first.status, 202, `the first chunk, no Content-Type: ${first.status} ${first.text()}`);
        const second = await stack.front.get(next(first), { auth: ci, method: "PATCH", body: "world", headers: { "Content-Type": "application/octet-stream", "Content-Range": "5-9" } });
        assert.equal(second.status, 202, `the second chunk: ${second.status} ${second.text()}`);
        const put = await stack.front.get(`${next(second)}&digest=${sha256("helloworld")}`, { auth: ci, method: "PUT" });
        assert.equal(put.status, 201, `the closing PUT: ${put.status} ${put.text()}`);
    });

    /**
     * Bodies the registry refuses with a 500 and no setting changes (docs/FRONT-NOTES.md). The
     * front sees a body only by holding it whole (Caddy's {http.request.body}), and no pattern
     * reads JSON as Go's decoder does (keys in any case, \u escapes, the last of duplicate keys).
     */
    test("a manifest body of `null`", { todo: "the registry answers 500 to any manifest whose schemaVersion is not 2 (`{}` too: registry/storage/ocimanifesthandler.go verifyManifest), and no setting changes that" }, async () => {
        const outcome = await probe(() => call("PUT", "/v2/app/null/manifests/v1", { body: "null", headers: { "Content-Type": OCI_MANIFEST } }));
        assertRefused(outcome, "MANIFEST_INVALID", "PUT of the manifest `null`");
    });

    test(
        "a manifest whose layer has `urls`",
        { todo: "the registry answers 500 to a layer URL it refuses (errInvalidURL, ocimanifesthandler.go verifyManifest); validation.manifests.urls.allow only lets some URLs be stored (201), and one that is not http(s) or has a fragment is a 500 whatever the setting" },
        async () => {
            const manifest = {
                schemaVersion: 2,
                mediaType: OCI_MANIFEST,
                config: { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size },
                layers: [{ mediaType: OCI_LAYER, digest: sha256("elsewhere"), size: 9, urls: ["https://example.com/layer.tar.gz"] }],
            };
            const outcome = await probe(() => call("PUT", "/v2/app/base/manifests/urls", { body: JSON.stringify(manifest), headers: { "Content-Type": OCI_MANIFEST } }));
            assertRefused(outcome, "MANIFEST_INVALID", "PUT of a manifest whose layer has urls");
        },
    );

    /**
     * A body that breaks after the request went upstream: the front answers the client, but the
     * registry has begun reading, sees its request aborted, and logs that at error level
     * (registry/handlers/helpers.go copyFullPayload, then app.go logError) as it does for any
     * client that drops an upload. Only a front that held whole bodies before passing them on
     * would spare it.
     */
    const BODY_ABORTED = "the registry logs every aborted body at error level (helpers.go copyFullPayload, app.go logError)";
    const broken: Record<string, Outcome> = {};

    test("an HTTP/2 upload whose Content-Length exceeds its body", async () => {
        const location = await openUpload("app/h2");
        broken.http2 = await probe(
            () =>
                new Promise<Answer>((resolve, reject) => {
                    const session = http2.connect(stack.front.url, { ca: stack.certs.caCertPem });
                    session.on("error", reject);
                    const req = session.request({
                        ":method": "PATCH",
                        ":path": location,
                        authorization: basicAuthorization(ci),
                        "content-type": "application/octet-stream",
                        "content-length": "100",
                    });
                    let status = 0;
                    const chunks: Buffer[] = [];
                    req.on("response", (headers) => (status = Number(headers[":status"])));
                    req.on("data", (chunk: Buffer) => chunks.push(chunk));
                    req.on("error", reject);
                    req.on("close", () => {
                        session.close();
                        resolve({ status, body: Buffer.concat(chunks).toString("utf8") });
                    });
                    // Ten bytes, then END_STREAM: the stream ends 90 bytes short of its Content-Length.
                    req.end(Buffer.alloc(10, 1));
                }),
        );
        assertRefused(broken.http2, "SIZE_INVALID", "HTTP/2 PATCH 90 bytes short of its Content-Length", { registryLog: false });
    });

    test("an HTTP/1.1 upload with an invalid chunk size", async () => {
        const location = await openUpload("app/chunk");
        broken.chunk = await probe(async () => {
            const connection = await openRawConnection(stack.front);
            const head = [`PATCH ${location} HTTP/1.1`, `Host: ${stack.front.host}`, `Authorization: ${basicAuthorization(ci)}`, "Content-Type: application/octet-stream", "Transfer-Encoding: chunked", "Connection: close"];
            connection.socket.write(`${head.join("\r\n")}\r\n\r\n${"zz\r\nhello\r\n0\r\n\r\n"}`);
            await connection.closed;
            return parseHttp1(connection.received());
        });
        assertRefused(broken.chunk, "SIZE_INVALID", "PATCH with the chunk size `zz`", { registryLog: false });
    });

    for (const [key, what] of [
        ["http2", "the HTTP/2 upload short of its Content-Length"],
        ["chunk", "the upload with an invalid chunk size"],
    ]) {
        test(`${what}: no error-level line in the registry's log`, { todo: BODY_ABORTED }, () => {
            const outcome = broken[key];
            assert.ok(outcome !== undefined, `${what} was not sent`);
            assert.deepEqual(outcome.registryErrors, [], `${what}: error-level lines in the registry's log`);
        });
    }

    test("control: a request the registry's side fails still gets a 5xx and an error-level line with its cause", async () => {
        // An upstream that drops every connection: a POST is not retried (reverseproxy.go
        // tryAgain), so the front fails it at once, as it would a registry that crashed mid-request.
        const dropper = net.createServer((socket) => socket.destroy());
        await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", resolve));
        stack.tracker.addCleanup("connection dropper", () => new Promise<void>((resolve) => dropper.close(() => resolve())));
        const front = await LocalFront.start(stack.tracker, { dir: stack.tmp.join("front-dropper"), program: stack.front.input, upstreamPort: (dropper.address() as net.AddressInfo).port, certs: stack.certs });
        const [logFrom, accessFrom] = [front.log().length, front.accessLogText().length];
        const res = await front.get("/v2/app/x/blobs/uploads/", { auth: ci, method: "POST" });
        let causes: string[] = [];
        for (let i = 0; i < 100 && causes.length === 0; i++) {
            await sleep(50);
            causes = [...front.log().slice(logFrom).split("\n"), ...front.accessLogText().slice(accessFrom).split("\n")].filter((line) => ERROR_LINE.test(line) && !line.includes('"msg":"handled request"'));
        }
        await front.stop();
        process.stdout.write(`# a dropped upstream connection: HTTP ${res.status}; cause line: ${(causes[0] ?? "none").slice(0, 300)}\n`);
        assert.ok(res.status >= 500, `a dropped upstream connection: HTTP ${res.status}`);
        assert.equal(causes.length, 1, "the error-level line naming the cause");
        assert.match(causes[0], /connection reset by peer|EOF/, "the error-level line names the dropped connection");
    });
});
