/**
 * The front's bounds on manifest and upload requests in flight, with the real front: Caddy
 * (.cache/bin/caddy) serves the Caddyfile renderFrontConfig renders, in front of a stand-in
 * registry on loopback that holds every manifest and upload request until the test lets it go.
 * The registry holds each manifest whole in memory (front.ts FRONT_MANIFEST_REQUESTS_MAX) and
 * part of each upload (registryMemory.ts), so the front lets at most so many of each in at once;
 * the rest wait for a slot. Each kind is counted apart, and other requests not at all.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import { after, before, describe, test } from "node:test";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";
import { FRONT_MANIFEST_REQUESTS_MAX, FRONT_TIMEOUTS, bodyRequestWaitSeconds, manifestUpstream, renderFrontConfig, uploadUpstream } from "../../components/render/front";
import { caddyBinary, caddyEnvironment } from "../harness/front";
import { freePort, LOOPBACK } from "../harness/ports";
import { ProcessTracker, type TrackedProcess } from "../harness/processes";
import { makeTempDir, type TempDir } from "../harness/tools";
import { waitUntil } from "../harness/wait";

const USER = { name: "builder", password: "right-password" };
const AUTHORIZATION = `Basic ${Buffer.from(`${USER.name}:${USER.password}`).toString("base64")}`;
/** More than the bound, so some must wait. */
const SENT = FRONT_MANIFEST_REQUESTS_MAX + 4;
/** The uploads' bound here: below SENT, and over the manifests' so that a shared count would shut the manifests out; the program's follows the chunk size (registryMemory.ts). */
const UPLOADS_MAX = FRONT_MANIFEST_REQUESTS_MAX + 1;
/** Between one manifest request and the next; also keeps the waiting ones' retries apart. */
const ARRIVAL_GAP_MS = 30;

/**
 * The front's slow-client bounds, shortened so that a manifest PUT's wait for a slot
 * (bodyRequestWaitSeconds, readBodyIdle less 5 s) takes 2 s here.
 */
const TIMEOUTS = { ...FRONT_TIMEOUTS, readBodyIdleSeconds: 7 };

function request(port: number, method: string, path: string, body?: Buffer, contentType = "application/vnd.oci.image.manifest.v1+json"): Promise<number> {
    return new Promise((resolve, reject) => {
        const headers: http.OutgoingHttpHeaders = { Authorization: AUTHORIZATION, ...(body === undefined ? {} : { "Content-Type": contentType, "Content-Length": body.length }) };
        const req = http.request({ host: LOOPBACK, port, method, path, headers, agent: false }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end(body);
    });
}

const get = (port: number, path: string) => request(port, "GET", path);

/**
 * GETs of `paths`, ARRIVAL_GAP_MS apart: Caddy checks a bound and counts the request at two
 * moments (front.ts FRONT_MANIFEST_REQUESTS_MAX), so requests sent in the same instant may pass
 * it together.
 */
async function getPaced(port: number, paths: string[]): Promise<Promise<number>[]> {
    const answers: Promise<number>[] = [];
    for (const path of paths) {
        answers.push(get(port, path));
        await new Promise((resolve) => setTimeout(resolve, ARRIVAL_GAP_MS));
    }
    return answers;
}

/** Waits until the stand-in holds at least `count` of these requests. */
function untilHeld(list: readonly unknown[], count: number, description: string): Promise<void> {
    return waitUntil(async () => (list.length >= count ? { done: true, value: undefined } : { done: false, seen: `${list.length} held` }), { description, timeoutMs: 10_000 });
}

describe("the front lets a bounded number of manifest requests into the registry", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let registry: http.Server;
    let caddy: TrackedProcess;
    let port: number;
    /** Manifest requests the stand-in holds, to answer when released. */
    const held: http.ServerResponse[] = [];
    /** Layer uploads the stand-in holds, as the registry holds a PATCH while its body streams. */
    const heldUploads: http.ServerResponse[] = [];
    let manifestsInFlight = 0;
    let mostManifestsInFlight = 0;
    let blobsAnswered = 0;

    before(async () => {
        tmp = makeTempDir("front-manifest-cap");
        registry = http.createServer((req, res) => {
            if (/\/manifests\//.test(req.url ?? "")) {
                manifestsInFlight++;
                mostManifestsInFlight = Math.max(mostManifestsInFlight, manifestsInFlight);
                res.on("close", () => manifestsInFlight--);
                held.push(res);
                return;
            }
            if (/\/blobs\/uploads\//.test(req.url ?? "")) {
                heldUploads.push(res);
                return;
            }
            if (/\/blobs\//.test(req.url ?? "")) {
                blobsAnswered++;
            }
            res.end("{}");
        });
        await new Promise<void>((resolve) => registry.listen(0, LOOPBACK, resolve));
        const upstreamPort = (registry.address() as { port: number }).port;
        port = await freePort();
        fs.writeFileSync(
            tmp.join("Caddyfile"),
            renderFrontConfig({
                listen: `${LOOPBACK}:${port}`,
                tls: { kind: "none" },
                users: [{ name: USER.name, role: "push", passwordHash: renderFrontPasswordHash({ password: USER.password, salt: "front-test-salt" }) }],
                realm: "Registry",
                upstream: `${LOOPBACK}:${upstreamPort}`,
                upstreamAuthorization: "Basic ZnJvbnQ6dGVzdA==",
                accessLogFile: tmp.join("access.log"),
                refusedLogFile: tmp.join("refused.log"),
                adminSocket: tmp.join("admin.sock"),
                timeouts: TIMEOUTS,
                uploadRequestsMax: UPLOADS_MAX,
            }),
        );
        caddy = tracker.start("caddy", caddyBinary(), ["run", "--config", tmp.join("Caddyfile"), "--adapter", "caddyfile"], { logFile: tmp.join("caddy.log"), env: caddyEnvironment(tmp.path) });
        await waitUntil(
            async () => {
                const status = await get(port, "/v2/").catch(() => 0);
                return status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${status}` };
            },
            { description: "the front to answer", timeoutMs: 15_000, abortIf: () => (caddy.running ? undefined : `caddy exited:\n${caddy.logTail()}`) },
        );
    });

    after(async () => {
        for (const res of [...held.splice(0), ...heldUploads.splice(0)]) {
            res.destroy();
        }
        await tracker.dispose();
        await new Promise((resolve) => registry?.close(resolve));
        tmp?.remove();
    });

    test(`${FRONT_MANIFEST_REQUESTS_MAX} of ${SENT} manifest requests reach the registry, layers pass beside them, the rest follow`, { timeout: 60_000 }, async () => {
        const answers = await getPaced(port, Array.from({ length: SENT }, (_, i) => `/v2/team/app/manifests/v${i}`));
        await untilHeld(held, FRONT_MANIFEST_REQUESTS_MAX, `${FRONT_MANIFEST_REQUESTS_MAX} manifest requests at the registry`);
        // Longer than the front's retry interval (lb_try_interval 250ms): a request over the bound
        // would have been let in by now.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(held.length, FRONT_MANIFEST_REQUESTS_MAX, "manifest requests at the registry while the bound is reached");

        // A manifest PUT waits less than its body's deadline, then gets 503 without reaching the registry.
        const started = Date.now();
        assert.equal(await request(port, "PUT", "/v2/team/app/manifests/pushed", Buffer.from("{}")), 503);
        const waitedMs = Date.now() - started;
        assert.ok(waitedMs >= (bodyRequestWaitSeconds(TIMEOUTS) - 1) * 1000 && waitedMs < TIMEOUTS.readBodyIdleSeconds * 1000, `the PUT was answered after ${waitedMs} ms`);
        assert.equal(held.length, FRONT_MANIFEST_REQUESTS_MAX, "the PUT reached the registry");

        // A layer is not a manifest: it goes through while every manifest slot is taken.
        assert.equal(await get(port, "/v2/team/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000"), 200);
        assert.equal(blobsAnswered, 1);

        // Answered one by one from here on, as they come: the waiting requests take the freed slots.
        const answering = setInterval(() => held.shift()?.end("{}"), 20);
        const statuses = await Promise.all(answers).finally(() => clearInterval(answering));
        assert.deepEqual(statuses, Array.from({ length: SENT }, () => 200));
        assert.ok(mostManifestsInFlight <= FRONT_MANIFEST_REQUESTS_MAX, `${mostManifestsInFlight} manifest requests at the registry at once`);
    });

    // Caddy counts requests per upstream address string (front.ts manifestUpstream, uploadUpstream):
    // were the proxies to name the registry the same way, these uploads would take the manifests' slots.
    test(`${UPLOADS_MAX} of ${SENT} uploads reach the registry, a manifest request gets in beside them, the rest follow`, { timeout: 60_000 }, async () => {
        const uploads = await getPaced(port, Array.from({ length: SENT }, (_, i) => `/v2/team/app/blobs/uploads/u${i}`));
        await untilHeld(heldUploads, UPLOADS_MAX, `${UPLOADS_MAX} uploads at the registry`);
        // Over two of the front's retry intervals (lb_try_interval 250ms), and well within the
        // uploads' wait here (bodyRequestWaitSeconds, 2 s): one over the bound would be in by now.
        await new Promise((resolve) => setTimeout(resolve, 600));
        assert.equal(heldUploads.length, UPLOADS_MAX, "uploads at the registry while their bound is reached");

        const manifest = get(port, "/v2/team/app/manifests/latest");
        await waitUntil(async () => (held.length === 1 ? { done: true, value: undefined } : { done: false, seen: `${held.length} manifest requests held` }), {
            description: "the manifest request to reach the registry beside the uploads",
            timeoutMs: 1000,
            intervalMs: 20,
        });
        held.shift()?.end("{}");
        assert.equal(await manifest, 200);

        const answering = setInterval(() => heldUploads.shift()?.end("{}"), 20);
        const statuses = await Promise.all(uploads).finally(() => clearInterval(answering));
        assert.deepEqual(statuses, Array.from({ length: SENT }, () => 200));
    });

    test("a layer's PATCH waits for an upload slot less than its body's deadline, then gets 503 without reaching the registry", { timeout: 60_000 }, async () => {
        const uploads = Array.from({ length: UPLOADS_MAX }, (_, i) => get(port, `/v2/team/app/blobs/uploads/held${i}`));
        await untilHeld(heldUploads, UPLOADS_MAX, `${UPLOADS_MAX} uploads at the registry`);
        const started = Date.now();
        assert.equal(await request(port, "PATCH", "/v2/team/app/blobs/uploads/late", Buffer.from("layer bytes"), "application/octet-stream"), 503);
        const waitedMs = Date.now() - started;
        assert.ok(waitedMs >= (bodyRequestWaitSeconds(TIMEOUTS) - 1) * 1000 && waitedMs < TIMEOUTS.readBodyIdleSeconds * 1000, `the PATCH was answered after ${waitedMs} ms`);
        assert.equal(heldUploads.length, UPLOADS_MAX, "the PATCH reached the registry");
        for (const res of heldUploads.splice(0)) {
            res.end("{}");
        }
        assert.deepEqual(await Promise.all(uploads), Array.from({ length: UPLOADS_MAX }, () => 200));
    });
});

describe("uploadUpstream", () => {
    test("writes the registry's IPv4 address as an IPv4-mapped IPv6 one in hex, same port: neither the address nor manifestUpstream's string", () => {
        assert.equal(uploadUpstream("127.0.0.1:5002"), "[::ffff:7f00:1]:5002");
        assert.equal(uploadUpstream("10.1.2.3:80"), "[::ffff:a01:203]:80");
        assert.notEqual(uploadUpstream("127.0.0.1:5002"), manifestUpstream("127.0.0.1:5002"));
    });

    test("refuses an octet over 255", () => {
        assert.throws(() => uploadUpstream("127.0.0.256:5002"), /got "127\.0\.0\.256:5002"/);
    });
});

describe("manifestUpstream", () => {
    test("writes the registry's IPv4 address as an IPv4-mapped IPv6 one, same port", () => {
        assert.equal(manifestUpstream("127.0.0.1:5002"), "[::ffff:127.0.0.1]:5002");
    });

    test("refuses anything but an IPv4 address and port, naming what it got", () => {
        assert.throws(() => manifestUpstream("localhost:5002"), /upstream must be an IPv4 address and port .*got "localhost:5002"/);
        assert.throws(() => manifestUpstream(":5002"), /got ":5002"/);
    });
});
