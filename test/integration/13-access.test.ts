/**
 * Check 13: the front (Caddy, components/render/front.ts) in front of the registry, with real
 * clients over TLS. Roles: `deploy` may only pull; `ci` may push, pull and delete; `team` only in
 * `team-a/**` and `solo` only in `team-b/*`. Slow and hostile clients are cut at the renderer's
 * FRONT_TIMEOUTS while a steady slow upload finishes; no secret reaches Caddy's logs.
 */
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { FRONT_TIMEOUTS } from "../../components/render/front";
import { basicAuthorization, openRawConnection, type FrontAccessEntry, type FrontLogin } from "../harness/front";
import { buildOciImage, readAndVerifyOciImage, type OciImage } from "../harness/oci";
import type { ProxiedS3Request } from "../harness/s3proxy";
import { dockerRef, ociRef } from "../harness/skopeo";
import { startStack, type Stack } from "../harness/stack";
import { makeTempDir, type TempDir } from "../harness/tools";
import { sleep } from "../harness/wait";
import { assertFailedWith, assertSameImage, assertSucceeded, MB } from "./support";

const BASE = "app/base";
const MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
const isWrite = (r: ProxiedS3Request) => r.method === "PUT" || r.method === "POST" || r.method === "DELETE";
const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

describe("the front: logins, roles, repositories, slow clients and logs", () => {
    let stack: Stack;
    let work: TempDir;
    let image: OciImage;
    let users: Record<"ci" | "deploy" | "team" | "solo", FrontLogin>;

    const push = (login: FrontLogin, repository: string, tag = "v1", source = image) =>
        stack.skopeo.copy(ociRef(source.layoutDir, source.tag), dockerRef(stack.front.host, repository, tag), { destCreds: login, destCertDir: stack.certs.certDir });
    const pull = (login: FrontLogin, repository: string, into: string, tag = "v1") =>
        stack.skopeo.copy(dockerRef(stack.front.host, repository, tag), ociRef(work.join(into), tag), { srcCreds: login, srcCertDir: stack.certs.certDir });
    const call = (login: FrontLogin | undefined, method: string, path: string, extra: { body?: string | Buffer; headers?: Record<string, string> } = {}) =>
        stack.front.get(path, { auth: login, method, ...extra });
    /** Uploads one blob (POST, then PUT with the digest); returns its digest and the PUT's status. */
    const uploadBlob = async (login: FrontLogin, repository: string, body: Buffer) => {
        const digest = sha256(body);
        const start = await call(login, "POST", `/v2/${repository}/blobs/uploads/`);
        if (start.status !== 202) {
            return { digest, status: start.status };
        }
        const location = new URL(String(start.headers.location), stack.front.url);
        location.searchParams.set("digest", digest);
        const put = await call(login, "PUT", location.pathname + location.search, { body, headers: { "Content-Type": "application/octet-stream" } });
        return { digest, status: put.status };
    };
    const secrets = () => [...Object.values(users).map((u) => u.password), stack.s3Target.secretKey];

    before(async () => {
        stack = await startStack({
            name: "rehearsal-access",
            users: [
                { name: "ci", role: "push" },
                { name: "deploy", role: "pull" },
                { name: "team", role: "push", repositories: ["team-a/**"] },
                { name: "solo", role: "push", repositories: ["team-b/*"] },
            ],
            s3Proxy: {},
        });
        users = stack.users as typeof users;
        work = makeTempDir("rehearsal-access-images");
        image = await buildOciImage(work.join("source"), { layerSizes: [1 * MB, 300_000], tag: "v1" });
        assertSucceeded(await push(users.ci, BASE), "ci's push of the base image", { secrets: secrets() });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("13a) the pull user pulls; its pushes and deletes get 403 and write nothing to S3", async () => {
        const pulled = await pull(users.deploy, BASE, "deploy-pull");
        assertSucceeded(pulled, "deploy's pull", { secrets: secrets() });
        assertSameImage(readAndVerifyOciImage(work.join("deploy-pull"), "v1"), image, "deploy's pull");

        const proxy = stack.s3Proxy!;
        const since = proxy.count;
        assertFailedWith(await push(users.deploy, "deploy/sneaky"), /denied|403/i, "deploy's skopeo push");
        const manifest = await call(users.ci, "GET", `/v2/${BASE}/manifests/v1`, { headers: { Accept: MANIFEST_TYPES } });
        assert.equal(manifest.status, 200);
        const refused = [
            await call(users.deploy, "POST", `/v2/${BASE}/blobs/uploads/`),
            await call(users.deploy, "PUT", `/v2/${BASE}/manifests/v2`, { body: manifest.body, headers: { "Content-Type": image.manifest.mediaType } }),
            await call(users.deploy, "DELETE", `/v2/${BASE}/manifests/${image.manifest.digest}`),
        ];
        assert.deepEqual(refused.map((r) => r.status), [403, 403, 403], "deploy's POST upload, PUT manifest, DELETE manifest");
        assert.match(refused[0].text(), /"DENIED"/);
        assert.deepEqual(proxy.requests(since).filter(isWrite).map((r) => `${r.operation} ${r.url}`), [], "S3 writes caused by the pull user's refused requests");
        const still = await call(users.deploy, "GET", `/v2/${BASE}/manifests/v1`, { headers: { Accept: MANIFEST_TYPES } });
        assert.equal(still.digest, image.manifest.digest, "the manifest is unchanged");
    });

    test("13b) the push user pushes, pulls and deletes; wrong or missing credentials get 401 with a Basic challenge", async () => {
        assertSucceeded(await push(users.ci, "ci/own"), "ci's push", { secrets: secrets() });
        assertSucceeded(await pull(users.ci, "ci/own", "ci-pull"), "ci's pull", { secrets: secrets() });
        assertSameImage(readAndVerifyOciImage(work.join("ci-pull"), "v1"), image, "ci's pull");
        const deleted = await call(users.ci, "DELETE", `/v2/ci/own/manifests/${image.manifest.digest}`);
        assert.equal(deleted.status, 202, `ci's DELETE: ${deleted.status} ${deleted.text()}`);
        assert.equal((await call(users.ci, "GET", "/v2/ci/own/manifests/v1", { headers: { Accept: MANIFEST_TYPES } })).status, 404, "the deleted tag");

        const wrong = [undefined, { username: "ci", password: `${users.ci.password}x` }, { username: "ci", password: users.deploy.password }, { username: "admin", password: users.ci.password }, { username: "cia", password: users.ci.password }, { username: "CI", password: users.ci.password }];
        for (const auth of wrong) {
            for (const path of ["/v2/", "/v2/_catalog", `/v2/${BASE}/manifests/v1`]) {
                const res = await stack.front.get(path, { auth });
                const who = auth === undefined ? "no login" : `${auth.username} with a wrong password`;
                assert.equal(res.status, 401, `GET ${path}, ${who}`);
                assert.equal(res.headers["www-authenticate"], `Basic realm="${stack.registry.configInput.auth.realm}"`, `GET ${path}, ${who}: challenge`);
            }
        }
        assertFailedWith(await push({ ...users.ci, password: "nope" }, "ci/wrong"), /unauthorized|authentication required|401/i, "push with a wrong password");
    });

    test("13c) a repository-limited user works inside its patterns only, cannot list, and cannot mount from outside", async () => {
        assertSucceeded(await push(users.team, "team-a/app"), "team's push to team-a/app", { secrets: secrets() });
        assertSucceeded(await push(users.team, "team-a/x/y"), "team's push to team-a/x/y", { secrets: secrets() });
        assertSucceeded(await pull(users.team, "team-a/app", "team-pull"), "team's pull of team-a/app", { secrets: secrets() });
        assertFailedWith(await pull(users.team, BASE, "team-pull-base"), /denied|403/i, "team's pull of app/base");
        assertFailedWith(await push(users.team, "other/team"), /denied|403/i, "team's push to other/team");
        const outside = [
            ["GET", `/v2/${BASE}/manifests/v1`],
            ["HEAD", `/v2/${BASE}/blobs/${image.layers[0].digest}`],
            ["GET", `/v2/${BASE}/tags/list`],
            ["POST", "/v2/other/team/blobs/uploads/"],
            ["GET", "/v2/_catalog"],
            ["GET", `/v2/team-a/../${BASE}/manifests/v1`],
            ["GET", `/v2/team-a%2F..%2F${BASE.replace("/", "%2F")}/manifests/v1`],
            ["POST", "/v2/team-a-evil/x/blobs/uploads/"],
        ];
        for (const [method, path] of outside) {
            assert.equal((await call(users.team, method, path)).status, 403, `team: ${method} ${path}`);
        }
        // `*` is one path component: a repository named team-b/x/blobs/y is not team-b/*.
        assert.equal((await uploadBlob(users.solo, "team-b/x", Buffer.from("solo's own"))).status, 201, "solo in team-b/x");
        assert.equal((await uploadBlob(users.solo, "team-b/x/blobs/y", Buffer.from("escape"))).status, 403, "solo in team-b/x/blobs/y");

        // Mount: the control (ci, unlimited) gets 201; every way of naming `from` for team gets a plain upload.
        const layer = image.layers[0].digest;
        assert.equal((await call(users.ci, "POST", `/v2/ci/mounted/blobs/uploads/?mount=${layer}&from=${BASE}`)).status, 201, "control: ci's mount");
        const attempts: [string, { body?: string; headers?: Record<string, string> }][] = [
            [`?mount=${layer}&from=${BASE}`, {}],
            [`?mount=${layer}&from=${BASE}&x=;`, {}],
            [`?mount=${layer}&from=${BASE}&x=%zz`, {}],
            [`?mount=${layer}&%66rom=${BASE}`, {}],
            ["", { body: `mount=${layer}&from=${BASE}`, headers: { "Content-Type": "application/x-www-form-urlencoded" } }],
        ];
        for (const [query, extra] of attempts) {
            const res = await call(users.team, "POST", `/v2/team-a/x/blobs/uploads/${query}`, extra);
            assert.equal(res.status, 202, `team's mount ${query || extra.body}: HTTP ${res.status}, want a plain upload (202)`);
        }
        assert.equal((await call(users.team, "HEAD", `/v2/team-a/x/blobs/${layer}`)).status, 404, "the layer was mounted into team-a/x");
    });

    describe("slow and hostile clients", { concurrency: true }, () => {
        const { readHeaderSeconds, readBodyIdleSeconds, idleSeconds } = FRONT_TIMEOUTS;
        const seconds = (from: number, to: number) => (to - from) / 1000;

        test(`13d) 200 half-header connections are closed within read_header (${readHeaderSeconds}s) + 2s, while ci pushes and pulls`, async () => {
            const flood = await Promise.all(
                Array.from({ length: 200 }, async () => {
                    const connection = await openRawConnection(stack.front);
                    connection.socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${stack.front.host}\r\nX-Slow: `);
                    return { connection, sent: Date.now() };
                }),
            );
            const source = await buildOciImage(work.join("during-flood"), { layerSizes: [2 * MB], tag: "v1" });
            assertSucceeded(await push(users.ci, "ci/during-flood", "v1", source), "ci's push during the flood", { secrets: secrets() });
            assertSucceeded(await pull(users.ci, "ci/during-flood", "during-flood-pull"), "ci's pull during the flood", { secrets: secrets() });
            const clientsDone = Date.now();
            const closed = await Promise.all(flood.map(async ({ connection, sent }) => ({ after: seconds(sent, await connection.closed), at: await connection.closed })));
            const slowest = Math.max(...closed.map((c) => c.after));
            const fastest = Math.min(...closed.map((c) => c.after));
            process.stdout.write(`# half-header connections closed after ${fastest.toFixed(2)}-${slowest.toFixed(2)} s\n`);
            assert.ok(slowest <= readHeaderSeconds + 2, `slowest half-header connection closed after ${slowest} s`);
            assert.ok(fastest >= readHeaderSeconds - 1, `a half-header connection closed after ${fastest} s: not the header timeout`);
            assert.ok(clientsDone < Math.min(...closed.map((c) => c.at)), "ci's push and pull finished only after the flood was cut");
        });

        test(`13i) 50 HTTP/2 connections that never finish their headers are closed within read_header (${readHeaderSeconds}s) + 2s`, async () => {
            assert.notEqual(stack.front.input.tls.kind, "none", "HTTP/2 needs the front's TLS here");
            const flood = await Promise.all(
                Array.from({ length: 50 }, async () => {
                    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
                        const s = tls.connect({ host: stack.front.listenHost, port: stack.front.port, ca: stack.certs.caCertPem, ALPNProtocols: ["h2"] }, () => resolve(s));
                        s.once("error", reject);
                    });
                    assert.equal(socket.alpnProtocol, "h2");
                    socket.on("error", () => undefined);
                    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
                    socket.on("data", () => undefined);
                    // The preface, an empty SETTINGS frame, then a HEADERS frame on stream 1 without
                    // END_HEADERS (RFC 9113 6.2): the server waits for a CONTINUATION that never comes.
                    const headers = Buffer.from([0x82, 0x87, 0x84]); // :method GET, :scheme https, :path / (RFC 7541 static table)
                    socket.write(
                        Buffer.concat([
                            Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
                            Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]),
                            Buffer.from([0, 0, headers.length, 0x01, 0x00, 0, 0, 0, 1]),
                            headers,
                        ]),
                    );
                    return { closed, sent: Date.now() };
                }),
            );
            const after = await Promise.all(flood.map(async ({ closed, sent }) => seconds(sent, await closed)));
            const slowest = Math.max(...after);
            process.stdout.write(`# HTTP/2 half-header connections closed after ${Math.min(...after).toFixed(2)}-${slowest.toFixed(2)} s\n`);
            assert.ok(slowest <= readHeaderSeconds + 2, `slowest HTTP/2 half-header connection closed after ${slowest} s`);
        });

        for (const method of ["PATCH", "PUT"]) {
            test(`13e) a logged-in ${method} that stalls its body is ended within read_body_idle (${readBodyIdleSeconds}s) + 3s`, async () => {
                const start = await call(users.ci, "POST", `/v2/ci/stalled-${method.toLowerCase()}/blobs/uploads/`);
                assert.equal(start.status, 202);
                const location = new URL(String(start.headers.location), stack.front.url);
                const uuid = location.pathname.split("/").pop()!;
                if (method === "PUT") {
                    location.searchParams.set("digest", sha256(Buffer.from("never sent")));
                }
                const connection = await openRawConnection(stack.front);
                const head = [`${method} ${location.pathname}${location.search} HTTP/1.1`, `Host: ${stack.front.host}`, `Authorization: ${basicAuthorization(users.ci)}`, "Content-Type: application/octet-stream", `Content-Length: ${100 * MB}`];
                connection.socket.write(`${head.join("\r\n")}\r\n\r\n${"x".repeat(1000)}`);
                const sent = Date.now();
                while (connection.received() === "" && !connection.socket.destroyed) {
                    await sleep(20);
                }
                const answered = seconds(sent, Date.now());
                const closed = seconds(sent, await connection.closed);
                const status = connection.received().split("\r\n")[0];
                process.stdout.write(`# stalled ${method} body: answered ${JSON.stringify(status)} after ${answered.toFixed(2)} s, connection closed after ${closed.toFixed(2)} s\n`);
                assert.ok(answered <= readBodyIdleSeconds + 3, `the stalled ${method} was answered after ${answered} s`);
                assert.ok(answered >= readBodyIdleSeconds - 1, `the stalled ${method} was answered after ${answered} s: not the body-idle timeout`);
                assert.match(status, /^HTTP\/1\.1 (499|502|504) /, `the stalled ${method}'s answer`);
                // The registry's handler ended too: the upload is no longer held open behind the front.
                const ended = stack.registry.log().split("\n").some((line) => line.includes(uuid) && /client disconnected/.test(line));
                assert.ok(ended, `the registry did not see the stalled ${method} end:\n${stack.registry.logTail(10)}`);
                // Caddy 2.11.9 keeps the connection (no Connection: close) until the idle timeout.
                assert.ok(closed <= readBodyIdleSeconds + idleSeconds + 2, `the stalled ${method}'s connection was closed after ${closed} s`);
            });
        }

        test(`13f) an idle keep-alive connection is closed within idle (${idleSeconds}s) + 2s`, async () => {
            const connection = await openRawConnection(stack.front);
            connection.socket.write(`GET / HTTP/1.1\r\nHost: ${stack.front.host}\r\n\r\n`);
            while (!connection.received().includes("\r\n\r\n")) {
                await sleep(20);
            }
            const answered = Date.now();
            assert.match(connection.received(), /^HTTP\/1\.1 200 /);
            const after = seconds(answered, await connection.closed);
            process.stdout.write(`# idle keep-alive connection closed after ${after.toFixed(2)} s\n`);
            assert.ok(after <= idleSeconds + 2 && after >= idleSeconds - 1, `the idle connection was closed after ${after} s`);
        });

        test(`13g) a steady 64 KB/s upload lasting longer than read_body_idle is not cut`, async () => {
            const start = await call(users.ci, "POST", "/v2/ci/slow/blobs/uploads/");
            assert.equal(start.status, 202);
            const location = new URL(String(start.headers.location), stack.front.url);
            const chunk = Buffer.alloc(16 * 1024, 7);
            const chunks = Math.ceil(((readBodyIdleSeconds + 6) * 64 * 1024) / chunk.length);
            const connection = await openRawConnection(stack.front);
            const head = [`PATCH ${location.pathname}${location.search} HTTP/1.1`, `Host: ${stack.front.host}`, `Authorization: ${basicAuthorization(users.ci)}`, "Content-Type: application/octet-stream", `Content-Length: ${chunks * chunk.length}`];
            connection.socket.write(`${head.join("\r\n")}\r\n\r\n`);
            const began = Date.now();
            for (let i = 0; i < chunks; i++) {
                connection.socket.write(chunk);
                await sleep(250);
            }
            while (!connection.received().includes("\r\n\r\n") && !connection.socket.destroyed) {
                await sleep(20);
            }
            const took = seconds(began, Date.now());
            connection.socket.end();
            process.stdout.write(`# steady upload of ${chunks * chunk.length} bytes took ${took.toFixed(1)} s\n`);
            assert.match(connection.received(), /^HTTP\/1\.1 202 /, `the slow upload's answer: ${connection.received().slice(0, 300)}`);
            assert.match(connection.received(), new RegExp(`\r\nRange: 0-${chunks * chunk.length - 1}\r\n`, "i"), "the registry got every byte");
            assert.ok(took > readBodyIdleSeconds + 3, `the upload took only ${took} s`);
        });
    });

    test("13j) a password in an absolute-form request URL is not logged", async () => {
        const connection = await openRawConnection(stack.front);
        const target = `https://${users.ci.username}:${users.ci.password}@${stack.front.host}/v2/?probe=absolute-form`;
        connection.socket.write(`GET ${target} HTTP/1.1\r\nHost: ${stack.front.host}\r\nConnection: close\r\n\r\n`);
        await connection.closed;
        assert.match(connection.received(), /^HTTP\/1\.1 401 /, "userinfo in the URL is no login");
        // Caddy writes a request's line after answering it; the path is still logged, in the
        // refusal log, as no login came with it.
        let entry: FrontAccessEntry | undefined;
        for (let i = 0; i < 100 && entry === undefined; i++) {
            entry = stack.front.refusedLog().find((e) => e.request.uri.includes("probe=absolute-form"));
            await sleep(50);
        }
        assert.ok(entry !== undefined, "no refusal log line for the absolute-form request");
        for (const text of [stack.front.refusedLogText(), stack.front.accessLogText()]) {
            assert.ok(!text.includes(users.ci.password), `the password is in a log: ${JSON.stringify(entry.request.uri).replace(users.ci.password, "<password>")}`);
        }
        assert.equal(entry.request.uri, "/v2/?probe=absolute-form");
    });

    test("13h) no secret in Caddy's logs or its stderr; refusals by role are in the access log with the user, failed logins in the refusal log", () => {
        const accessLog = stack.front.accessLogText();
        const refusedLog = stack.front.refusedLogText();
        const stderr = stack.front.log();
        const forbidden = [...secrets(), ...Object.values(users).map(basicAuthorization).map((h) => h.slice("Basic ".length)), "X-Amz-Signature", "X-Amz-Credential"];
        for (const [name, text] of [["access log", accessLog], ["refusal log", refusedLog], ["stderr", stderr]]) {
            const found = forbidden.filter((secret) => text.includes(secret));
            assert.deepEqual(found.map((s) => `${s.slice(0, 4)}...`), [], `secrets in Caddy's ${name}`);
        }
        const entries = stack.front.accessLog();
        const refused = stack.front.refusedLog();
        assert.ok(entries.some((e) => e.status === 307), "no presigned redirect went through the front, so the X-Amz-Signature check proves nothing");
        assert.ok([...entries, ...refused].every((e) => e.request.headers === undefined && e.resp_headers === undefined), "headers in a log");
        assert.ok(refused.some((e) => e.status === 401 && (e as { login?: string }).login === "sent"), "a refused login's line says credentials were sent");
        for (const user of ["deploy", "team", "solo"]) {
            assert.ok(entries.some((e) => e.status === 403 && e.user_id === user), `a 403 line for ${user}`);
        }
        assert.ok(refused.some((e) => e.status === 401 && e.user_id === ""), "a 401 line (no known user)");
        // One log per request: the access log has accepted logins only, the refusal log none.
        assert.deepEqual(entries.filter((e) => (e.user_id ?? "") === "").map((e) => `${e.status} ${e.request.method} ${e.request.uri}`), [], "access log lines without a user");
        assert.deepEqual(refused.filter((e) => (e.user_id ?? "") !== "").map((e) => `${e.status} ${e.user_id} ${e.request.uri}`), [], "refusal log lines with a user");
    });
});
