import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type ProcessTracker, type RunResult } from "../../test/harness/processes";
import { createNamespaceGroup, ip } from "../../test/harness/netns";
import { systemBinary } from "../../test/harness/tools";
import { linkEnds, LINKS, ROLES, type LinkName, type NetworkProfile, type Role } from "./profiles";
import { tbfArgs } from "./shaping";
import { ToxiproxyServers } from "./toxiproxy";

/**
 * Three network namespaces on this machine standing for the registry's real network: `ci` (the
 * runner), `droplet` (registry + front) and `s3` (the bucket), each pair joined by a veth pair,
 * each link shaped to a profile's figures. Nothing is routed to or from the machine's own
 * network: every address is in one private 10.x.y.0/24 that only these namespaces hold.
 *
 * Bandwidth: tbf on both ends of each veth (shaping.ts). Delay: the kernel has no netem, so a
 * toxiproxy in the serving namespace of each link (droplet for ci->droplet, s3 for the other
 * two) holds every byte for half the RTT each way. The proxy sits at the serving end, chosen by
 * an iptables DNAT on the interface the packets arrive on, because S3 must keep ONE address:
 * the registry presigns URLs for the endpoint it uses, and the runner must fetch those very
 * URLs (same host:port, or the signature fails) over its own, differently delayed, link. So
 * every service keeps its namespace's address, and clients use it as they would a DNS name.
 * TLS stays end to end: toxiproxy only moves TCP bytes.
 *
 * Not reproduced: the TCP handshake's round trip (the proxy accepts at once, then connects
 * upstream) and slow start over the long path (the client's TCP ends at the proxy).
 *
 * Namespace names carry this process's PID; those of a run that died without cleaning up are
 * removed by the next one. Needs root.
 */

const PREFIX = "bench-net";

export interface RigHost {
    ns: string;
    address: string;
}

export interface RigLink {
    name: LinkName;
    from: Role;
    to: Role;
    /** The veth end in `from`'s namespace (toward `to`), and the one in `to`'s. */
    fromDevice: string;
    toDevice: string;
    /** Where this link's toxiproxy listens, inside `to`'s namespace. */
    proxyAddress: string;
}

/** Everything a process needs to use a rig another process built (JSON-safe). */
export interface RigLayout {
    id: string;
    profile: NetworkProfile;
    hosts: Record<Role, RigHost>;
    links: Record<LinkName, RigLink>;
    /** The rig's own files: toxiproxy logs. */
    dir: string;
}

export class NetworkRig {
    private readonly proxies: ToxiproxyServers;

    private constructor(
        private readonly tracker: ProcessTracker,
        readonly layout: RigLayout,
    ) {
        this.proxies = new ToxiproxyServers(this, tracker);
    }

    /**
     * Builds the namespaces, links and shaping for `profile`, and starts the delaying proxies.
     * Everything is removed by the tracker's cleanup (also on Ctrl-C and exit).
     */
    static async create(tracker: ProcessTracker, profile: NetworkProfile, dir: string): Promise<NetworkRig> {
        const { id, subnet, add } = createNamespaceGroup(tracker, PREFIX);
        const hosts = {} as Record<Role, RigHost>;
        ROLES.forEach((role, i) => {
            hosts[role] = { ns: add(role), address: `${subnet}.${i + 1}` };
            // On lo, as a droplet's public address is: reachable over whichever link leads here.
            ip(["-n", hosts[role].ns, "addr", "add", `${hosts[role].address}/32`, "dev", "lo"]);
        });
        const links = {} as Record<LinkName, RigLink>;
        LINKS.forEach((name, i) => {
            const { from, to } = linkEnds(name);
            const link: RigLink = { name, from, to, fromDevice: `to-${to}`, toDevice: `to-${from}`, proxyAddress: `${subnet}.${10 + i}` };
            const a = hosts[from];
            const b = hosts[to];
            // Both ends are made inside the namespaces, so no interface name meets the machine's.
            ip(["-n", a.ns, "link", "add", link.fromDevice, "type", "veth", "peer", "name", link.toDevice, "netns", b.ns]);
            for (const [host, device, peer] of [[a, link.fromDevice, b], [b, link.toDevice, a]] as const) {
                ip(["-n", host.ns, "link", "set", device, "up"]);
                ip(["-n", host.ns, "route", "add", `${peer.address}/32`, "dev", device, "src", host.address]);
                execFileSync(systemBinary("tc"), tbfArgs(host.ns, device, profile.links[name].mbit.value), { timeout: 20_000 });
            }
            ip(["-n", b.ns, "addr", "add", `${link.proxyAddress}/32`, "dev", "lo"]);
            links[name] = link;
        });
        fs.mkdirSync(dir, { recursive: true });
        const rig = new NetworkRig(tracker, { id, profile, hosts, links, dir });
        await rig.proxies.start();
        return rig;
    }

    /** The rig another process built (the layout of its `layout`); this process does not own it. */
    static attach(tracker: ProcessTracker, layout: RigLayout): NetworkRig {
        return new NetworkRig(tracker, layout);
    }

    get profile(): NetworkProfile {
        return this.layout.profile;
    }

    host(role: Role): RigHost {
        return this.layout.hosts[role];
    }

    /** The address every neighbour reaches `role` at (the link's delay is added on the way in). */
    address(role: Role): string {
        return this.layout.hosts[role].address;
    }

    /** `ADDRESS:PORT` of a service in `to`, as `from` must name it; throws when no link joins them. */
    hop(from: Role, to: Role, port: number): string {
        if (this.linkBetween(from, to) === undefined) {
            throw new Error(`no link from ${from} to ${to}`);
        }
        return `${this.address(to)}:${port}`;
    }

    linkBetween(from: Role, to: Role): RigLink | undefined {
        return Object.values(this.layout.links).find((l) => l.from === from && l.to === to);
    }

    /** The links that end in `role` (the ones its services are reached over). */
    linksInto(role: Role): RigLink[] {
        return Object.values(this.layout.links).filter((l) => l.to === role);
    }

    /** The command prefix that runs a program inside `role`'s namespace. */
    prefix(role: Role): string[] {
        return [systemBinary("ip"), "netns", "exec", this.layout.hosts[role].ns];
    }

    /** Runs a command inside `role`'s namespace to completion. */
    run(role: Role, command: string, args: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
        const [head, ...rest] = this.prefix(role);
        return this.tracker.runChecked(head, [...rest, command, ...args], { timeoutMs: options.timeoutMs ?? 60_000, cwd: options.cwd });
    }

    /**
     * Makes TCP `port` of a service in `role` reachable with each incoming link's delay: a proxy
     * per link, and a DNAT of that link's packets for the port to it. Call once per port, before
     * clients use it; the service must listen on `address(role)` (or every address).
     */
    async expose(role: Role, port: number): Promise<void> {
        for (const link of this.linksInto(role)) {
            await this.proxies.addProxy(link, port);
            await this.run(role, systemBinary("iptables"), [
                "-w", "-t", "nat", "-A", "PREROUTING", "-i", link.toDevice, "-p", "tcp", "-d", this.address(role), "--dport", String(port),
                "-j", "DNAT", "--to-destination", link.proxyAddress,
            ]);
        }
    }

    /** Bytes received and sent so far by `role` over the link to `peer` (from its veth counters). */
    async linkBytes(role: Role, peer: Role): Promise<{ rx: number; tx: number }> {
        const link = this.linkBetween(role, peer) ?? this.linkBetween(peer, role);
        if (link === undefined) {
            throw new Error(`no link between ${role} and ${peer}`);
        }
        const device = link.from === role ? link.fromDevice : link.toDevice;
        const text = ip(["-n", this.host(role).ns, "-s", "-j", "link", "show", "dev", device]);
        const stats = (JSON.parse(text) as { stats64: { rx: { bytes: number }; tx: { bytes: number } } }[])[0].stats64;
        return { rx: stats.rx.bytes, tx: stats.tx.bytes };
    }

    /** The toxiproxy logs, for failure messages. */
    logFile(name: string): string {
        return path.join(this.layout.dir, name);
    }
}
