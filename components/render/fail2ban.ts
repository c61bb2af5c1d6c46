/**
 * fail2ban on the droplet host: it reads the front's JSON refusal log (front.ts) and, when one
 * source address keeps failing to log in, drops that address's packets to the front's ports
 * with iptables for a while. Caddy's standard build has no rate limiting; the front runs with
 * host networking, so the host's INPUT chain sees the client's own address. Other sources,
 * and the right credentials from them, are untouched. Pure: values in, two config files out.
 *
 * Written for fail2ban 0.11.2 (Ubuntu 22.04's package, 0.11.2-6) and checked against 1.0.2
 * (Debian 12, Ubuntu 24.04): nothing here is newer than 0.10.3.
 */

/** The filter, in the directory fail2ban reads filters from (jail.conf(5), "FILTER FILES"). */
export const FAIL2BAN_FILTER_PATH = "/etc/fail2ban/filter.d/private-registry-front.conf";
/**
 * The jail. A `.local` file in jail.d/ is read after jail.conf and overrides it (jail.conf(5),
 * "CONFIGURATION FILES FORMAT"); the package's own jail.conf is left alone for upgrades.
 */
export const FAIL2BAN_JAIL_PATH = "/etc/fail2ban/jail.d/private-registry-front.local";
/**
 * The jail's name, also the filter's. The iptables actions name their chain `f2b-<name>`, and
 * iptables allows at most 28 characters for a chain name; this one makes 26.
 */
export const FAIL2BAN_JAIL_NAME = "private-registry-front";

/**
 * The ban action, in the directory fail2ban reads actions from (jail.conf(5), "ACTION FILES"),
 * under the jail's name: a file of ours, so the package's own actions stay untouched.
 */
export const FAIL2BAN_ACTION_PATH = `/etc/fail2ban/action.d/${FAIL2BAN_JAIL_NAME}.conf`;

/**
 * IPv6 sources are counted and banned by their /64, IPv4 sources by their address. A machine
 * with IPv6 has at least a /64 to itself (a home line gets a /56 or /48, a cloud subnet a /64)
 * and can send every guess from a fresh address in it, so a count per address never reaches
 * maxRetry and a ban per address is sidestepped with the next one. The front's refusal log
 * writes the client's address already cut to this prefix (front.ts), which is what fail2ban
 * counts; the action bans the same prefix (`<ip>/64`).
 * What it costs: machines that share a /64 share a ban. DigitalOcean gives each droplet a /124,
 * 16 addresses (docs.digitalocean.com/products/networking/ipv6/details/limits), so droplets of
 * one datacentre can share a /64: a banned guesser's neighbours there are refused with it for
 * the ban's 15 minutes. The count stays per /64 too: ten guesses from one /64 ban it.
 */
export const FAILED_LOGIN_IPV6_PREFIX = 64;

/**
 * 10 failed logins within 10 minutes from one address ban it for 15 minutes.
 * - A person who mistypes a password, or a client with a stale one, fails once or twice per
 *   attempt (Docker sends the credentials once per `docker login`, a few times per pull), so a
 *   handful of retries stays below 10.
 * - A password guesser gets about 10 guesses per 25 minutes (10 minutes to collect them, 15
 *   banned), and every refused guess costs the front a bcrypt comparison: that CPU is what the
 *   ban protects. The passwords are random (htpasswd.ts), so guessing was hopeless anyway.
 * - Addresses behind one NAT share a ban; a short one bounds how long colleagues with the right
 *   credentials are locked out with a misconfigured client among them.
 */
export const FAIL2BAN_DEFAULTS = { maxRetry: 10, findTimeSeconds: 600, banTimeSeconds: 900 } as const;

export interface Fail2banInput {
    /**
     * The front's refusal log as the host sees it (the container's log directory is a bind
     * mount): every 401 is there, as the front sends a request's line to its access log only
     * once basic_auth has accepted the login (front.ts `log_name`).
     */
    refusedLogPath: string;
    /** TCP ports the front listens on; a banned address is refused on these only (not SSH). */
    ports: number[];
    maxRetry: number;
    findTimeSeconds: number;
    banTimeSeconds: number;
    /**
     * Clients arrive through a load balancer that names each in a PROXY protocol v1 header
     * (proxyProtocol.ts): every packet then comes from the balancer, so a ban matches the header
     * instead. Default false.
     */
    behindBalancer?: boolean;
}

/**
 * How far into a packet (from its IP header) the PROXY header is looked for: IPv4's and TCP's
 * headers with every option (60 + 60 bytes) and the v1 header's 107 bytes at most
 * (haproxy's proxy-protocol.txt, "2.1. Human-readable header format").
 */
const PROXY_HEADER_SEARCH_BYTES = 227;

/**
 * The ban behind a balancer. The PROXY v1 header is the first thing the balancer sends on each
 * connection, `PROXY TCP4 <client> <balancer> <client port> <port>\r\n` with the addresses in
 * dotted decimal, so its first words name the client exactly; the trailing space keeps
 * 192.0.2.1 from matching 192.0.2.10. The packet is refused with a TCP reset, which ends the
 * connection at the balancer and so at the client: an ICMP error would leave an established
 * connection hanging. iptables takes `tcp-reset` only in a rule limited to TCP (`-p tcp`; without
 * it the insert fails with "Invalid argument", check 22 saw). Clients reach a balancer over IPv4 only (its default network stack), so an
 * IPv6 ticket cannot arise there.
 */
const PROXY_BAN_RULE = `-p tcp -m string --algo bm --to ${PROXY_HEADER_SEARCH_BYTES} --string "PROXY TCP4 <ip> " -j REJECT --reject-with tcp-reset`;

export interface Fail2banFiles {
    /** Goes to {@link FAIL2BAN_FILTER_PATH}. */
    filter: string;
    /** Goes to {@link FAIL2BAN_ACTION_PATH}. */
    action: string;
    /** Goes to {@link FAIL2BAN_JAIL_PATH}. */
    jail: string;
}

/**
 * The failure line, after fail2ban has cut the date (`"ts":<seconds>`) out of it (jail.conf(5):
 * "the failregex will be applied to the remaining part of message after ... datepattern
 * processing"). Caddy writes its fields in a fixed order (caddyhttp/marshalers.go
 * LoggableHTTPRequest, then server.go logRequest, then the fields `log_append` adds), and the
 * front's log filter keeps no header (front.ts):
 *   {"level":"info",<ts>,"logger":"http.log.access.refused","msg":"handled request",
 *    "request":{"remote_ip":"..","remote_port":"..","client_ip":"..","proto":"..","method":"..",
 *    "host":"..","uri":".."},"bytes_read":0,"user_id":"","duration":..,"size":0,"status":401,
 *    "login":"sent"}
 * Counted: status 401, `"login":"sent"` (the request carried an Authorization header: front.ts's
 * `log_append`), and no user, that is, the front refused the credentials (basic_auth, or the
 * unknown-user matcher before it). Not counted: the unauthenticated 401 every Docker client
 * starts with (no `login`). A 403 for a user outside their role, and a 401 from the registry
 * behind a login the front accepted (a configuration fault, not a guess), are in the access log,
 * not this one; were they here, their user_id would keep them out.
 * - A client's strings (uri, host, method) are JSON strings in which every `"` is written `\"`
 *   (zap), so none of them can hold `"user_id":""` or `"login":"sent"` as the regex reads them.
 * - `client_ip` is the address the front saw (no trusted_proxies in front.ts), not a header a
 *   client could set, with an IPv6 address cut to its /64 (`2001:db8:1:2::`, front.ts's
 *   `ip_mask`; see {@link FAILED_LOGIN_IPV6_PREFIX}). `<ADDR>` takes IPv4 or IPv6 and never does a DNS lookup (jail.conf(5),
 *   "FILTER FILES"; since 0.10.0).
 */
const FAILREGEX = [
    String.raw`^\{"level":"[a-z]+",.*?"logger":"http\.log\.access[^"]*","msg":"handled request",`,
    String.raw`"request":\{"remote_ip":"[^"]*","remote_port":"[^"]*","client_ip":"<ADDR>",`,
    String.raw`.*"user_id":"",.*"status":401,.*"login":"sent"`,
].join("");

function positiveInteger(value: number, what: string): string {
    if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${what} must be a whole number >= 1; got ${value}`);
    }
    return String(value);
}

function checkInput(input: Fail2banInput): void {
    // fail2ban's config is INI: a newline, `%` (interpolation) or `;`/`#` would change its meaning.
    if (!/^\/[A-Za-z0-9._/-]+$/.test(input.refusedLogPath)) {
        throw new Error(`refusedLogPath must be an absolute plain path; got ${JSON.stringify(input.refusedLogPath)}`);
    }
    if (input.ports.length === 0) {
        throw new Error("the jail needs at least one port");
    }
    for (const port of input.ports) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
            throw new Error(`port must be 1-65535; got ${port}`);
        }
    }
}

export function renderFail2banFiles(input: Fail2banInput): Fail2banFiles {
    checkInput(input);
    const filter = [
        "# Failed logins at the private registry's front (Caddy's JSON refusal log).",
        "",
        "[Definition]",
        "",
        // Caddy writes `"ts":1795915400.8831248`. `{EPOCH}` inside a custom pattern captures the
        // seconds and cuts the whole match out of the line (fail2ban ChangeLog 0.10.3, gh-2038;
        // server/datetemplate.py DateEpoch). The epoch regex takes at most 6 decimals, so with 7
        // the fraction stays in the line and the time is whole seconds: the failregex allows it.
        'datepattern = "ts":{EPOCH}',
        "",
        `failregex = ${FAILREGEX}`,
        "",
        "ignoreregex =",
        "",
    ].join("\n");
    // The package's iptables-multiport action (one INPUT rule for the front's ports, a chain of the
    // jail's own, ip6tables for an IPv6 ticket through its `[Init?family=inet6]` section), with the
    // ban and unban rules taking a prefix length after the address. The included file's sections
    // are read first and ours override them key by key (fail2ban's configparserinc.py), in 0.11.2
    // as in 1.0.2, where iptables-multiport.conf gets actionban from iptables.conf.
    const action = [
        "# The private registry's front: the package's iptables-multiport action, banning an IPv6",
        `# source's /${FAILED_LOGIN_IPV6_PREFIX} as a whole (the front's refusal log counts it that way).`,
        ...(input.behindBalancer === true ? ["# Behind the balancer, a ban matches the PROXY header that names the client."] : []),
        "",
        "[INCLUDES]",
        "before = iptables-multiport.conf",
        "",
        "[Definition]",
        ...(input.behindBalancer === true
            ? [`actionban = <iptables> -I f2b-<name> 1 ${PROXY_BAN_RULE}`, `actionunban = <iptables> -D f2b-<name> ${PROXY_BAN_RULE}`]
            : ["actionban = <iptables> -I f2b-<name> 1 -s <ip><banprefix> -j <blocktype>", "actionunban = <iptables> -D f2b-<name> -s <ip><banprefix> -j <blocktype>"]),
        "",
        "[Init]",
        "banprefix =",
        "",
        "[Init?family=inet6]",
        `banprefix = /${FAILED_LOGIN_IPV6_PREFIX}`,
        "",
    ].join("\n");
    const jail = [
        "# The private registry's front: ban a source address that keeps failing to log in.",
        "",
        `[${FAIL2BAN_JAIL_NAME}]`,
        "enabled = true",
        `filter = ${FAIL2BAN_JAIL_NAME}`,
        `logpath = ${input.refusedLogPath}`,
        // Stated, not inherited: Ubuntu 24.04's package sets `backend = systemd` for every jail
        // (its jail.d/defaults-debian.conf), which would ignore logpath. Polling stats the file
        // once a second and follows Caddy's rename-and-reopen when the log rolls.
        "backend = polling",
        // Caddy writes UTF-8; `auto` would follow the host's locale.
        "logencoding = utf-8",
        `maxretry = ${positiveInteger(input.maxRetry, "maxRetry")}`,
        `findtime = ${positiveInteger(input.findTimeSeconds, "findTimeSeconds")}`,
        `bantime = ${positiveInteger(input.banTimeSeconds, "banTimeSeconds")}`,
        // jail.conf's action (`%(action_)s`) is banaction[port, protocol, chain]: one rule in INPUT
        // (the action's default chain), `-p tcp -m multiport --dports <ports>`, to a chain of its
        // own that REJECTs the banned addresses (the action above, on action.d/iptables-multiport.conf).
        // TCP only: the cloud firewall admits TCP 443 alone (dockerHost.ts), so HTTP/3 never arrives.
        `banaction = ${FAIL2BAN_JAIL_NAME}`,
        `port = ${input.ports.join(",")}`,
        "protocol = tcp",
        // The droplet's own checks and SSH-tunnelled clients come from loopback. fail2ban also
        // never bans the host's own addresses (`ignoreself`, default true).
        "ignoreip = 127.0.0.1/8 ::1",
        "",
    ].join("\n");
    return { filter, action, jail };
}
