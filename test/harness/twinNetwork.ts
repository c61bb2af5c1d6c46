import { execFileSync } from "node:child_process";
import { createNamespaceGroup, ip } from "./netns";
import type { ProcessTracker } from "./processes";
import { systemBinary } from "./tools";

/**
 * The droplet twin's network: one namespace per machine (the deployer running `pulumi up`, the
 * twin, the CI runner, S3, ...) joined through a router namespace, which plays DigitalOcean's
 * network and its cloud firewall. The cloud firewall's inbound rules become iptables rules on
 * the router's link to the twin, so traffic meets it before the twin's own ufw, as on
 * DigitalOcean. Addresses come from one free 10.x.y.0/24; nothing is routed to or from this
 * machine's own network. Needs root.
 */

export interface TwinNetHost {
    role: string;
    /** Namespace name, for `ip netns exec`. */
    ns: string;
    /** 10.x.y.z, on the host's eth0. */
    address: string;
}

/** One inbound rule as the program hands it to `digitalocean.Firewall`. */
export interface CloudFirewallRule {
    protocol: string;
    portRange?: string;
    sourceAddresses?: string[];
}

export interface TwinNetwork {
    hosts: Record<string, TwinNetHost>;
    /** The router's address, every host's default gateway. */
    gateway: string;
    /** `command args` inside a host's namespace. */
    inside(role: string, command: string, args: readonly string[]): { command: string; args: string[] };
    /** Replaces the cloud firewall in front of `role` with these inbound rules (outbound stays open). */
    applyCloudFirewall(role: string, rules: CloudFirewallRule[]): void;
    remove(): void;
}

const PREFIX = "twin-net";
const GATEWAY_OCTET = 254;

export function createTwinNetwork(tracker: ProcessTracker, roles: string[]): TwinNetwork {
    const group = createNamespaceGroup(tracker, PREFIX);
    const router = group.add("router");
    const gateway = `${group.subnet}.${GATEWAY_OCTET}`;
    ip(["-n", router, "addr", "add", `${gateway}/32`, "dev", "lo"]);
    inNs(router, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
    const hosts: Record<string, TwinNetHost> = {};
    roles.forEach((role, i) => {
        const host: TwinNetHost = { role, ns: group.add(role), address: `${group.subnet}.${10 + i}` };
        // Both ends are made inside the namespaces, so no interface name meets the machine's.
        ip(["-n", router, "link", "add", linkName(role), "type", "veth", "peer", "name", "eth0", "netns", host.ns]);
        ip(["-n", router, "link", "set", linkName(role), "up"]);
        ip(["-n", router, "route", "add", `${host.address}/32`, "dev", linkName(role)]);
        ip(["-n", host.ns, "addr", "add", `${host.address}/32`, "dev", "eth0"]);
        ip(["-n", host.ns, "link", "set", "eth0", "up"]);
        ip(["-n", host.ns, "route", "add", `${gateway}/32`, "dev", "eth0"]);
        ip(["-n", host.ns, "route", "add", "default", "via", gateway, "dev", "eth0"]);
        hosts[role] = host;
    });
    return {
        hosts,
        gateway,
        inside: (role, command, args) => ({ command: systemBinary("ip"), args: ["netns", "exec", hostOf(hosts, role).ns, command, ...args] }),
        applyCloudFirewall: (role, rules) => {
            const chain = `cloud-fw-${hostOf(hosts, role).address.split(".")[3]}`;
            const iptables = (args: string[]) => inNs(router, "iptables", ["-w", ...args]);
            if (!tryIptables(router, ["-w", "-n", "-L", chain])) {
                iptables(["-N", chain]);
                iptables(["-A", "FORWARD", "-o", linkName(role), "-j", chain]);
            }
            iptables(["-F", chain]);
            for (const args of renderCloudFirewall(rules)) {
                iptables(["-A", chain, ...args]);
            }
        },
        remove: group.remove,
    };
}

/**
 * The iptables rules (for one chain that sees every packet forwarded to the droplet) that do what
 * a DigitalOcean cloud firewall does with these inbound rules: replies to the droplet's own
 * connections pass, each rule admits its protocol and ports from its IPv4 sources, and anything
 * else is dropped (DigitalOcean's firewalls deny inbound traffic no rule allows: "Cloud Firewalls
 * ... Inbound traffic not explicitly allowed is dropped", docs.digitalocean.com/products/networking/firewalls/).
 * IPv6 sources are skipped: the twin's network is IPv4 only. Pure.
 */
export function renderCloudFirewall(rules: CloudFirewallRule[]): string[][] {
    const out: string[][] = [["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]];
    for (const rule of rules) {
        if (rule.protocol !== "tcp" && rule.protocol !== "udp" && rule.protocol !== "icmp") {
            throw new Error(`cloud firewall rule protocol must be tcp, udp or icmp; got ${JSON.stringify(rule.protocol)}`);
        }
        const ports = rule.protocol === "icmp" || rule.portRange === undefined || rule.portRange === "all" ? [] : ["--dport", rule.portRange.replace("-", ":")];
        const sources = (rule.sourceAddresses ?? []).filter((cidr) => !cidr.includes(":"));
        for (const source of sources) {
            const from = source === "0.0.0.0/0" ? [] : ["-s", source];
            out.push(["-p", rule.protocol, ...from, ...ports, "-j", "ACCEPT"]);
        }
    }
    out.push(["-j", "DROP"]);
    return out;
}

function linkName(role: string): string {
    return `to-${role}`.slice(0, 15);
}

function hostOf(hosts: Record<string, TwinNetHost>, role: string): TwinNetHost {
    const host = hosts[role];
    if (host === undefined) {
        throw new Error(`the twin network has no host ${JSON.stringify(role)}; it has ${Object.keys(hosts).join(", ")}`);
    }
    return host;
}

function inNs(ns: string, command: string, args: string[]): string {
    return ip(["netns", "exec", ns, systemBinary(command), ...args]);
}

/** Whether an iptables command succeeds; its complaint about a missing chain is not printed. */
function tryIptables(ns: string, args: string[]): boolean {
    try {
        execFileSync(systemBinary("ip"), ["netns", "exec", ns, systemBinary("iptables"), ...args], { stdio: "ignore", timeout: 20_000 });
        return true;
    } catch {
        return false;
    }
}
