/**
 * The fail2ban filter against the real front: Caddy (.cache/bin/caddy) serves the Caddyfile
 * renderFrontConfig renders and writes its JSON logs; Debian's fail2ban-regex reads the refusal
 * log, which the jail names, with the filter renderFail2banFiles renders. Only failed logins may count, with the
 * address Caddy saw and the time Caddy wrote. The jail is parsed by fail2ban-client with the
 * package's own jail.conf and actions, as on the droplet.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";
import { FAIL2BAN_DEFAULTS, FAIL2BAN_JAIL_NAME, FAILED_LOGIN_IPV6_PREFIX, renderFail2banFiles } from "../../components/render/fail2ban";
import { renderFrontConfig } from "../../components/render/front";
import { caddyBinary, caddyEnvironment } from "../harness/front";
import { freePort, LOOPBACK } from "../harness/ports";
import { ProcessTracker, type TrackedProcess } from "../harness/processes";
import { makeTempDir, systemBinary, type TempDir } from "../harness/tools";
import { waitUntil } from "../harness/wait";

const USER = { name: "reader", password: "right-password" };

interface Sent {
    what: string;
    method: string;
    headers: Record<string, string>;
    status: number;
    counts: boolean;
    /** The front's log the line goes to: the access log once basic_auth accepted the login. */
    log: "refused" | "access";
}

function basic(password: string): string {
    return `Basic ${Buffer.from(`${USER.name}:${password}`).toString("base64")}`;
}

function bracedHeaders(): Record<string, string> {
    return Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`X-Note-${i}`, '{"a":"}"}}']));
}

/** What a client sends, the front's answer and whether fail2ban must count it as a failed login. */
const REQUESTS: Sent[] = [
    { what: "a Docker client's first, unauthenticated request", method: "GET", headers: {}, status: 401, counts: false, log: "refused" },
    { what: "a wrong password", method: "GET", headers: { Authorization: basic("wrong") }, status: 401, counts: true, log: "refused" },
    { what: "the right password", method: "GET", headers: { Authorization: basic(USER.password) }, status: 200, counts: false, log: "access" },
    { what: "a push by a pull-only user (refused, 403)", method: "PUT", headers: { Authorization: basic(USER.password) }, status: 403, counts: false, log: "access" },
    // A value that reads like the key (Caddy escapes its quotes) must not make a request count.
    { what: "no login, a header value naming Authorization", method: "GET", headers: { "X-Note": '"Authorization":["x"]}' }, status: 401, counts: false, log: "refused" },
    // Braces in values must not hide the Authorization key from the filter. Caddy logs the
    // headers in random order: with 30 of them, Authorization comes first once in 31 requests.
    ...[1, 2, 3].map((n): Sent => ({ what: `a wrong password among headers with braces (${n})`, method: "GET", headers: { Authorization: basic(`guess-${n}`), ...bracedHeaders() }, status: 401, counts: true, log: "refused" })),
    { what: "a scheme the front does not take", method: "GET", headers: { Authorization: "Bearer abc" }, status: 401, counts: true, log: "refused" },
    // The headers are not logged: 16 KB of them neither count nor lengthen the line.
    { what: "no login, a 16 KB header", method: "GET", headers: { "X-Pad": "p".repeat(16 * 1024) }, status: 401, counts: false, log: "refused" },
    { what: "a wrong password with a 16 KB header", method: "GET", headers: { Authorization: basic("padded"), "X-Pad": "p".repeat(16 * 1024) }, status: 401, counts: true, log: "refused" },
    // Answered by the front's unknown-user matcher, before basic_auth: counted all the same.
    { what: "an unknown user name", method: "GET", headers: { Authorization: `Basic ${Buffer.from("admin:guess").toString("base64")}` }, status: 401, counts: true, log: "refused" },
    { what: "a near miss of the user's name", method: "GET", headers: { Authorization: `Basic ${Buffer.from(`${USER.name}s:${USER.password}`).toString("base64")}` }, status: 401, counts: true, log: "refused" },
];

function send(port: number, sent: Sent): Promise<number> {
    const uri = sent.method === "PUT" ? "/v2/team/app/manifests/v1" : "/v2/";
    return new Promise((resolve, reject) => {
        const req = http.request({ host: LOOPBACK, port, method: sent.method, path: uri, headers: sent.headers, agent: false }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end();
    });
}

function fail2banRegex(args: string[]): string {
    const result = spawnSync(systemBinary("fail2ban-regex"), args, { encoding: "utf8", timeout: 60_000 });
    assert.equal(result.status, 0, `fail2ban-regex ${args.join(" ")}:\n${result.stdout}${result.stderr}`);
    return result.stdout;
}

describe("fail2ban's filter on the real front's refusal log", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let upstream: http.Server;
    let caddy: TrackedProcess;
    let port: number;
    let accessLog: string;
    let refusedLog: string;
    let filterFile: string;
    /** Each log's lines, in the order of REQUESTS. */
    let lines: Record<Sent["log"], { ts: number; status: number; user_id: string }[]>;
    const sentTo = (log: Sent["log"]) => REQUESTS.filter((sent) => sent.log === log);

    before(async () => {
        tmp = makeTempDir("fail2ban-unit");
        accessLog = tmp.join("access.log");
        refusedLog = tmp.join("refused.log");
        upstream = http.createServer((_req, res) => res.end("{}"));
        await new Promise<void>((resolve) => upstream.listen(0, LOOPBACK, resolve));
        const upstreamPort = (upstream.address() as { port: number }).port;
        port = await freePort();
        const caddyfile = renderFrontConfig({
            listen: `${LOOPBACK}:${port}`,
            tls: { kind: "none" },
            users: [{ name: USER.name, role: "pull", passwordHash: renderFrontPasswordHash({ password: USER.password, salt: "front-test-salt" }) }],
            realm: "Registry",
            upstream: `${LOOPBACK}:${upstreamPort}`,
            upstreamAuthorization: "Basic ZnJvbnQ6dGVzdA==",
            accessLogFile: accessLog,
            refusedLogFile: refusedLog,
            adminSocket: tmp.join("admin.sock"),
        });
        fs.writeFileSync(tmp.join("Caddyfile"), caddyfile);
        caddy = tracker.start("caddy", caddyBinary(), ["run", "--config", tmp.join("Caddyfile"), "--adapter", "caddyfile"], {
            logFile: tmp.join("caddy.log"),
            env: caddyEnvironment(tmp.path),
        });
        await waitUntil(
            async () => {
                const status = await send(port, REQUESTS[0]);
                return status === 401 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${status}` };
            },
            { description: "the front to answer", timeoutMs: 15_000, abortIf: () => (caddy.running ? undefined : `caddy exited:\n${caddy.logTail()}`) },
        );
        // Caddy writes a request's line after answering it: wait for the warm-up's line, so that
        // only the requests below are in the log the filter reads.
        await waitUntil(
            async () => (fs.existsSync(refusedLog) && fs.statSync(refusedLog).size > 0 ? { done: true, value: undefined } : { done: false, seen: "no line yet" }),
            { description: "the warm-up request's refusal log line", timeoutMs: 10_000 },
        );
        fs.truncateSync(refusedLog, 0);
        assert.ok(!fs.existsSync(accessLog) || fs.statSync(accessLog).size === 0, "the warm-up's anonymous request is in the access log");
        for (const sent of REQUESTS) {
            assert.equal(await send(port, sent), sent.status, sent.what);
        }
        const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as { ts: number; status: number; user_id: string }) : []);
        lines = await waitUntil(
            async () => {
                const [refused, access] = [read(refusedLog), read(accessLog)];
                const done = refused.length === sentTo("refused").length && access.length === sentTo("access").length;
                return done ? { done: true, value: { refused, access } } : { done: false, seen: `${refused.length} refusal and ${access.length} access log lines` };
            },
            { description: "one line per request, each in its log", timeoutMs: 10_000 },
        );
        const files = renderFail2banFiles({ refusedLogPath: refusedLog, ports: [port], ...FAIL2BAN_DEFAULTS });
        filterFile = tmp.join(`${FAIL2BAN_JAIL_NAME}.conf`);
        fs.writeFileSync(filterFile, files.filter);
    });

    after(async () => {
        await tracker.dispose();
        await new Promise((resolve) => upstream?.close(resolve));
        tmp?.remove();
    });

    test("counts exactly the failed logins, with the client's address and Caddy's time", () => {
        // `-o row`: one `['<address>', <epoch>, {...}],` per counted line (fail2ban-regex --help).
        const rows = fail2banRegex(["-o", "row", refusedLog, filterFile])
            .split("\n")
            .map((line) => /^\['([^']+)',\s*([\d.]+),/.exec(line))
            .filter((m) => m !== null)
            // Whole seconds: fail2ban's {EPOCH} is `\d{10,11}\b(?:\.\d{3,6})?` (1.0.2
            // server/datetemplate.py), so it keeps Caddy's fraction only when it has 3 to 6 digits.
            .map((m) => ({ address: m[1], time: Math.floor(Number(m[2])) }));
        const expected = sentTo("refused").flatMap((sent, i) => (sent.counts ? [{ address: LOOPBACK, time: Math.floor(lines.refused[i].ts) }] : []));
        assert.deepEqual(rows, expected, REQUESTS.map((s) => `${s.counts ? "counts" : "ignored"}: ${s.what}`).join("\n"));
    });

    test("every failed login is in the refusal log; the access log has only the logged-in user's lines", () => {
        assert.ok(REQUESTS.filter((sent) => sent.counts).every((sent) => sent.log === "refused"));
        assert.deepEqual(lines.refused.map((line) => [line.status, line.user_id]), sentTo("refused").map((sent) => [sent.status, ""]), "the refusal log's lines");
        assert.deepEqual(lines.access.map((line) => [line.status, line.user_id]), sentTo("access").map((sent) => [sent.status, USER.name]), "the access log's lines");
        // Nothing there would count anyway: whoever reads it for failed logins finds none.
        assert.match(fail2banRegex([accessLog, filterFile]), new RegExp(`Lines: ${sentTo("access").length} lines, 0 ignored, 0 matched`));
    });

    test("every line is short, whatever the client sent", () => {
        const longest = Math.max(...[accessLog, refusedLog].flatMap((file) => fs.readFileSync(file, "utf8").split("\n")).map((line) => line.length));
        assert.ok(longest < 1024, `a line of ${longest} characters`);
    });

    test("finds Caddy's timestamp on every line", () => {
        const out = fail2banRegex([refusedLog, filterFile]);
        const total = sentTo("refused").length;
        assert.match(out, new RegExp(`\\[${total}\\] "ts":\\{EPOCH\\}`), out);
        const counted = REQUESTS.filter((sent) => sent.counts).length;
        assert.match(out, new RegExp(`Lines: ${total} lines, 0 ignored, ${counted} matched, ${total - counted} missed`), out);
    });

    test("the jail loads with the package's jail.conf and bans with iptables on the front's port", () => {
        // The package's config directory with our two files instead of its jail.d (which only
        // enables sshd): what fail2ban-client reads on the droplet.
        const conf = tmp.join("etc-fail2ban");
        fs.cpSync("/etc/fail2ban", conf, { recursive: true });
        fs.rmSync(path.join(conf, "jail.d"), { recursive: true, force: true });
        fs.mkdirSync(path.join(conf, "jail.d"));
        const files = renderFail2banFiles({ refusedLogPath: refusedLog, ports: [port, 8443], ...FAIL2BAN_DEFAULTS });
        fs.writeFileSync(path.join(conf, "jail.d", `${FAIL2BAN_JAIL_NAME}.local`), files.jail);
        fs.writeFileSync(path.join(conf, "filter.d", `${FAIL2BAN_JAIL_NAME}.conf`), files.filter);
        fs.writeFileSync(path.join(conf, "action.d", `${FAIL2BAN_JAIL_NAME}.conf`), files.action);
        const result = spawnSync(systemBinary("fail2ban-client"), ["--conf", conf, "-d"], { encoding: "utf8", timeout: 60_000 });
        const dump = result.stdout + result.stderr;
        assert.equal(result.status, 0, dump);
        const set = (what: string) => dump.includes(`['set', '${FAIL2BAN_JAIL_NAME}', ${what}]`);
        assert.ok(set(`'maxretry', ${FAIL2BAN_DEFAULTS.maxRetry}`), dump);
        assert.ok(set(`'findtime', '${FAIL2BAN_DEFAULTS.findTimeSeconds}'`), dump);
        assert.ok(set(`'bantime', '${FAIL2BAN_DEFAULTS.banTimeSeconds}'`), dump);
        assert.ok(set(`'addlogpath', '${refusedLog}', 'head'`), dump);
        assert.ok(!dump.includes(accessLog), "the jail reads the access log");
        assert.ok(set(`'addignoreip', '127.0.0.1/8', '::1'`), dump);
        assert.match(dump, /\['add', 'private-registry-front', 'polling'\]/, dump);
        assert.ok(dump.includes(`['actionban', '<iptables> -I f2b-${FAIL2BAN_JAIL_NAME} 1 -s <ip><banprefix> -j <blocktype>']`), dump);
        assert.ok(dump.includes(`['blocktype', 'REJECT --reject-with icmp-port-unreachable']`), dump);
        // An IPv6 ticket (the /64 the refusal log names) is banned as a /64, with ip6tables.
        assert.ok(dump.includes(`['banprefix', ''], ['banprefix?family=inet6', '/${FAILED_LOGIN_IPV6_PREFIX}']`), dump);
        assert.ok(dump.includes(`['iptables?family=inet6', 'ip6tables <lockingopt>']`), dump);
        assert.match(dump, new RegExp(`INPUT -p \\S+ -m multiport --dports ${port},8443 -j f2b-${FAIL2BAN_JAIL_NAME}`), dump);
        assert.ok(dump.includes("['protocol', 'tcp']"), dump);
    });
});

describe("the ban behind a balancer", () => {
    const files = (behindBalancer: boolean) => renderFail2banFiles({ refusedLogPath: "/var/log/private-registry/front-refused.log", ports: [443], ...FAIL2BAN_DEFAULTS, behindBalancer });

    test("matches the PROXY header that names the client, and resets the connection, in a rule iptables accepts", () => {
        const action = files(true).action;
        // tcp-reset is refused by iptables without -p tcp (check 22 runs the real insert).
        const rule = '-p tcp -m string --algo bm --to 227 --string "PROXY TCP4 <ip> " -j REJECT --reject-with tcp-reset';
        assert.ok(action.includes(`actionban = <iptables> -I f2b-<name> 1 ${rule}`), action);
        assert.ok(action.includes(`actionunban = <iptables> -D f2b-<name> ${rule}`), action);
        assert.doesNotMatch(action, /-s <ip>/);
    });

    test("leaves the direct ban by source address as it was", () => {
        assert.doesNotMatch(files(false).action, /PROXY/);
        assert.equal(files(false).jail, files(true).jail, "only the action differs");
    });
});
