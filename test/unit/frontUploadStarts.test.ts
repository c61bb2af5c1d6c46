/**
 * Each push user's budget of upload starts, with the real front: Caddy (.cache/bin/caddy) serves
 * the Caddyfile renderFrontConfig renders, over TLS with a throwaway CA's certificate, in front of
 * a stand-in registry on loopback that answers as distribution does: 202 to an upload start, 201
 * to a mount and to a single-request upload. A user's starts over the budget get the registry's
 * 429 TOOMANYREQUESTS; mounts, other users and the rest of an upload are not held to it.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { after, before, describe, test } from "node:test";
import { renderFrontConfig } from "../../components/render/front";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";
import { uploadStartSocket } from "../../components/render/uploadStarts";
import { caddyBinary, caddyEnvironment } from "../harness/front";
import { freePort, LOOPBACK } from "../harness/ports";
import { ProcessTracker } from "../harness/processes";
import { generateTestCertificates, type TestCertificates } from "../harness/tls";
import { makeTempDir, type TempDir } from "../harness/tools";
import { waitUntil } from "../harness/wait";

const BUDGET = 5;
const USERS = {
    ci: { password: "ci-password", role: "push" as const },
    deploy: { password: "deploy-password", role: "pull" as const },
    "team.a": { password: "team-password", role: "push" as const, repositories: ["team-a/**"] },
};
type UserName = keyof typeof USERS;

interface Seen {
    method: string;
    url: string;
    forwardedProto: string | undefined;
}

describe("the front holds each push user to a budget of upload starts", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let certs: TestCertificates;
    let registry: http.Server;
    let port: number;
    const seen: Seen[] = [];

    function send(user: UserName, method: string, path: string): Promise<{ status: number; body: string; location: string | undefined }> {
        const authorization = `Basic ${Buffer.from(`${user}:${USERS[user].password}`).toString("base64")}`;
        return new Promise((resolve, reject) => {
            const req = https.request({ host: LOOPBACK, port, method, path, ca: certs.caCertPem, headers: { Authorization: authorization, "Content-Length": 0 }, agent: false }, (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (chunk: string) => (body += chunk));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
            });
            req.on("error", reject);
            req.end();
        });
    }

    /** POSTs to a repository's uploads the registry saw, mounts and single-request uploads too. */
    const startsSeen = (repository: string) => seen.filter((s) => s.method === "POST" && s.url.split("?")[0] === `/v2/${repository}/blobs/uploads/`).length;

    before(async () => {
        tmp = makeTempDir("front-upload-starts");
        certs = await generateTestCertificates(tracker, tmp.join("certs"));
        let uploads = 0;
        registry = http.createServer((req, res) => {
            const forwardedProto = req.headers["x-forwarded-proto"];
            seen.push({ method: req.method ?? "", url: req.url ?? "", forwardedProto: Array.isArray(forwardedProto) ? forwardedProto.join(",") : forwardedProto });
            const url = new URL(req.url ?? "/", "http://registry");
            const start = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname);
            if (req.method === "POST" && start !== null) {
                if (url.searchParams.has("mount") || url.searchParams.has("digest")) {
                    res.writeHead(201).end();
                    return;
                }
                // As distribution writes it (registry/api/v2/urls.go): from X-Forwarded-Proto.
                res.writeHead(202, { Location: `${forwardedProto ?? "http"}://${req.headers.host ?? ""}/v2/${start[1]}/blobs/uploads/${++uploads}` }).end();
                return;
            }
            res.writeHead(req.method === "PUT" ? 201 : 202).end();
        });
        await new Promise<void>((resolve) => registry.listen(0, LOOPBACK, resolve));
        port = await freePort();
        const adminSocket = tmp.join("admin.sock");
        fs.writeFileSync(
            tmp.join("Caddyfile"),
            renderFrontConfig({
                listen: `${LOOPBACK}:${port}`,
                tls: { kind: "files", hostname: LOOPBACK, certificate: certs.certFile, key: certs.keyFile },
                users: Object.entries(USERS).map(([name, user]) => ({ name, ...user, passwordHash: renderFrontPasswordHash({ password: user.password, salt: `${name}-salt-for-tests` }) })),
                realm: "Registry",
                upstream: `${LOOPBACK}:${(registry.address() as { port: number }).port}`,
                upstreamAuthorization: "Basic ZnJvbnQ6dGVzdA==",
                accessLogFile: tmp.join("access.log"),
                refusedLogFile: tmp.join("refused.log"),
                adminSocket,
                uploadStartsPerUser: BUDGET,
            }),
        );
        tracker.start("caddy", caddyBinary(), ["run", "--config", tmp.join("Caddyfile"), "--adapter", "caddyfile"], { logFile: tmp.join("caddy.log"), env: caddyEnvironment(tmp.path) });
        await waitUntil(
            async () => {
                try {
                    const res = await send("ci", "GET", "/v2/");
                    return res.status === 202 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status}` };
                } catch (error) {
                    return { done: false, seen: String(error) };
                }
            },
            { description: "the front to answer", timeoutMs: 20_000 },
        );
        assert.ok(fs.existsSync(uploadStartSocket(adminSocket, 0)), "the push user's socket beside the admin socket");
    });

    after(async () => {
        await tracker.dispose();
        registry?.close();
        tmp?.remove();
    });

    test("a user's starts over the budget get 429 TOOMANYREQUESTS, and never reach the registry", async () => {
        // A mount and a single-request upload leave no upload behind: not counted.
        assert.equal((await send("ci", "POST", "/v2/ci/app/blobs/uploads/?mount=sha256:aa&from=ci/base")).status, 201);
        assert.equal((await send("ci", "POST", "/v2/ci/app/blobs/uploads/?digest=sha256:bb")).status, 201);
        for (let i = 0; i < BUDGET; i++) {
            const started = await send("ci", "POST", "/v2/ci/app/blobs/uploads/");
            assert.equal(started.status, 202, `start ${i + 1} of ${BUDGET}: ${started.body}`);
            // Through the front's inner site, the registry still learns the client used https.
            assert.match(started.location ?? "", /^https:\/\//, "the upload's Location keeps the scheme the client used");
        }
        const refused = await send("ci", "POST", "/v2/ci/app/blobs/uploads/");
        assert.equal(refused.status, 429, refused.body);
        const error = JSON.parse(refused.body) as { errors: { code: string; message: string; detail: string }[] };
        assert.equal(error.errors[0].code, "TOOMANYREQUESTS");
        assert.match(error.errors[0].detail, new RegExp(`started ${BUDGET} uploads within 14 hours, the limit uploadStartsPerUser sets`));
        assert.equal(startsSeen("ci/app"), 2 + BUDGET, "the registry saw the mount, the single-request upload and the budget's starts, nothing more");
        assert.ok(seen.filter((s) => s.method === "POST").every((s) => s.forwardedProto === "https"), "every start reached the registry with X-Forwarded-Proto https");
    });

    test("the rest of an upload, another push user, and reads go on while one user's budget is spent", async () => {
        assert.equal((await send("ci", "PATCH", "/v2/ci/app/blobs/uploads/1")).status, 202, "the spent user's PATCH");
        assert.equal((await send("ci", "PUT", "/v2/ci/app/blobs/uploads/1?digest=sha256:cc")).status, 201, "the spent user's PUT");
        assert.equal((await send("ci", "GET", "/v2/ci/app/tags/list")).status, 202, "the spent user's reads");
        assert.equal((await send("team.a", "POST", "/v2/team-a/app/blobs/uploads/")).status, 202, "another push user's start");
        assert.equal(startsSeen("team-a/app"), 1);
        assert.equal((await send("deploy", "POST", "/v2/ci/app/blobs/uploads/")).status, 403, "a pull user starts nothing, counted or not");
    });

    test("the spent start's line in the access log says 429, as the client saw it", () => {
        const lines = fs
            .readFileSync(tmp.join("access.log"), "utf8")
            .trim()
            .split("\n")
            .map((line) => JSON.parse(line) as { user_id?: string; status: number; request: { method: string; uri: string } });
        const starts = lines.filter((line) => line.user_id === "ci" && line.request.method === "POST" && line.request.uri === "/v2/ci/app/blobs/uploads/");
        assert.deepEqual(
            starts.map((line) => line.status),
            [...Array<number>(BUDGET).fill(202), 429],
        );
    });
});
