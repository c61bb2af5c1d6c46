/**
 * Issue 16, finding 3: an anonymous client must not be able to roll away the record of who
 * pushed what. The front writes the lines of requests whose login it accepted to its access log
 * and every other line (no login, an unknown user, a wrong password, the uptime check's `/`) to
 * its refusal log (components/render/front.ts, `log_name` after basic_auth). Here a logged-in
 * client pushes, pulls and reads, then an anonymous flood runs well past the refusal log's roll
 * size: the access log must be byte for byte what it was, and the refusal log must have rolled.
 *
 * The front is the program's own FrontInput (the stack's) with one change the renderer takes as
 * input: the refusal log rolls at 1 MiB and keeps one rolled file, so that a few thousand
 * requests roll it; the access log keeps the program's FRONT_LOG_ROLLS. Prints the figures
 * FRONT_LOG_ROLLS and docs/FRONT-NOTES.md are sized from: a logged-in line's length, the lines a
 * push and a pull write, and how fast a flood fills a log.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { FRONT_LOG_ROLLS, type FrontLogRolls } from "../../components/render/front";
import { LocalFront, type FrontLogin } from "../harness/front";
import { buildOciImage, type OciImage } from "../harness/oci";
import { LOOPBACK } from "../harness/ports";
import { dockerRef, ociRef } from "../harness/skopeo";
import { startStack, type Stack } from "../harness/stack";
import { makeTempDir, type TempDir } from "../harness/tools";
import { sleep } from "../harness/wait";
import { assertSucceeded, MB } from "./support";

const MIB = 1024 * 1024;
const ROLLS: FrontLogRolls = { access: FRONT_LOG_ROLLS.access, refused: { rollMiB: 1, keep: 1 } };
/** The flood writes this many refusal-log bytes: enough to roll a 1 MiB file at least twice. */
const FLOOD_BYTES = 3 * ROLLS.refused.rollMiB * MIB;
/** Connections the flooding client keeps open at once. */
const FLOOD_CONNECTIONS = 16;
/** The single log before the split: 20 MiB, rolled with 5 kept (front.ts before this change). */
const OLD_LOG_BYTES = 20 * MIB * (5 + 1);

interface Line {
    status: number;
    user_id?: string;
    request: { method: string; uri: string };
}

const linesOf = (text: string): string[] => text.split("\n").filter((line) => line !== "");
const parse = (text: string): Line[] => linesOf(text).map((line) => JSON.parse(line) as Line);

/** Waits until a file has stopped growing for 500 ms: Caddy writes a request's line after answering it. */
async function settled(read: () => string): Promise<string> {
    let last = read();
    for (let i = 0; i < 40; i++) {
        await sleep(500);
        const now = read();
        if (now === last) {
            return now;
        }
        last = now;
    }
    return last;
}

describe("the front's access log keeps logged-in traffic whatever an anonymous client sends", () => {
    let stack: Stack;
    let work: TempDir;
    let front: LocalFront;
    let ci: FrontLogin;
    let image: OciImage;
    /** The access log after the logged-in traffic, before the flood. */
    let accessBefore = "";
    let pushLines = 0;
    let pullLines = 0;

    const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
    const rolledRefusals = () => fs.readdirSync(front.dir).filter((name) => /^refused-.+\.log(\.gz)?$/.test(name));

    before(async () => {
        stack = await startStack({ name: "rehearsal-hostile-log", users: [{ name: "ci", role: "push" }] });
        ci = stack.users.ci as FrontLogin;
        front = await LocalFront.start(stack.tracker, { dir: stack.tmp.join("front-small-rolls"), program: stack.front.input, upstreamPort: Number(stack.front.input.upstream.split(":").pop()), certs: stack.certs, logRolls: ROLLS });
        work = makeTempDir("rehearsal-hostile-log-images");
        // Three layers and a config: four blobs, as a small CI image.
        image = await buildOciImage(work.join("source"), { layerSizes: [1 * MB, 200_000, 50_000], tag: "v1" });

        const access = () => read(front.accessLogFile);
        let from = linesOf(await settled(access)).length;
        assertSucceeded(await stack.skopeo.copy(ociRef(image.layoutDir, image.tag), dockerRef(front.host, "ci/app", "v1"), { destCreds: ci, destCertDir: stack.certs.certDir }), "ci's push");
        pushLines = linesOf(await settled(access)).length - from;
        from += pushLines;
        assertSucceeded(await stack.skopeo.copy(dockerRef(front.host, "ci/app", "v1"), ociRef(work.join("pulled"), "v1"), { srcCreds: ci, srcCertDir: stack.certs.certDir }), "ci's pull");
        pullLines = linesOf(await settled(access)).length - from;
        for (const target of ["/v2/", "/v2/ci/app/tags/list", "/v2/_catalog"]) {
            assert.equal((await front.get(target, { auth: ci })).status, 200, `ci's GET ${target}`);
        }
        accessBefore = await settled(access);
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("every logged-in request has its line, with its user, in the access log", () => {
        const lines = parse(accessBefore);
        assert.ok(pushLines >= 4 * 2, `the push wrote ${pushLines} lines`);
        assert.ok(lines.length > 0 && lines.every((line) => line.user_id === ci.username), "access log lines of another user, or none");
        assert.ok(lines.some((line) => line.request.method === "PUT" && line.request.uri === "/v2/ci/app/manifests/v1" && line.status === 201), "the push's manifest PUT");
        assert.ok(lines.some((line) => line.request.uri === "/v2/_catalog" && line.status === 200), "the catalog GET");
        const lengths = linesOf(accessBefore).map((line) => Buffer.byteLength(line) + 1);
        const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
        process.stdout.write(
            `# logged-in lines: a push of ${image.layers.length} layers and a config ${pushLines}, its pull ${pullLines}; ` +
                `${Math.min(...lengths)}-${Math.max(...lengths)} bytes a line with its newline, mean ${mean.toFixed(0)}\n`,
        );
    });

    test("an anonymous flood rolls the refusal log and leaves the access log as it was", async () => {
        const agent = new https.Agent({ keepAlive: true, maxSockets: FLOOD_CONNECTIONS, ca: stack.certs.caCertPem });
        const long = "a".repeat(240);
        // What an anonymous client can send: no login, an unknown user, a wrong password for the
        // real user (each a bcrypt check), the uptime check's `/`; paths as long as the log keeps.
        const kinds: { what: string; path: string; authorization?: string }[] = [
            { what: "no login", path: `/v2/${long}/manifests/latest` },
            { what: "an unknown user", path: `/v2/${long}/tags/list`, authorization: `Basic ${Buffer.from("admin:guess").toString("base64")}` },
            { what: "a wrong password", path: `/v2/${long}/blobs/uploads/`, authorization: `Basic ${Buffer.from(`${ci.username}:guess`).toString("base64")}` },
            { what: "the uptime check's /", path: `/?${long}` },
        ];
        const send = (i: number) =>
            new Promise<number>((resolve, reject) => {
                const kind = kinds[i % kinds.length];
                const req = https.request({ host: LOOPBACK, port: front.port, path: kind.path, method: "GET", agent, headers: kind.authorization === undefined ? {} : { Authorization: kind.authorization } }, (res) => {
                    res.resume();
                    res.on("end", () => resolve(res.statusCode ?? 0));
                });
                req.on("error", reject);
                req.end();
            });
        // The line a flooding request writes, measured from the first round's lines.
        const refusedBefore = linesOf(read(front.refusedLogFile)).length;
        const first = await Promise.all(kinds.map((_, i) => send(i)));
        assert.deepEqual(first, [401, 401, 401, 200], kinds.map((k) => k.what).join(", "));
        const round = linesOf(await settled(() => read(front.refusedLogFile))).slice(refusedBefore);
        assert.equal(round.length, kinds.length, "one refusal log line per flooding request");
        const lineBytes = round.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0) / round.length;
        const requests = Math.ceil(FLOOD_BYTES / lineBytes);

        const started = Date.now();
        let next = 0;
        const statuses = new Map<number, number>();
        await Promise.all(
            Array.from({ length: FLOOD_CONNECTIONS }, async () => {
                while (next < requests) {
                    const status = await send(next++);
                    statuses.set(status, (statuses.get(status) ?? 0) + 1);
                }
            }),
        );
        const seconds = (Date.now() - started) / 1000;
        agent.destroy();
        const accessAfter = await settled(() => read(front.accessLogFile));
        await settled(() => read(front.refusedLogFile));
        // Rolled files are renamed at once and gzipped, and old ones removed, in the background
        // (lumberjack's mill, which filewriter.go configures).
        let rolled = rolledRefusals();
        for (let i = 0; i < 20 && rolled.some((name) => !name.endsWith(".gz")); i++) {
            await sleep(250);
            rolled = rolledRefusals();
        }
        const rate = (requests * lineBytes) / seconds;
        process.stdout.write(
            `# flood: ${requests} requests (${[...statuses].map(([s, n]) => `${n} × ${s}`).join(", ")}) on ${FLOOD_CONNECTIONS} connections in ${seconds.toFixed(1)} s, ` +
                `${lineBytes.toFixed(0)} bytes a line, ${(rate / MIB).toFixed(2)} MiB/s of log; ` +
                `the single log before (20 MiB × 6 files) filled in ${(OLD_LOG_BYTES / rate).toFixed(0)} s at that rate; ` +
                `refusal log now ${fs.statSync(front.refusedLogFile).size} bytes and rolled files ${JSON.stringify(rolled)}; ` +
                `access log ${Buffer.byteLength(accessBefore)} bytes before, ${Buffer.byteLength(accessAfter)} after\n`,
        );

        assert.equal(accessAfter, accessBefore, "the access log changed during the anonymous flood");
        assert.ok(rolled.length >= 1 && rolled.length <= ROLLS.refused.keep, `rolled refusal logs: ${JSON.stringify(rolled)}`);
        assert.ok(fs.statSync(front.refusedLogFile).size <= ROLLS.refused.rollMiB * MIB, "the refusal log is past its roll size");
        // The flood's first lines are gone: what is left holds fewer lines than were sent.
        const kept = linesOf(read(front.refusedLogFile)).length;
        assert.ok(kept < requests, `the refusal log still holds ${kept} of ${requests} lines`);
        assert.ok(parse(read(front.refusedLogFile)).every((line) => (line.user_id ?? "") === ""), "a refusal log line with a user");
    });

    test("the logged-in client's lines are still all there after the flood", async () => {
        assert.ok(accessBefore !== "");
        assert.equal(read(front.accessLogFile), accessBefore);
        // And the front still works for the logged-in client, whose line lands in the access log.
        assert.equal((await front.get("/v2/ci/app/tags/list", { auth: ci })).status, 200);
        const after = parse(await settled(() => read(front.accessLogFile)));
        assert.equal(after.length, parse(accessBefore).length + 1);
        assert.equal(after[after.length - 1].user_id, ci.username);
        assert.ok(!fs.readdirSync(path.dirname(front.accessLogFile)).some((name) => /^access-.+\.log/.test(name)), "the access log rolled");
    });
});
