/**
 * Check 14: a source that keeps failing to log in is refused, the right credentials from other
 * sources are not. In network namespaces of this machine: a "droplet" runs the real registry
 * (filesystem storage), Caddy with the rendered front config and fail2ban-server with the
 * rendered filter and jail on the package's own jail.conf and actions, banning with the real
 * iptables of that namespace. Client A guesses passwords, client B works with the right one;
 * each also has an IPv6 /64 of its own, from which A guesses with a fresh address each time.
 * Swapped for the namespaces: the log path, the front's port, and a 5 s bantime.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { FAIL2BAN_DEFAULTS, FAIL2BAN_JAIL_NAME, FAILED_LOGIN_IPV6_PREFIX, renderFail2banFiles } from "../../components/render/fail2ban";
import { renderFrontConfig } from "../../components/render/front";
import { generateLogin, makeTempDir, ProcessTracker, systemBinary, waitUntil, type GeneratedLogin, type TempDir } from "../harness";
import { GUARD_LAB_REGISTRY, startFail2ban, startLoopbackRegistry, upstreamAuthorization, type LabFail2ban } from "../harness/guardLab";
import { passwordHashOf, caddyBinary, caddyEnvironment } from "../harness/front";
import { createNetworkLab, ip, type NetnsHost, type NetworkLab } from "../harness/netns";

const FRONT_PORT = 8443;
const BAN_SECONDS = 5;
const MAX_RETRY = FAIL2BAN_DEFAULTS.maxRetry;
const REALM = "Registry";

interface Answer {
    /** HTTP status; 0 when no connection was made. */
    status: number;
    /** curl's exit code: 7 is "connection refused" (the ban's REJECT), 28 a timeout. */
    curlExit: number | null;
    ms: number;
}

describe("failed logins: fail2ban refuses the guessing source, not the user", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let lab: NetworkLab;
    let a: NetnsHost;
    let b: NetnsHost;
    let login: GeneratedLogin;
    let guard: LabFail2ban;
    let refusedLog: string;
    /** When A's last counted guess was answered; fail2ban's ban runs from that line's time. */
    let lastGuessAt = 0;
    const figures: string[] = [];

    /** One request from a client namespace to the front, with curl. */
    /** `unknown`: a user name the front does not know (refused before any hash), with the right password. */
    /** `source`: an IPv6 address of the client's to send from, to the droplet's IPv6 address. */
    async function ask(from: NetnsHost, auth: "none" | "right" | "wrong" | "unknown", uri = "/v2/", source?: string): Promise<Answer> {
        const args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--connect-timeout", "3", "--max-time", "10"];
        const host = source === undefined ? lab.droplet.address : `[${lab.droplet.address6 ?? ""}]`;
        if (source !== undefined) {
            args.push("--interface", source);
        }
        if (auth !== "none") {
            const password = auth === "wrong" ? `wrong-${randomBytes(4).toString("hex")}` : login.password;
            const user = auth === "unknown" ? `${login.username}-${randomBytes(2).toString("hex")}` : login.username;
            args.push("-H", `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`);
        }
        const result = await lab.run(from, systemBinary("curl"), [...args, `http://${host}:${FRONT_PORT}${uri}`]);
        return { status: Number(result.stdout.trim() || "0"), curlExit: result.code, ms: result.durationMs };
    }

    const client = (...args: string[]) => guard.client(...args);
    const jailStatus = () => guard.jailStatus();

    async function waitForStatus(predicate: (s: { totalFailed: number; banned: string[] }) => boolean, description: string) {
        return waitUntil(
            async () => {
                const status = await jailStatus();
                return predicate(status) ? { done: true, value: status } : { done: false, seen: JSON.stringify(status) };
            },
            { description, timeoutMs: 15_000, intervalMs: 100, abortIf: () => (guard.server.running ? undefined : `fail2ban-server exited:\n${guard.server.logTail()}`) },
        );
    }

    /** Sends wrong passwords (or unknown user names) from A until fail2ban has counted `count` more; returns when the last was answered. */
    async function guess(count: number, what: "wrong" | "unknown" = "wrong"): Promise<number> {
        let last = 0;
        for (let i = 0; i < count; i++) {
            const answer = await ask(a, what);
            assert.equal(answer.status, 401, `guess ${i + 1} of ${count}`);
            last = Date.now();
        }
        return last;
    }

    /** Polls A with unauthenticated requests (which never count) until it is refused; ms after `since`. */
    async function untilRefused(since: number): Promise<number> {
        await waitUntil(
            async () => {
                const answer = await ask(a, "none", "/");
                return answer.curlExit === 7 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${answer.status}, curl exit ${answer.curlExit}` };
            },
            { description: "client A to be refused", timeoutMs: 15_000, intervalMs: 100 },
        );
        return Date.now() - since;
    }

    before(async () => {
        tmp = makeTempDir("rehearsal-failed-logins");
        lab = createNetworkLab(tracker, ["a", "b"], { ipv6: true });
        a = lab.clients.a;
        b = lab.clients.b;
        login = generateLogin("pusher");

        // The registry behind the front, on the droplet's loopback, as on the droplet.
        const frontLogin = startLoopbackRegistry(lab, tracker, tmp, REALM);

        // fail2ban reads the refusal log, where the front writes every 401 (front.ts `log_name`).
        refusedLog = tmp.join("refused.log");
        fs.writeFileSync(
            tmp.join("Caddyfile"),
            renderFrontConfig({
                // Every address, IPv4 and IPv6, as on the droplet (`:443`).
                listen: `:${FRONT_PORT}`,
                tls: { kind: "none" },
                users: [{ name: login.username, role: "push", passwordHash: passwordHashOf(login) }],
                realm: REALM,
                upstream: GUARD_LAB_REGISTRY,
                upstreamAuthorization: upstreamAuthorization(frontLogin),
                accessLogFile: tmp.join("access.log"),
                refusedLogFile: refusedLog,
                adminSocket: tmp.join("admin.sock"),
            }),
        );
        const caddy = lab.inside(lab.droplet, caddyBinary(), ["run", "--config", tmp.join("Caddyfile"), "--adapter", "caddyfile"]);
        const caddyProcess = tracker.start("caddy", caddy.command, caddy.args, { logFile: tmp.join("caddy.log"), env: caddyEnvironment(tmp.path) });
        // B's right password through the front and the registry. Its line goes to the access log;
        // the refusal log is created as the droplet's guard creates it (loginGuard.ts), since
        // fail2ban refuses to start a jail whose log does not exist.
        await waitUntil(
            async () => {
                const answer = await ask(b, "right");
                return answer.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${answer.status}, curl exit ${answer.curlExit}` };
            },
            { description: "B's login to get 200 through the front", timeoutMs: 20_000, abortIf: () => (caddyProcess.running ? undefined : `caddy exited:\n${caddyProcess.logTail()}`) },
        );
        fs.appendFileSync(refusedLog, "");

        const files = renderFail2banFiles({ refusedLogPath: refusedLog, ports: [FRONT_PORT], maxRetry: MAX_RETRY, findTimeSeconds: FAIL2BAN_DEFAULTS.findTimeSeconds, banTimeSeconds: BAN_SECONDS });
        guard = await startFail2ban(lab, tracker, tmp, files);
    });

    after(async () => {
        if (figures.length > 0) {
            process.stderr.write(`[14-failed-logins] ${figures.join("; ")}\n`);
        }
        try {
            await tracker.dispose();
        } finally {
            // Deleted by the tracker's cleanup already; again in case it threw first.
            lab?.remove();
            tmp?.remove();
        }
    });

    test("B's unauthenticated first requests and right password never count", async () => {
        for (let i = 0; i < MAX_RETRY + 5; i++) {
            assert.equal((await ask(b, "none")).status, 401);
            assert.equal((await ask(b, "right")).status, 200);
        }
        // One guess from A: once fail2ban has counted it, it has read every line before it.
        await guess(1);
        const status = await waitForStatus((s) => s.totalFailed >= 1, "A's first guess to count");
        assert.deepEqual(status, { totalFailed: 1, banned: [] });
    });

    test(`after ${MAX_RETRY} wrong passwords A is refused within seconds, B is not`, async () => {
        const last = await guess(MAX_RETRY - 1);
        const ms = await untilRefused(last);
        lastGuessAt = last;
        figures.push(`refused ${ms} ms after the ${MAX_RETRY}th failed login`);
        assert.ok(ms < 5000, `ban took ${ms} ms`);
        assert.deepEqual(await jailStatus(), { totalFailed: MAX_RETRY, banned: [a.address] });
        const rules = await lab.run(lab.droplet, systemBinary("iptables"), ["-w", "-S", `f2b-${FAIL2BAN_JAIL_NAME}`]);
        assert.match(rules.stdout, new RegExp(`-A f2b-${FAIL2BAN_JAIL_NAME} -s ${a.address.replace(/\./g, "\\.")}/32 -j REJECT`), rules.stdout);
        assert.equal((await ask(b, "right")).status, 200, "B's right password while A is banned");
        assert.equal((await ask(b, "none")).status, 401, "B's unauthenticated request while A is banned");
    });

    test("while banned, A's right password is refused too", async () => {
        assert.ok(lastGuessAt > 0, "A was never banned");
        const answer = await ask(a, "right");
        assert.equal(answer.curlExit, 7, `A's right password: ${JSON.stringify(answer)}`);
        assert.equal(answer.status, 0);
    });

    test(`the ban ends after bantime (${BAN_SECONDS} s)`, async () => {
        assert.ok(lastGuessAt > 0, "A was never banned");
        await waitUntil(
            async () => {
                const answer = await ask(a, "right");
                return answer.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${answer.status}, curl exit ${answer.curlExit}` };
            },
            { description: "A's right password to get 200 after the ban", timeoutMs: (BAN_SECONDS + 10) * 1000, intervalMs: 100 },
        );
        const ms = Date.now() - lastGuessAt;
        figures.push(`A back ${ms} ms after its ${MAX_RETRY}th failed login (bantime ${BAN_SECONDS} s)`);
        // The ban runs from the failure's logged time, which fail2ban reads in whole seconds.
        assert.ok(ms >= (BAN_SECONDS - 1) * 1000 && ms < (BAN_SECONDS + 3) * 1000, `ban lifted ${ms} ms after the last failed login`);
        assert.deepEqual((await jailStatus()).banned, []);
    });

    test("fail2ban-client unbans A at once", async () => {
        const last = await guess(MAX_RETRY);
        figures.push(`second ban ${await untilRefused(last)} ms after the last failed login`);
        const unbanned = Date.now();
        await client("set", FAIL2BAN_JAIL_NAME, "unbanip", a.address);
        const answer = await ask(a, "right");
        assert.equal(answer.status, 200, JSON.stringify(answer));
        figures.push(`unban to A's 200: ${Date.now() - unbanned} ms`);
        assert.ok(Date.now() - unbanned < (BAN_SECONDS - 1) * 1000, "A came back through the unban, not the ban's expiry");
    });

    test("a source guessing unknown user names is refused the same way", async () => {
        // A was unbanned just before: its failures start again from none.
        const since = (await jailStatus()).totalFailed;
        const last = await guess(MAX_RETRY, "unknown");
        figures.push(`unknown names: refused ${await untilRefused(last)} ms after the ${MAX_RETRY}th`);
        const status = await jailStatus();
        assert.deepEqual(status, { totalFailed: since + MAX_RETRY, banned: [a.address] });
        assert.equal((await ask(b, "right")).status, 200, "B's right password while A is banned");
        await client("set", FAIL2BAN_JAIL_NAME, "unbanip", a.address);
    });

    test("an IPv6 source is counted and banned by its /64, whatever address in it each guess comes from", async () => {
        const prefix = a.prefix6 ?? assert.fail("the lab has no IPv6");
        const since = (await jailStatus()).totalFailed;
        // One guess from each of maxRetry fresh addresses of A's /64: counted per address, none
        // would reach maxRetry.
        let last = 0;
        for (let i = 1; i <= MAX_RETRY; i++) {
            const source = `${prefix}:${(0x1000 + i).toString(16)}`;
            ip(["-n", a.ns, "-6", "addr", "add", `${source}/128`, "dev", "eth0", "nodad"]);
            const answer = await ask(a, "wrong", "/v2/", source);
            assert.equal(answer.status, 401, `guess from ${source}`);
            last = Date.now();
        }
        const banned = `${prefix}:`;
        // fail2ban lists the ticket as banned before its action has run: the rule is what refuses.
        const rule = `-A f2b-${FAIL2BAN_JAIL_NAME} -s ${banned}/${FAILED_LOGIN_IPV6_PREFIX} -j REJECT`;
        await waitUntil(
            async () => {
                const rules = await lab.run(lab.droplet, systemBinary("ip6tables"), ["-w", "-S", `f2b-${FAIL2BAN_JAIL_NAME}`]);
                return rules.stdout.includes(rule) ? { done: true, value: undefined } : { done: false, seen: rules.stdout.trim() || rules.stderr.trim() };
            },
            { description: "A's /64 to be banned by an ip6tables rule", timeoutMs: 15_000, intervalMs: 100, abortIf: () => (guard.server.running ? undefined : `fail2ban-server exited:\n${guard.server.logTail()}`) },
        );
        figures.push(`IPv6: ${MAX_RETRY} guesses from ${MAX_RETRY} addresses of one /64 banned it ${Date.now() - last} ms after the last`);
        assert.deepEqual(await jailStatus(), { totalFailed: since + MAX_RETRY, banned: [banned] });

        // An address of that /64 that never guessed is refused with them, right password or not.
        const fresh = `${prefix}:beef`;
        ip(["-n", a.ns, "-6", "addr", "add", `${fresh}/128`, "dev", "eth0", "nodad"]);
        const refused = await ask(a, "right", "/v2/", fresh);
        assert.equal(refused.curlExit, 7, `a fresh address of the banned /64: ${JSON.stringify(refused)}`);
        // The neighbour's /64, and A's own IPv4 address, are not.
        assert.equal((await ask(b, "right", "/v2/", b.address6)).status, 200, "B's right password over IPv6 while A's /64 is banned");
        assert.equal((await ask(a, "right")).status, 200, "A's right password over IPv4 while its /64 is banned");

        // The refusal log counted the /64 and kept the whole address for whoever reads it.
        const lines = fs.readFileSync(refusedLog, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { request: { remote_ip: string; client_ip: string } });
        const guesses = lines.filter((line) => line.request.client_ip === banned);
        assert.equal(guesses.length, MAX_RETRY, "the refusal log's lines for A's /64");
        assert.deepEqual(new Set(guesses.map((line) => line.request.remote_ip)).size, MAX_RETRY, "each guess's own address in remote_ip");

        await client("set", FAIL2BAN_JAIL_NAME, "unbanip", banned);
        assert.equal((await ask(a, "right", "/v2/", fresh)).status, 200, "A's /64 after the unban");
    });
});
