import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { FAIL2BAN_JAIL_NAME, type Fail2banFiles } from "../../components/render/fail2ban";
import { UPSTREAM_USERNAME } from "../../components/render/deployment";
import { renderRegistryConfig } from "../../components/render/registryConfig";
import type { NetworkLab } from "./netns";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { generateLogin, registryEnvironment, type GeneratedLogin } from "./registry";
import { cachedBinary, systemBinary, type TempDir } from "./tools";
import { waitUntil } from "./wait";

/**
 * The failed-login checks' droplet (checks 14 and 22): the real registry behind the front on the
 * droplet namespace's loopback, and fail2ban-server with the rendered jail banning with that
 * namespace's own iptables.
 */

/** Where the registry listens: the droplet's loopback, as on the droplet. */
export const GUARD_LAB_REGISTRY = "127.0.0.1:5000";

/** fail2ban needs sbin for iptables; `ip netns exec` keeps the environment. */
const FAIL2BAN_ENV = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` };

/**
 * Starts the registry (filesystem storage) on the droplet's loopback. It knows the front's own
 * login alone, which the front sends in place of the client's; that login is returned.
 */
export function startLoopbackRegistry(lab: NetworkLab, tracker: ProcessTracker, tmp: TempDir, realm: string): GeneratedLogin {
    const frontLogin = generateLogin(UPSTREAM_USERNAME);
    const htpasswd = tmp.join("htpasswd");
    fs.writeFileSync(htpasswd, frontLogin.htpasswd);
    fs.writeFileSync(
        tmp.join("registry.yml"),
        renderRegistryConfig({
            storage: { kind: "filesystem", rootDirectory: tmp.join("registry-data") },
            redirect: false,
            http: { addr: GUARD_LAB_REGISTRY, secret: randomBytes(16).toString("hex"), tls: { kind: "none" }, debugAddr: "127.0.0.1:5001" },
            auth: { realm, htpasswdPath: htpasswd },
        }),
    );
    const registry = lab.inside(lab.droplet, cachedBinary("registry"), ["serve", tmp.join("registry.yml")]);
    tracker.start("registry", registry.command, registry.args, { logFile: tmp.join("registry.log"), env: registryEnvironment() });
    return frontLogin;
}

/** The `Authorization` value the front sends the registry for that login. */
export function upstreamAuthorization(frontLogin: GeneratedLogin): string {
    return `Basic ${Buffer.from(`${frontLogin.username}:${frontLogin.password}`).toString("base64")}`;
}

/** `Total failed` and the banned addresses, as `fail2ban-client status <jail>` gives them. */
export interface JailStatus {
    totalFailed: number;
    banned: string[];
}

/** A running fail2ban-server of the lab, and its client. */
export interface LabFail2ban {
    server: TrackedProcess;
    /** `fail2ban-client` against this server; throws when it fails. */
    client(...args: string[]): Promise<string>;
    /** The jail's status. */
    jailStatus(): Promise<JailStatus>;
}

/**
 * Starts fail2ban-server in the droplet namespace on the package's configuration with the
 * rendered filter, jail and action instead of its jail.d (sshd), and resolves once the jail runs.
 * The refusal log the jail names must exist: fail2ban refuses to start a jail without it.
 */
export async function startFail2ban(lab: NetworkLab, tracker: ProcessTracker, tmp: TempDir, files: Fail2banFiles): Promise<LabFail2ban> {
    const conf = tmp.join("fail2ban");
    fs.cpSync("/etc/fail2ban", conf, { recursive: true });
    fs.rmSync(path.join(conf, "jail.d"), { recursive: true, force: true });
    fs.mkdirSync(path.join(conf, "jail.d"));
    fs.writeFileSync(path.join(conf, "filter.d", `${FAIL2BAN_JAIL_NAME}.conf`), files.filter);
    fs.writeFileSync(path.join(conf, "jail.d", `${FAIL2BAN_JAIL_NAME}.local`), files.jail);
    fs.writeFileSync(path.join(conf, "action.d", `${FAIL2BAN_JAIL_NAME}.conf`), files.action);
    fs.writeFileSync(path.join(conf, "fail2ban.local"), ["[Definition]", `logtarget = ${tmp.join("fail2ban.log")}`, "dbfile = :memory:", ""].join("\n"));
    const socket = tmp.join("fail2ban.sock");
    const command = lab.inside(lab.droplet, systemBinary("fail2ban-server"), ["-f", "-x", "-c", conf, "-s", socket, "-p", tmp.join("fail2ban.pid")]);
    const server = tracker.start("fail2ban", command.command, command.args, { logFile: tmp.join("fail2ban-server.out"), env: FAIL2BAN_ENV });
    await waitUntil(
        async () => {
            const out = await tracker.run(systemBinary("fail2ban-client"), ["-s", socket, "status", FAIL2BAN_JAIL_NAME], { timeoutMs: 10_000 });
            return out.code === 0 ? { done: true, value: undefined } : { done: false, seen: out.stderr.trim() };
        },
        { description: "fail2ban's jail to start", timeoutMs: 15_000, intervalMs: 100, abortIf: () => (server.running ? undefined : `fail2ban-server exited:\n${server.logTail()}`) },
    );
    const client = async (...args: string[]) => (await tracker.runChecked(systemBinary("fail2ban-client"), ["-s", socket, ...args], { timeoutMs: 30_000 })).stdout;
    const jailStatus = async (): Promise<JailStatus> => {
        const out = await client("status", FAIL2BAN_JAIL_NAME);
        const total = /Total failed:\s+(\d+)/.exec(out);
        const list = /Banned IP list:[ \t]*(.*)/.exec(out);
        if (total === null || list === null) {
            throw new Error(`fail2ban-client status ${FAIL2BAN_JAIL_NAME} said:\n${out}`);
        }
        return { totalFailed: Number(total[1]), banned: list[1].trim().split(/\s+/).filter(Boolean) };
    };
    return { server, client, jailStatus };
}
