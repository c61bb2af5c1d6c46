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
    /**
     * With `ipv6`: the host's IPv6 address. The droplet is `<ula>::1`; client i has the /64
     * `<ula>:<i+1>::/64` to itself (see {@link NetnsHost.prefix6}) and is `<ula>:<i+1>::10`.
     */
    address6?: string;
    /** With `ipv6`, a client's own /64 as `<ula>:<i+1>:` (append `:<suffix>` for an address in it). */
    prefix6?: string;
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

/** A random IPv6 unique local /48 (RFC 4193: `fd` and 40 random bits), as `fdxx:xxxx:xxxx`. */
function randomUniqueLocalPrefix(): string {
    const hex = `fd${randomBytes(5).toString("hex")}`;
    // Written as Caddy and fail2ban print addresses (RFC 5952: no leading zeros), so they compare as strings.
    return [hex.slice(0, 4), hex.slice(4, 8), hex.slice(8, 12)].map((group) => parseInt(group, 16).toString(16)).join(":");
}

/**
 * Lets a namespace use IPv6 addresses at once: duplicate address detection would hold every new
 * address (the veth's link-local one too, which neighbour discovery needs) tentative for a second
 * or more, and no other host shares these links.
 */
function enableInstantIpv6(ns: string): void {
    for (const key of ["all", "default"]) {
        runSysctl(ns, `net.ipv6.conf.${key}.disable_ipv6=0`);
        runSysctl(ns, `net.ipv6.conf.${key}.accept_dad=0`);
    }
}

function runSysctl(ns: string, setting: string): void {
    execFileSync(systemBinary("ip"), ["netns", "exec", ns, systemBinary("sysctl"), "-q", "-w", setting], { encoding: "utf8", timeout: 20_000 });
}

export interface NetworkLabOptions {
    /** Gives every host an IPv6 address as well, and each client a /64 of its own; default false. */
    ipv6?: boolean;
}

/**
 * The droplet namespace and one namespace per client name. Client i is `10.x.y.(10+i)` on a
 * veth to the droplet; the droplet is `10.x.y.1` on its loopback, routed from each client. With
 * `ipv6`, the same in a random unique local /48 (see {@link NetnsHost.address6}).
 */
export function createNetworkLab(tracker: ProcessTracker, clientNames: string[], options: NetworkLabOptions = {}): NetworkLab {
    const group = createNamespaceGroup(tracker, PREFIX);
    const { subnet, add } = group;
    const ula = options.ipv6 === true ? randomUniqueLocalPrefix() : undefined;
    const droplet: NetnsHost = { ns: add("droplet"), address: `${subnet}.1`, ...(ula === undefined ? {} : { address6: `${ula}::1` }) };
    ip(["-n", droplet.ns, "addr", "add", `${droplet.address}/32`, "dev", "lo"]);
    if (droplet.address6 !== undefined) {
        enableInstantIpv6(droplet.ns);
        ip(["-n", droplet.ns, "addr", "add", `${droplet.address6}/128`, "dev", "lo"]);
    }
    const clients: Record<string, NetnsHost> = {};
    clientNames.forEach((name, i) => {
        const prefix6 = ula === undefined ? undefined : `${ula}:${(i + 1).toString(16)}:`;
        const client: NetnsHost = { ns: add(`client-${i}`), address: `${subnet}.${10 + i}`, ...(prefix6 === undefined ? {} : { prefix6, address6: `${prefix6}:10` }) };
        if (prefix6 !== undefined) {
            enableInstantIpv6(client.ns);
        }
        // Both ends are created inside the namespaces, so no interface name meets the machine's.
        const toClient = `to-client-${i}`;
        ip(["-n", droplet.ns, "link", "add", toClient, "type", "veth", "peer", "name", "eth0", "netns", client.ns]);
        ip(["-n", droplet.ns, "link", "set", toClient, "up"]);
        ip(["-n", droplet.ns, "route", "add", `${client.address}/32`, "dev", toClient]);
        ip(["-n", client.ns, "addr", "add", `${client.address}/32`, "dev", "eth0"]);
        ip(["-n", client.ns, "link", "set", "eth0", "up"]);
        ip(["-n", client.ns, "route", "add", `${droplet.address}/32`, "dev", "eth0"]);
        if (prefix6 !== undefined && client.address6 !== undefined && droplet.address6 !== undefined) {
            // Routed through fixed link-local next hops: Linux answers neighbour solicitations
            // only for addresses on the link they arrive on, so the droplet's address on its
            // loopback cannot be reached on-link as its IPv4 one is (ARP answers for any).
            ip(["-n", droplet.ns, "-6", "addr", "add", "fe80::1/64", "dev", toClient, "nodad"]);
            ip(["-n", client.ns, "-6", "addr", "add", "fe80::2/64", "dev", "eth0", "nodad"]);
            ip(["-n", droplet.ns, "-6", "route", "add", `${prefix6}:/64`, "via", "fe80::2", "dev", toClient]);
            ip(["-n", client.ns, "-6", "addr", "add", `${client.address6}/128`, "dev", "eth0", "nodad"]);
            ip(["-n", client.ns, "-6", "route", "add", `${droplet.address6}/128`, "via", "fe80::1", "dev", "eth0"]);
        }
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
