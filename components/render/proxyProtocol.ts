import * as net from "node:net";

/**
 * The client's own address behind a TCP load balancer that passes TLS through: the balancer
 * prepends a PROXY protocol header to each connection (DigitalOcean's sends version 1, and its
 * health checks send it too: docs.digitalocean.com/glossary/proxy/), and the front's listener
 * reads it before TLS. The access log, the refusal log fail2ban reads, and every bound per
 * address then see the client, not the balancer.
 *
 * Caddy v2.11.9's `proxy_protocol` listener wrapper (modules/caddyhttp/proxyprotocol,
 * pires/go-proxyproto v0.15.0, versions 1 and 2): a peer in `allow` has its header used (and may
 * send none); any other peer gets `fallback_policy`, here REJECT, which refuses a connection that
 * sends a header (go-proxyproto protocol.go: ErrSuperfluousProxyHeader) and serves one without as
 * the peer itself: nobody outside the balancer's network can claim another address. Keeping such
 * peers out altogether is the firewall's part. Without `allow` Caddy would read and ignore every
 * header (listenerwrapper.go: the default policy is IGNORE). The wrapper must
 * come before `tls`, which it names explicitly, since PROXY precedes the TLS handshake (Caddy
 * prepends `tls` to a list without it, caddyhttp/app.go).
 *
 * Loopback is always allowed, without a header: the droplet's own checks reach the front there.
 */
export interface ProxyProtocolInput {
    /** CIDRs the balancer connects from (its VPC network's range). */
    from: string[];
}

/** Loopback, which the start script's and the maintenance job's checks connect from. */
export const PROXY_PROTOCOL_LOOPBACK = ["127.0.0.1/32", "::1/128"] as const;

/** How long the front waits for a connection's header; the balancer sends it at once. */
const PROXY_HEADER_TIMEOUT_SECONDS = 5;

/** Why a value is not an IPv4 or IPv6 CIDR, or undefined when it is one. */
export function cidrProblem(value: string): string | undefined {
    const match = /^([^/]+)\/([0-9]{1,3})$/.exec(value);
    if (match === null) {
        return "not written address/prefix";
    }
    const family = net.isIP(match[1]);
    if (family === 0) {
        return `${JSON.stringify(match[1])} is not an IP address`;
    }
    if (Number(match[2]) > (family === 4 ? 32 : 128)) {
        return `the prefix /${match[2]} is longer than an IPv${family} address`;
    }
    return undefined;
}

/** The `listener_wrappers` block for the global `servers` options. */
export function renderProxyProtocolWrappers(input: ProxyProtocolInput): string[] {
    if (input.from.length === 0) {
        throw new Error("proxyProtocol.from needs at least one CIDR: the load balancer's network");
    }
    for (const cidr of input.from) {
        const problem = cidrProblem(cidr);
        if (problem !== undefined) {
            throw new Error(`proxyProtocol.from must hold CIDRs such as 10.10.0.0/16; got ${JSON.stringify(cidr)}: ${problem}`);
        }
    }
    return [
        "listener_wrappers {",
        "\tproxy_protocol {",
        `\t\ttimeout ${PROXY_HEADER_TIMEOUT_SECONDS}s`,
        `\t\tallow ${[...input.from, ...PROXY_PROTOCOL_LOOPBACK].join(" ")}`,
        "\t\tfallback_policy REJECT",
        "\t}",
        "\ttls",
        "}",
    ];
}
