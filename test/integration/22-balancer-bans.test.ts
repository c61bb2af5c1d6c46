/**
 * Check 22: behind the balancer, a source that keeps failing to log in is still refused. Every
 * packet a replica gets comes from the balancer, so the ban (fail2ban.ts, `behindBalancer`)
 * matches the PROXY protocol header that names the client instead of the packet's source.
 *
 * In network namespaces of this machine: the "droplet" runs the real registry, the front with
 * `proxyProtocol`, and fail2ban-server with the rendered filter, jail and action on the package's
 * own configuration, banning with the real iptables of that namespace. The stand-in balancer
 * (haproxy, test/harness/balancer.ts) runs in a namespace of its own and sends PROXY v1 to the
 * front, so every packet the droplet gets comes from the balancer, as on DigitalOcean. Client A
 * guesses passwords and client B works with the right one, both from the balancer's namespace,
 * each from an address of its own there (the clients never reach the droplet themselves).
 * Swapped for the namespaces: the log paths and a 5 s bantime.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { FAIL2BAN_DEFAULTS, FAIL2BAN_JAIL_NAME, renderFail2banFiles } from "../../components/render/fail2ban";
import { renderFrontConfig } from "../../components/render/front";
import { BALANCER_FORWARDING_RULE } from "../../components/render/balancer";
import { generateLogin, makeTempDir, ProcessTracker, systemBinary, waitUntil, type GeneratedLogin, type TempDir } from "../harness";
import { GUARD_LAB_REGISTRY, startFail2ban, startLoopbackRegistry, upstreamAuthorization, type LabFail2ban } from "../harness/guardLab";
import { passwordHashOf, caddyBinary, caddyEnvironment } from "../harness/front";
import { createNetworkLab, ip, type NetnsHost, type NetworkLab } from "../harness/netns";
import { Balancer } from "../harness/balancer";

const PORT = BALANCER_FORWARDING_RULE.targetPort;
const HOSTNAME = "registry.test";
const BAN_SECONDS = 5;
const MAX_RETRY = FAIL2BAN_DEFAULTS.maxRetry;
const REALM = "Registry";

interface Answer {
    /** HTTP status; 0 when no answer came. */
    status: number;
    /** curl's exit code: 0, or 35/56 when the connection was reset under TLS. */
    curlExit: number | null;
}

describe("failed logins behind the balancer: the ban follows the PROXY header", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let lab: NetworkLab;
    let balancer: NetnsHost;
    /** The clients' addresses, in the balancer's namespace. */
    const a = "192.0.2.10";
    const b = "192.0.2.11";
    let login: GeneratedLogin;
    let guard: LabFail2ban;
    let banned = false;

    /** One request through the balancer, on a connection of its own (so a PROXY header of its own). */
    async function ask(from: string, auth: "none" | "right" | "wrong"): Promise<Answer> {
        const args = ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "--connect-timeout", "3", "--max-time", "10", "--interface", from, "--resolve", `${HOSTNAME}:${PORT}:${balancer.address}`];
        if (auth !== "none") {
            const password = auth === "wrong" ? `wrong-${randomBytes(4).toString("hex")}` : login.password;
            args.push("-H", `Authorization: Basic ${Buffer.from(`${login.username}:${password}`).toString("base64")}`);
        }
        const result = await lab.run(balancer, systemBinary("curl"), [...args, `https://${HOSTNAME}:${PORT}/v2/`]);
        return { status: Number(result.stdout.trim() || "0"), curlExit: result.code };
    }

    const bannedList = async () => (await guard.jailStatus()).banned;

    /** Polls A with unauthenticated requests (which never count) until none is answered. */
    async function untilRefused(): Promise<Answer> {
        return waitUntil(
            async () => {
                const answer = await ask(a, "none");
                return answer.status === 0 ? { done: true, value: answer } : { done: false, seen: `HTTP ${answer.status}, curl exit ${answer.curlExit}` };
            },
            { description: "client A to be refused through the balancer", timeoutMs: 15_000, intervalMs: 200, abortIf: () => (guard.server.running ? undefined : `fail2ban-server exited:\n${guard.server.logTail()}`) },
        );
    }

    before(async () => {
        tmp = makeTempDir("rehearsal-balancer-bans");
        lab = createNetworkLab(tracker, ["balancer"]);
        balancer = lab.clients.balancer;
        ip(["-n", balancer.ns, "link", "set", "lo", "up"]);
        for (const address of [a, b]) {
            ip(["-n", balancer.ns, "addr", "add", `${address}/32`, "dev", "lo"]);
        }
        login = generateLogin("pusher");

        const frontLogin = startLoopbackRegistry(lab, tracker, tmp, REALM);

        const refusedLog = tmp.join("refused.log");
        fs.writeFileSync(
            tmp.join("Caddyfile"),
            renderFrontConfig({
                listen: `:${PORT}`,
                tls: { kind: "internal", hostname: HOSTNAME },
                users: [{ name: login.username, role: "push", passwordHash: passwordHashOf(login) }],
                realm: REALM,
                upstream: GUARD_LAB_REGISTRY,
                upstreamAuthorization: upstreamAuthorization(frontLogin),
                accessLogFile: tmp.join("access.log"),
                refusedLogFile: refusedLog,
                adminSocket: tmp.join("admin.sock"),
                proxyProtocol: { from: [`${balancer.address}/32`] },
            }),
        );
        const caddy = lab.inside(lab.droplet, caddyBinary(), ["run", "--config", tmp.join("Caddyfile"), "--adapter", "caddyfile"]);
        tracker.start("caddy", caddy.command, caddy.args, { logFile: tmp.join("caddy.log"), env: caddyEnvironment(tmp.path) });
        await Balancer.start(tracker, { dir: tmp.join("balancer"), ns: balancer.ns, address: balancer.address, servers: [{ name: "registry-host", address: lab.droplet.address }], checkName: HOSTNAME });
        await waitUntil(
            async () => {
                const answer = await ask(b, "right");
                return answer.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${answer.status}, curl exit ${answer.curlExit}` };
            },
            { description: "B's login to get 200 through the balancer", timeoutMs: 20_000 },
        );
        fs.appendFileSync(refusedLog, "");

        const files = renderFail2banFiles({ refusedLogPath: refusedLog, ports: [PORT], maxRetry: MAX_RETRY, findTimeSeconds: FAIL2BAN_DEFAULTS.findTimeSeconds, banTimeSeconds: BAN_SECONDS, behindBalancer: true });
        guard = await startFail2ban(lab, tracker, tmp, files);
    });

    after(async () => {
        try {
            await tracker.dispose();
        } finally {
            lab?.remove();
            tmp?.remove();
        }
    });

    test(`after ${MAX_RETRY} wrong passwords through the balancer, A is refused there and B is not`, async () => {
        for (let i = 0; i < MAX_RETRY; i++) {
            assert.equal((await ask(a, "wrong")).status, 401, `guess ${i + 1}`);
        }
        const refused = await untilRefused();
        banned = true;
        assert.notEqual(refused.curlExit, 0, "curl saw the reset as an error");
        assert.deepEqual(await bannedList(), [a]);
        // The rule names A in the header; the packets themselves come from the balancer.
        const rules = await lab.run(lab.droplet, systemBinary("iptables"), ["-w", "-S", `f2b-${FAIL2BAN_JAIL_NAME}`]);
        assert.match(rules.stdout, new RegExp(`--string "PROXY TCP4 ${a.replace(/\./g, "\\.")} " .*-j REJECT --reject-with tcp-reset`), rules.stdout);
        assert.equal((await ask(a, "right")).status, 0, "A's right password while banned");
        assert.equal((await ask(b, "right")).status, 200, "B's right password while A is banned");
        assert.equal((await ask(b, "none")).status, 401, "B's unauthenticated request while A is banned");
    });

    test(`the ban ends after bantime (${BAN_SECONDS} s): the unban removes the very rule the ban added`, async () => {
        assert.ok(banned, "A was never banned");
        await waitUntil(
            async () => {
                const answer = await ask(a, "right");
                return answer.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${answer.status}, curl exit ${answer.curlExit}` };
            },
            { description: "A's right password to get 200 after the ban", timeoutMs: (BAN_SECONDS + 10) * 1000, intervalMs: 200 },
        );
        assert.deepEqual(await bannedList(), []);
        const rules = await lab.run(lab.droplet, systemBinary("iptables"), ["-w", "-S", `f2b-${FAIL2BAN_JAIL_NAME}`]);
        assert.doesNotMatch(rules.stdout, /PROXY/, rules.stdout);
    });
});
