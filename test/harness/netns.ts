import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { runSyncQuietly, type ProcessTracker } from "./processes";
import { systemBinary } from "./tools";

/**
 * A droplet and its clients on separate network stacks of this machine: Linux network
 * namespaces joined by veth pairs, with addresses in one 10.x.y.0/24 of their own. The droplet
 * namespace has its own iptables tables, so a ban there is a real packet filter in front of
 * the real front, and different clients really are different source addresses. Nothing is
 * routed to or from the machine's own network. Needs root (`ip netns add`).
 *
 * Names carry this process's PID and a random suffix, so a run never meets another's; the
 * namespaces are deleted by the tracker's cleanup (also on exit or Ctrl-C), and those left by
 * a run that was killed with -9 are deleted by the next one.
 */

const PREFIX = "rehearsal-net";

export interface NetnsHost {
    /** Namespace name, for `ip netns exec`. */
    ns: string;
    /** The host's address, 10.x.y.z. */
    address: string;
}

export interface NetworkLab {
    /** The droplet: its address is on its loopback device, reached from every client. */
    droplet: NetnsHost;
    clients: Record<string, NetnsHost>;
    /** `command args` as run inside the namespace (`ip netns exec NS command args`). */
    inside(host: NetnsHost, command: string, args: readonly string[]): { command: string; args: string[] };
    /** Runs a command inside the namespace to completion. */
    run(host: NetnsHost, command: string, args: readonly string[], options?: { timeoutMs?: number }): ReturnType<ProcessTracker["run"]>;
    /** Deletes the namespaces (their links go with them). Safe to call twice. */
    remove(): void;
}

/** Runs `ip ARGS` to completion and returns its output; throws on failure. */
export function ip(args: string[]): string {
    return execFileSync(systemBinary("ip"), args, { encoding: "utf8", timeout: 20_000 });
}

/** Deletes namespaces named `<prefix>-<pid>-…` of earlier runs whose process is gone. */
export function removeStaleNamespaces(prefix: string): void {
    for (const line of ip(["netns", "list"]).split("\n")) {
        const match = new RegExp(`^(${prefix}-(\\d+)-[0-9a-f]+-\\S+)`).exec(line);
        if (match !== null && Number(match[2]) !== process.pid && !fs.existsSync(`/proc/${match[2]}`)) {
            runSyncQuietly(systemBinary("ip"), ["netns", "del", match[1]]);
        }
    }
}

/** A 10.x.y.0/24 that none of this machine's own addresses is in (fail2ban never bans those). */
export function pickFreeSubnet(): string {
    const own = ip(["-4", "-o", "addr", "show"]);
    for (let attempt = 0; attempt < 50; attempt++) {
        const [x, y] = randomBytes(2);
        const subnet = `10.${x}.${y}`;
        if (!own.includes(` ${subnet}.`)) {
            return subnet;
        }
    }
    throw new Error("no free 10.x.y.0/24 for the namespaces");
}

export interface NamespaceGroup {
    /** `<prefix>-<pid>-<random>`, the start of every namespace name in the group. */
    id: string;
    /** A free 10.x.y for the group's addresses. */
    subnet: string;
    /** Adds the namespace `<id>-<role>` with its loopback up, and returns its name. */
    add(role: string): string;
    /** Deletes the group's namespaces, newest first (their links go with them). Safe to call twice. */
    remove(): void;
}

/**
 * An empty group of namespaces under `prefix`, whose cleanup the tracker owns; stale groups of
 * the same prefix, left by killed runs, are deleted first.
 */
export function createNamespaceGroup(tracker: ProcessTracker, prefix: string): NamespaceGroup {
    removeStaleNamespaces(prefix);
    const id = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
    const created: string[] = [];
    const remove = () => {
        while (created.length > 0) {
            runSyncQuietly(systemBinary("ip"), ["netns", "del", created.pop() as string]);
        }
    };
    tracker.addCleanup(`network namespaces ${id}-*`, remove, remove);
    return {
        id,
        subnet: pickFreeSubnet(),
        add: (role) => {
            const ns = `${id}-${role}`;
            ip(["netns", "add", ns]);
            created.push(ns);
            ip(["-n", ns, "link", "set", "lo", "up"]);
            return ns;
        },
        remove,
    };
}

/**
 * The droplet namespace and one namespace per client name. Client i is `10.x.y.(10+i)` on a
 * veth to the droplet; the droplet is `10.x.y.1` on its loopback, routed from each client.
 */
export function createNetworkLab(tracker: ProcessTracker, clientNames: string[]): NetworkLab {
    const group = createNamespaceGroup(tracker, PREFIX);
    const { subnet, add } = group;
    const droplet: NetnsHost = { ns: add("droplet"), address: `${subnet}.1` };
    ip(["-n", droplet.ns, "addr", "add", `${droplet.address}/32`, "dev", "lo"]);
    const clients: Record<string, NetnsHost> = {};
    clientNames.forEach((name, i) => {
        const client: NetnsHost = { ns: add(`client-${i}`), address: `${subnet}.${10 + i}` };
        // Both ends are created inside the namespaces, so no interface name meets the machine's.
        const toClient = `to-client-${i}`;
        ip(["-n", droplet.ns, "link", "add", toClient, "type", "veth", "peer", "name", "eth0", "netns", client.ns]);
        ip(["-n", droplet.ns, "link", "set", toClient, "up"]);
        ip(["-n", droplet.ns, "route", "add", `${client.address}/32`, "dev", toClient]);
        ip(["-n", client.ns, "addr", "add", `${client.address}/32`, "dev", "eth0"]);
        ip(["-n", client.ns, "link", "set", "eth0", "up"]);
        ip(["-n", client.ns, "route", "add", `${droplet.address}/32`, "dev", "eth0"]);
        clients[name] = client;
    });
    const inside = (host: NetnsHost, command: string, args: readonly string[]) => ({ command: systemBinary("ip"), args: ["netns", "exec", host.ns, command, ...args] });
    return {
        droplet,
        clients,
        inside,
        run: (host, command, args, options) => {
            const wrapped = inside(host, command, args);
            return tracker.run(wrapped.command, wrapped.args, { timeoutMs: options?.timeoutMs ?? 60_000 });
        },
        remove: group.remove,
    };
}
