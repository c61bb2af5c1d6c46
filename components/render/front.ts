import { FAILED_LOGIN_IPV6_PREFIX } from "./fail2ban";
import { FRONT_PASSWORD_HASH, FRONT_PASSWORD_HASH_PATTERN } from "./frontPassword";
import { S3_MIN_CHUNK_SIZE_BYTES, uploadsInFlightMax } from "./registryMemory";
import { ProxyProtocolInput, renderProxyProtocolWrappers } from "./proxyProtocol";
import { repositoryPatternRegex } from "./repositoryPatterns";
import { DEFAULT_UPLOAD_STARTS_PER_USER, renderUploadStartRoutes, renderUploadStartSite, renderUploadStartsSpentAnswer, UploadStartBudgetInput, uploadStartsSpentDetail } from "./uploadStarts";

export { repositoryPatternRegex };

/**
 * The front: Caddy, the only program that faces clients. It terminates TLS, checks every login
 * (Argon2id, frontPassword.ts), enforces each user's role and repositories, bounds slow and idle clients, and passes
 * what it allows to the registry on the droplet's loopback. Pure: values in, Caddyfile out.
 *
 * The registry keeps an htpasswd check behind it, so nothing on the droplet's loopback can write
 * without a login either; but its one login is the front's own, which the front sends in place of
 * the client's (`upstreamAuthorization`). Users' passwords are checked here alone: a new user or a
 * rotated password reloads the front and leaves the registry as it is, so no request ever meets a
 * front and a registry that disagree about a password.
 */

/** What a user may do. `push` may pull, push and delete; `pull` may only read. */
export type RegistryRole = "push" | "pull";
export const REGISTRY_ROLES: readonly RegistryRole[] = ["push", "pull"];

export interface FrontUser {
    name: string;
    role: RegistryRole;
    /** The user's password as renderFrontPasswordHash hashes it (frontPassword.ts). */
    passwordHash: string;
    /**
     * Repository patterns the user is limited to; absent: every repository. `*` matches within
     * one path component, `**` across components (`team-a/**`).
     */
    repositories?: string[];
}

export type FrontTls =
    /**
     * Caddy obtains and renews the certificate over ACME, by TLS-ALPN-01 on 443 alone (see
     * {@link acmeIssuers}): from Let's Encrypt (ZeroSSL too with an e-mail), or from `acmeServer`
     * alone, an ACME directory URL, trusting the CA certificates in the file `acmeServerRoot`
     * (a path in the front's container) when the system's roots do not cover it.
     */
    | { kind: "letsencrypt"; hostname: string; email?: string; acmeServer?: string; acmeServerRoot?: string }
    /**
     * While the name does not resolve to the droplet yet: a certificate from Caddy's own local CA,
     * so that no ACME validation is attempted, and failed ones never count against the CA's limits.
     */
    | { kind: "internal"; hostname: string }
    /** A key pair from files (the private CA); any Host and SNI is served with it. */
    | { kind: "files"; hostname: string; certificate: string; key: string }
    /** Plain HTTP, for a front bound to loopback and reached through an SSH tunnel. */
    | { kind: "none" };

/**
 * The slow-client bounds. None is a total time: a large layer over a slow, steady link must
 * finish, while a client that stops sending is cut off.
 * - `readHeader`: the whole request header must arrive within this (half-header floods);
 * - `readBodyIdle` and `readMinBytesPerSecond`: a request body is ended once it falls behind
 *   `readBodyIdle` + bytes read / `readMinBytesPerSecond`, counted from the request's start
 *   (stalled and trickled uploads). A body stalled from the start is cut after `readBodyIdle`;
 *   one averaging r < rate, after readBodyIdle / (1 - r/rate) (twice it at half the rate). The
 *   rate, 16 KiB/s, is an eighth of a 1 Mbit/s link, the slowest CI uplink assumed. What it costs:
 *   every byte sent buys 1/rate s of later stall (a client that sent 10 MB may stall 10 min), and
 *   a request that waited more than `readBodyIdle` for a restarting registry (lb_try_duration)
 *   loses its body at the first read, as the wait counts against the rate;
 * - `writeIdle`: a response write (at most 64 KiB) that makes no progress for this long ends the
 *   request: a client that stops reading is let go this long after the socket buffers fill,
 *   while one reading at 64 KiB / `writeIdle` (3.2 KiB/s) or more is never cut;
 * - `idle`: a keep-alive connection with no request is closed after this. It is also the only
 *   bound on an HTTP/2 connection whose request headers never complete: Go's HTTP/2 server has no
 *   header timeout (golang.org/x/net v0.60.0 http2/server.go, which Caddy v2.11.9 configures with
 *   a zero http2.Server in modules/caddyhttp/app.go: `read_header` is net/http's
 *   ReadHeaderTimeout, HTTP/1 only), and a HEADERS frame without END_HEADERS opens no stream, so
 *   the connection's idle timer (IdleTimeout, taken from `idle`) runs on and sends GOAWAY, and the
 *   connection closes about 1 s later (goAwayTimeout). So `idle` is no longer than `read_header`.
 */
export interface FrontTimeouts {
    readHeaderSeconds: number;
    readBodyIdleSeconds: number;
    readMinBytesPerSecond: number;
    writeIdleSeconds: number;
    idleSeconds: number;
}

export const FRONT_TIMEOUTS: FrontTimeouts = { readHeaderSeconds: 10, readBodyIdleSeconds: 20, readMinBytesPerSecond: 16384, writeIdleSeconds: 20, idleSeconds: 10 };

/**
 * How long a request waits for the registry while it restarts (a new S3 key, the garbage
 * collection's read-only window): Caddy retries the connection instead of failing the request.
 * Longer than the registry's drain (registryConfig.ts `draintimeout`) plus its start.
 */
export const FRONT_UPSTREAM_WAIT_SECONDS = 60;

export interface FrontInput {
    /** `host:port` or `:port` the front listens on. */
    listen: string;
    tls: FrontTls;
    users: FrontUser[];
    /** The Basic realm clients are challenged with. */
    realm: string;
    /** The registry, `127.0.0.1:PORT`. */
    upstream: string;
    /** Secret: the `Authorization` value (`Basic …`) the front sends the registry on every request it passes on. */
    upstreamAuthorization: string;
    /**
     * The JSON access log (inside the front's container): one line per request whose login the
     * front accepted, refused by role or not. What a logged-in client did stays here however
     * much an anonymous one sends.
     */
    accessLogFile: string;
    /**
     * The refusal log, beside it: one line per request that no login of ours was accepted for
     * (none sent, an unknown user, a wrong password, the unauthenticated `/`). fail2ban reads it.
     */
    refusedLogFile: string;
    /** How each log rolls; default {@link FRONT_LOG_ROLLS}. */
    logRolls?: FrontLogRolls;
    /** Unix socket of Caddy's admin API (for `caddy reload`); never a TCP port. */
    adminSocket: string;
    timeouts?: FrontTimeouts;
    /**
     * Upload requests (a layer's POST, PATCH and PUT) the front lets into the registry at once;
     * more wait for a slot, up to {@link bodyRequestWaitSeconds}, then get 503. The registry holds
     * part of each upload in memory (registryMemory.ts uploadsInFlightMax, from the chunk size);
     * default that for the default chunk size.
     */
    uploadRequestsMax?: number;
    /**
     * Upload starts each push user may make within uploadStarts.ts's window; more get 429 until
     * the oldest age out. Default {@link DEFAULT_UPLOAD_STARTS_PER_USER}.
     */
    uploadStartsPerUser?: number;
    /**
     * Behind a load balancer that passes TLS through: read the PROXY protocol header its
     * connections carry, so that the client's address is the one logged and banned
     * (proxyProtocol.ts). Absent: clients connect directly.
     */
    proxyProtocol?: ProxyProtocolInput;
    /**
     * Behind a load balancer: a file (inside the front's container) whose existence makes `/`,
     * the balancer's health check, answer 503, so the balancer stops sending new connections here
     * before a deploy restarts anything; every other request is served as before. Absent: `/`
     * always asks the registry.
     */
    drainMarker?: string;
}

/** One log file's rolling: Caddy renames it at `rollMiB` and keeps `keep` rolled files (gzipped). */
export interface FrontLogRoll {
    rollMiB: number;
    keep: number;
}

export interface FrontLogRolls {
    access: FrontLogRoll;
    refused: FrontLogRoll;
}

/**
 * Measured through the rehearsal's front (test/integration/hostile-log.test.ts prints these):
 * a logged-in request's line is 344 to 604 bytes with its newline, 456 on average (the uri is
 * most of it; it is cut at LOGGED_FIELD_BYTES). A skopeo push of an image of 3 layers and a
 * config wrote 20 lines, about 4 per blob (HEAD, POST, PATCH, PUT) and 4 more; its pull 5.
 *
 * Assumed, a busy CI: 200 pushes and 2,000 pulls a day, of images of 10 layers and a config.
 * About 50 lines a push (4 × 11 blobs + 4) and 15 a pull (the measured 5 is 1 per blob and 1),
 * so 200 × 50 + 2,000 × 15 = 40,000 lines × 460 bytes = 18.4 MB a day, 129 MB in 7 days.
 *
 * The access log: 10 rolled files of 100 MiB each, so at least 1,000 MiB (1,049 MB) of lines
 * are kept, the file being written aside (it may have just rolled): 7 days of a CI 8 times as
 * busy, 57 days of the one assumed. Rolled files are gzipped (Caddy's default,
 * modules/logging/filewriter.go `roll_gzip`), so the disk holds far less than that; lines older
 * than 90 days go anyway (filewriter.go's default `roll_keep_for`). What a logged-in client
 * sends is bounded by these sizes alone: its login is the operator's to revoke.
 *
 * The refusal log keeps its 20 MiB × 5: fail2ban reads only its newest lines (a 10-minute
 * window, fail2ban.ts), so what a flood rolls away there is history only. A flood of 16
 * connections from one address wrote 0.68 to 1.20 MiB of it a second in three runs (hostile-log.test.ts).
 */
export const FRONT_LOG_ROLLS: FrontLogRolls = { access: { rollMiB: 100, keep: 10 }, refused: { rollMiB: 20, keep: 5 } };

/** The response a refused request gets: the registry API's own error shape, so clients print it. */
export const DENIED_BODY = '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}';

/**
 * The scheme and authority of an absolute-form request target (RFC 9112 3.2.2), userinfo
 * included: up to the first `/` after `scheme://`. A scheme is required, so an origin-form
 * path that starts with `//` is logged whole.
 */
export const ABSOLUTE_FORM_AUTHORITY = "^[A-Za-z][A-Za-z0-9+.-]*://[^/]*";

/** The most of a client's uri, host or method an access log line keeps (in characters). */
export const LOGGED_FIELD_BYTES = 256;

/** Keeps the first LOGGED_FIELD_BYTES characters (`${1}`); `(?s)`, so nothing escapes the cut. */
function truncatedRegex(): string {
    return `(?s)^(.{0,${LOGGED_FIELD_BYTES}}).*$`;
}

/** The logged uri: the target without an absolute form's scheme and authority, cut (`${1}`). */
export function loggedUriRegex(): string {
    return `(?s)^(?:${ABSOLUTE_FORM_AUTHORITY.slice(1)})?(.{0,${LOGGED_FIELD_BYTES}}).*$`;
}

/** The settings' rule (settingsRules.ts): nothing in it needs quoting in a Caddyfile or a CEL string. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOSTNAME = /^[A-Za-z0-9.:[\]-]+$/;

function seconds(value: number, what: string): string {
    if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${what} must be a whole number of seconds >= 1; got ${value}`);
    }
    return `${value}s`;
}

function bytesPerSecond(value: number): string {
    if (!Number.isInteger(value) || value < 1) {
        throw new Error(`readMinBytesPerSecond must be a whole number >= 1; got ${value}`);
    }
    return String(value);
}

function checkTimeouts(timeouts: FrontTimeouts): void {
    if (timeouts.idleSeconds > timeouts.readHeaderSeconds) {
        throw new Error(`idleSeconds (${timeouts.idleSeconds}) must not exceed readHeaderSeconds (${timeouts.readHeaderSeconds}): it bounds HTTP/2's header reads`);
    }
}

function checkInput(input: FrontInput): void {
    if (input.users.length === 0) {
        throw new Error("the front needs at least one user");
    }
    const names = new Set<string>();
    for (const user of input.users) {
        if (!USER_NAME.test(user.name)) {
            throw new Error(`user name must match ${USER_NAME}; got ${JSON.stringify(user.name)}`);
        }
        if (names.has(user.name)) {
            throw new Error(`user ${user.name} is listed twice`);
        }
        names.add(user.name);
        if (!FRONT_PASSWORD_HASH_PATTERN.test(user.passwordHash)) {
            throw new Error(`user ${user.name} needs an Argon2id hash as renderFrontPasswordHash writes it; got one that starts ${JSON.stringify(user.passwordHash.slice(0, 10))}`);
        }
    }
    if (input.proxyProtocol !== undefined && input.tls.kind === "none") {
        throw new Error("proxyProtocol and tls none are mutually exclusive: a balancer reaches the front over TLS, which the tunnel's loopback front does not serve");
    }
    if (input.tls.kind !== "none" && !HOSTNAME.test(input.tls.hostname)) {
        throw new Error(`hostname must be a DNS name or IP address; got ${JSON.stringify(input.tls.hostname)}`);
    }
    if (input.tls.kind === "letsencrypt") {
        const { acmeServer, acmeServerRoot } = input.tls;
        // The settings' rule (settingsRules.ts acmeServerProblem): an https URL that needs no quoting.
        if (acmeServer !== undefined && !/^https:\/\/[A-Za-z0-9._~%/:?&=+[\]-]+$/.test(acmeServer)) {
            throw new Error(`acmeServer must be an https URL of plain characters; got ${JSON.stringify(acmeServer)}`);
        }
        if (acmeServerRoot !== undefined && (acmeServer === undefined || !/^[A-Za-z0-9._/-]+$/.test(acmeServerRoot))) {
            throw new Error(`acmeServerRoot must be a plain file path, and only with acmeServer; got ${JSON.stringify(acmeServerRoot)}`);
        }
    }
    // Checked without echoing it: the value carries the front's password.
    if (!/^Basic [A-Za-z0-9+/]+=*$/.test(input.upstreamAuthorization)) {
        throw new Error("upstreamAuthorization must be `Basic ` and base64; got a value that is not");
    }
    if (input.refusedLogFile === input.accessLogFile) {
        throw new Error("refusedLogFile must not be the access log: a flood of refusals would roll the access log away");
    }
    for (const [what, value] of [["realm", input.realm], ["upstream", input.upstream], ["listen", input.listen], ["accessLogFile", input.accessLogFile], ["refusedLogFile", input.refusedLogFile], ["adminSocket", input.adminSocket]] as const) {
        // Caddyfile tokens: nothing here is ever quoted or escaped, so refuse what would need it.
        if (!/^[A-Za-z0-9._:/[\]-]+$/.test(value)) {
            throw new Error(`${what} must be a plain token; got ${JSON.stringify(value)}`);
        }
    }
}

function indent(lines: string[], depth: number): string[] {
    return lines.map((line) => (line === "" ? line : `${"\t".repeat(depth)}${line}`));
}

/** The port of a `host:port` or `:port` listen address. */
function listenParts(listen: string): { host?: string; port: string } {
    const at = listen.lastIndexOf(":");
    const host = listen.slice(0, at);
    return { host: host === "" ? undefined : host, port: listen.slice(at + 1) };
}

/**
 * ZeroSSL's ACME directory: the second issuer Caddy adds when an account e-mail is set
 * (caddyserver/caddy v2.11.9 modules/caddytls/automation.go DefaultIssuers, with
 * caddyserver/certmagic v0.25.6 acmeissuer.go ZeroSSLProductionCA).
 */
export const ZEROSSL_DIRECTORY = "https://acme.zerossl.com/v2/DV90";

/**
 * The site's ACME issuers, each with the HTTP-01 challenge off, so TLS-ALPN-01 on 443 is the only
 * one tried. Port 80 is open neither in the cloud firewall (dockerHost.ts) nor in the droplet's
 * ufw, yet Caddy keeps HTTP-01 on unless told otherwise (caddyserver/caddy v2.11.9
 * modules/caddytls/acmeissuer.go: `disable_http_challenge` in UnmarshalCaddyfile is what sets
 * `challenges.http.disabled`; certmagic v0.25.6 acmeclient.go registers the HTTP-01 solver
 * unless it is set). acmez v3.1.7 client.go shuffles the challenge types on a process's first
 * order, so about half of fresh issuances would try HTTP-01 first and fail, and Let's Encrypt
 * allows 5 failed authorizations per name and account an hour
 * (letsencrypt.org/docs/rate-limits, "Authorization Failures per Identifier per Account").
 *
 * Naming issuers replaces Caddy's defaults, so the ZeroSSL fallback that Caddy adds with an
 * e-mail is written out: the same directory, and acmeissuer.go still obtains ZeroSSL's EAB
 * credentials from the e-mail for a `https://acme.zerossl.com/` directory. The global `email`
 * fills in every issuer (caddyconfig/httpcaddyfile tlsapp.go fillInGlobalACMEDefaults).
 *
 * With `acmeServer` that directory is the only issuer: a second one would keep ZeroSSL's own
 * directory, and someone who names a CA expects that CA alone (Caddy itself drops the ZeroSSL
 * default when a directory is named: tlsapp.go implicitACMEIssuers). The directory and its
 * roots go in the issuer (`acme <directory_url>` and `trusted_roots <pem_files...>` in
 * acmeissuer.go UnmarshalCaddyfile, JSON `ca` and `trusted_roots_pem_files`, the files read
 * when the issuer is provisioned), not in the global `acme_ca` and `acme_ca_root`: those add
 * a catch-all automation policy of their own (tlsapp.go newBaseAutomationPolicy), whose issuer
 * would keep HTTP-01 on.
 */
function acmeIssuers(tls: Extract<FrontTls, { kind: "letsencrypt" }>): string[] {
    const issuer = (directory?: string, roots?: string) => [
        `issuer acme${directory === undefined ? "" : ` ${directory}`} {`,
        ...(roots === undefined ? [] : [`\ttrusted_roots ${roots}`]),
        "\tdisable_http_challenge",
        "}",
    ];
    const issuers =
        tls.acmeServer !== undefined
            ? issuer(tls.acmeServer, tls.acmeServerRoot)
            : [...issuer(), ...(tls.email === undefined ? [] : issuer(ZEROSSL_DIRECTORY))];
    return ["tls {", ...indent(issuers, 1), "}"];
}

function globalOptions(input: FrontInput, timeouts: FrontTimeouts): string[] {
    const lines = [`admin unix/${input.adminSocket}`];
    // Port 80 stays closed at the firewall; ACME uses TLS-ALPN on 443 then.
    lines.push(input.tls.kind === "none" ? "auto_https off" : "auto_https disable_redirects");
    if (input.tls.kind === "internal") {
        lines.push("skip_install_trust");
    }
    if (input.tls.kind === "letsencrypt" && input.tls.email !== undefined) {
        lines.push(`email ${input.tls.email}`);
    }
    if (input.tls.kind === "files") {
        // Clients that connect by IP send no SNI; they get the key pair's certificate.
        lines.push(`default_sni ${input.tls.hostname}`);
    }
    // Caddy v2.11.9: caddyconfig/httpcaddyfile/serveroptions.go maps `read_body_idle` to the
    // server's ReadIdleTimeout (modules/caddyhttp/server.go, JSON `read_idle_timeout`), which
    // re-arms the connection's read deadline before every body read (idletimeout.go), so only a
    // stall ends an upload; `read_body` would be a total limit (`read_timeout`) and is not set.
    // A stalled body is answered (499 or 504) and the registry's request aborted after
    // read_body_idle, but Caddy keeps the client's connection until `idle` runs out after that.
    // Its second argument, a minimum rate, makes the deadline start + read_body_idle +
    // bytes read / rate instead (idletimeout.go IdleDeadline.next, Apache mod_reqtimeout's
    // MinRate): a body that trickles a byte now and then, never idle, is cut too.
    // `write_idle` is the same stall timer for the response (server.go WriteIdleTimeout, re-armed
    // before each write of at most 64 KiB, DefaultMaxWriteChunk), without a rate: a client that
    // stops reading is let go write_idle after the socket buffers fill, while one that still
    // reads, however slowly, is not; a rate would credit the bytes the buffers swallowed.
    lines.push(
        "servers {",
        "\ttimeouts {",
        `\t\tread_header ${seconds(timeouts.readHeaderSeconds, "readHeaderSeconds")}`,
        `\t\tread_body_idle ${seconds(timeouts.readBodyIdleSeconds, "readBodyIdleSeconds")} ${bytesPerSecond(timeouts.readMinBytesPerSecond)}`,
        `\t\twrite_idle ${seconds(timeouts.writeIdleSeconds, "writeIdleSeconds")}`,
        `\t\tidle ${seconds(timeouts.idleSeconds, "idleSeconds")}`,
        "\t}",
        // TCP only: the cloud firewall admits no UDP, and these bounds are proven for HTTP/1.1 and 2.
        "\tprotocols h1 h2",
        // The upload starts' inner site is reached over unix sockets from the front itself
        // (uploadStarts.ts): it keeps the X-Forwarded-Proto the front set, from which the registry
        // writes an upload's https Location (server.go determineTrustedProxy: RemoteAddr "@").
        "\ttrusted_proxies_unix",
        ...(input.proxyProtocol === undefined ? [] : renderProxyProtocolWrappers(input.proxyProtocol).map((line) => `\t${line}`)),
        "}",
    );
    return ["{", ...indent(lines, 1), "}"];
}

/**
 * `/`'s answer while the drain marker exists. Caddy's `file` matcher looks the file up on each
 * request (modules/caddyhttp/fileserver/matcher.go), under its own root: the working directory
 * would do otherwise. `respond` runs before `reverse_proxy` in Caddy's directive order.
 */
function drainRoute(marker: string | undefined): string[] {
    if (marker === undefined) {
        return [];
    }
    if (!/^\/[A-Za-z0-9._/-]+\/[A-Za-z0-9._-]+$/.test(marker)) {
        throw new Error(`drainMarker must be an absolute plain path; got ${JSON.stringify(marker)}`);
    }
    const slash = marker.lastIndexOf("/");
    return ["@draining file {", `\troot ${marker.slice(0, slash)}`, `\ttry_files ${marker.slice(slash)}`, "}", 'respond @draining "leaving the load balancer" 503'];
}

function siteAddress(input: FrontInput): string {
    const { port } = listenParts(input.listen);
    switch (input.tls.kind) {
        case "letsencrypt":
        case "internal":
            return `https://${input.tls.hostname}:${port}`;
        case "files":
            return `https://:${port}`;
        case "none":
            return `http://:${port}`;
    }
}

/**
 * Manifest requests the front lets into the registry at once; more wait their turn, up to
 * FRONT_UPSTREAM_WAIT_SECONDS (a PUT, {@link bodyRequestWaitSeconds}), and then get 503. Distribution v3.1.2 holds a manifest whole,
 * several times over, for each GET, HEAD or PUT (registry/handlers/manifests.go: a PUT reads the
 * body into a buffer up to maxManifestBodySize, 4 MiB; a GET or HEAD reads the stored manifest
 * whole, blobstore.go Get). Without a bound, 100 requests at once for a manifest near the limit
 * took the registry to about 900 MB (bench/twin/manifests.ts). With 16 let in, 200 PUTs at once
 * peaked at 335 MiB of the container's 384 (REGISTRY_MEMORY_LIMIT_BYTES, registryRun.ts): too
 * little room for the layers in flight beside them. With 8, the peak was 181 MiB, and more
 * requests were answered within their wait, not fewer (200 GETs: 158 served against 65; 200 PUTs:
 * 41 against 27), as the registry spent less of its one vCPU collecting garbage. A CI job's
 * manifests are a few KB and answered in milliseconds, so 8 at once costs a team nothing.
 *
 * The bound is close, not exact: Caddy checks the count when it picks the upstream
 * (selectionpolicies.go, Upstream.Available) and adds to it only when it proxies
 * (reverseproxy.go:1058), so requests arriving in the same instant can each see a free slot.
 * The bench's bursts of 200 at once include that overshoot in the peaks above.
 */
export const FRONT_MANIFEST_REQUESTS_MAX = 8;

/** {@link FrontInput.uploadRequestsMax} when not given: what the smallest chunk size, the default, allows. */
export const FRONT_UPLOAD_REQUESTS_DEFAULT = uploadsInFlightMax(S3_MIN_CHUNK_SIZE_BYTES);

/** A registry API path that names a manifest (distribution's v2 routes), as path_regexp sees it. */
const MANIFEST_PATH_REGEX = "^/v2/(?s:.+)/manifests/[^/]+$";
/** A path of a layer upload: its start (`uploads/`) and each of its requests (`uploads/ID`). */
const UPLOAD_PATH_REGEX = "^/v2/(?s:.+)/blobs/uploads/[^/]*$";

/**
 * The same registry address written another way, so that the manifests' proxy counts its own
 * requests. Caddy keeps one request count per upstream address string, shared by every
 * reverse_proxy that names it (v2.11.9 modules/caddyhttp/reverseproxy/hosts.go fillHost,
 * keyed by Upstream.String(), the dial address), and `unhealthy_request_count` compares that
 * count (Upstream.Full): counted together, layer uploads in flight would take the manifests'
 * slots. `[::ffff:A]` is A as an IPv4-mapped IPv6 address, which Go dials as IPv4 (net
 * ipsock_posix.go favoriteAddrFamily: an address with a 4-byte form is AF_INET), to the same
 * listener on the same loopback address.
 */
export function manifestUpstream(upstream: string): string {
    const { address, port } = ipv4Upstream(upstream);
    return `[::ffff:${address.join(".")}]:${port}`;
}

/**
 * The registry address written a third way, for the uploads' count (see {@link manifestUpstream}):
 * the IPv4-mapped address with its last 32 bits in hex, `[::ffff:7f00:1]` for 127.0.0.1.
 */
export function uploadUpstream(upstream: string): string {
    const { address, port } = ipv4Upstream(upstream);
    const hex = (high: number, low: number) => ((high << 8) | low).toString(16);
    return `[::ffff:${hex(address[0], address[1])}:${hex(address[2], address[3])}]:${port}`;
}

function ipv4Upstream(upstream: string): { address: number[]; port: string } {
    const match = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(upstream);
    const address = match?.[1].split(".").map(Number) ?? [];
    if (match === null || address.some((octet) => octet > 255)) {
        throw new Error(`upstream must be an IPv4 address and port (the registry on loopback); got ${JSON.stringify(upstream)}`);
    }
    return { address, port: match[2] };
}

interface ProxyOptions {
    /** A named matcher (`@name`) the proxy takes requests of; default every request that reaches it. */
    matcher?: string;
    /** See {@link FRONT_MANIFEST_REQUESTS_MAX}; default no bound. */
    requestsMax?: number;
    /** How long a request waits for the registry (a free slot, or a restart); default FRONT_UPSTREAM_WAIT_SECONDS. */
    waitSeconds?: number;
}

/**
 * How long a request with a body (a manifest's PUT, a layer's PATCH or PUT) waits for a slot.
 * Its body is read only once it has one, and the waiting counts against the body's deadline
 * (FrontTimeouts: start + readBodyIdle + bytes read / rate): a PUT let in after readBodyIdle lost its body at the first read, and its client got
 * 504 or nothing (bench/twin/manifests.ts, 100 PUTs at once: 60x 504, 8x 499 with a 60 s wait).
 * Five seconds short of readBodyIdle, it gets 503 instead, which Docker's client reports and a
 * retry recovers from; one let in still has readBodyIdle's margin for its first read.
 */
export function bodyRequestWaitSeconds(timeouts: FrontTimeouts): number {
    return Math.max(1, timeouts.readBodyIdleSeconds - 5);
}

function proxy(upstream: string, authorization: string, options: ProxyOptions = {}): string[] {
    return [
        `reverse_proxy ${options.matcher === undefined ? "" : `${options.matcher} `}${upstream} {`,
        // Replaces the client's login, which only the front checks; see the file's opening comment.
        `\theader_up Authorization "${authorization}"`,
        // Requests over the count wait for a free slot as for a restarting registry (the
        // selection's retries, reverseproxy.go proxyLoopIteration), then get 503.
        ...(options.requestsMax === undefined ? [] : [`\tunhealthy_request_count ${options.requestsMax}`]),
        `\tlb_try_duration ${options.waitSeconds ?? FRONT_UPSTREAM_WAIT_SECONDS}s`,
        "\tlb_try_interval 250ms",
        // Retried whatever the error, not only a refused dial: a request the front has just
        // connected when the registry closes its listener is reset from the accept queue, after
        // the dial. Caddy retries that only for GET by default (reverseproxy.go tryAgain), and a
        // client checking for a blob asks with HEAD. Neither has a body to send again.
        "\tlb_retry_match {",
        "\t\tmethod GET HEAD",
        "\t}",
        // Stream both ways: a layer is never held whole in the front's memory.
        "\tflush_interval -1",
        // The route sets it on every answer, the front's own 401s and 403s too; once is enough.
        "\theader_down -Docker-Distribution-API-Version",
        // A new loopback connection per request. A draining registry closes its idle connections,
        // and a request the front has just written on one fails with no retry (Go retries only
        // replayable requests there); a refused dial, by contrast, is always retried.
        "\ttransport http {",
        "\t\tkeepalive off",
        "\t}",
        "}",
    ];
}

/** What may follow a repository name in a registry API path (distribution's v2 routes). */
const REGISTRY_ROUTE = "(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list|referrers/[^/]+)";

/**
 * A body in the registry API's error shape: distribution v3.1.2 registry/api/errcode/errors.go
 * (Error: code, message, detail), with the message its register.go gives the code, so a client
 * prints the front's answer as it prints the registry's.
 */
export function registryErrorBody(code: string, message: string, detail: string): string {
    const body = JSON.stringify({ errors: [{ code, message, detail }] });
    // A Caddyfile backtick token, and Caddy expands `{name}` placeholders in a respond body.
    if (/[`{}]/.test(`${message}${detail}`)) {
        throw new Error(`an error body's text must have no backtick or brace; got ${JSON.stringify(detail)}`);
    }
    return body;
}

/**
 * The longest repository name the registry serves without a 500. distribution/reference v0.6.0
 * reference.go: RepositoryNameTotalLengthMax = 255, which WithName (called for every request with
 * a name, registry/handlers/app.go dispatcher) applies to the name after a first component that
 * looks like a host, answering a longer one with ErrRepositoryNameInvalid, which is no errcode,
 * so errcode.ServeJSON (handler.go) makes it a 500. The front counts the whole name: Docker's
 * client applies the same limit to everything after the registry's host, so no client that can
 * pull an image has a longer name.
 */
export const REPOSITORY_NAME_MAX = 255;

/** An API path (cleaned, as path_regexp sees it) whose repository name exceeds REPOSITORY_NAME_MAX. */
export function longNamePathRegex(): string {
    return `^/v2/(?s:.{${REPOSITORY_NAME_MAX + 1},})/${REGISTRY_ROUTE}$`;
}

/** An upload's path: where PATCH and PUT read Content-Range (registry/handlers/blobupload.go). */
const UPLOAD_PATH = "^/v2/.+/blobs/uploads/[^/]+$";

/**
 * The Content-Range values an upload PATCH or PUT may carry, or none (the empty value, which the
 * registry skips too). The OCI distribution-spec's chunked push (spec.md, "Pushing a blob in
 * chunks") requires `^[0-9]+-[0-9]+$`; at most 18 digits, as 19 may overflow the int64 that
 * distribution's parseContentRange (registry/handlers/helpers.go) reads with strconv.ParseInt.
 * That parser answers anything it cannot read with UNKNOWN, a 500; a range it reads but that does
 * not fit the upload it answers with RANGE_INVALID, 416, which the front answers here too: the
 * API's description of that 416 covers a range that "is invalid" (registry/api/v2/descriptors.go).
 */
export const CONTENT_RANGE_REGEX = "^(?:[0-9]{1,18}-[0-9]{1,18})?$";

/**
 * The Content-Type values an upload PATCH may carry: none or exactly application/octet-stream,
 * the registry's own test (blobupload.go PatchBlobData, which answers any other with UNKNOWN, a
 * 500). Matched on the joined placeholder, as the registry reads the first field only.
 */
export const PATCH_CONTENT_TYPE_REGEX = "^(?:application/octet-stream)?$";

/**
 * What Go's HTTP/2 server reports when a request body's DATA frames do not add up to its
 * Content-Length (go1.26 net/http/h2_bundle.go http2stream.endStream and processData). The
 * request has reached the registry by then; reverse_proxy answers the failed copy with 502
 * (caddyserver/caddy v2.11.9 modules/caddyhttp/reverseproxy/reverseproxy.go statusError).
 */
export const BODY_LENGTH_ERROR_REGEX = "request declared a Content-Length of [0-9]+ but only wrote [0-9]+ bytes|sender tried to send more than declared Content-Length of [0-9]+ bytes";

/** Every error Go's chunked reader returns for a malformed body (go1.26 net/http/internal/chunked.go). */
export const BODY_CHUNKS_ERROR_REGEX =
    "invalid byte in chunk length|empty hex number for chunk length|http chunk length too large|malformed chunked encoding|chunked encoding contains too much non-data|chunked line ends with bare LF|invalid CR in chunked line|header line too long";

export const NAME_INVALID_BODY = registryErrorBody("NAME_INVALID", "invalid repository name", `a repository name is at most ${REPOSITORY_NAME_MAX} characters`);
export const RANGE_INVALID_BODY = registryErrorBody("RANGE_INVALID", "invalid content range", "Content-Range must be <first byte>-<last byte>, both inclusive");
export const PATCH_TYPE_UNSUPPORTED_BODY = registryErrorBody("UNSUPPORTED", "The operation is unsupported.", "an upload PATCH's Content-Type must be application/octet-stream");
export const BODY_LENGTH_INVALID_BODY = registryErrorBody("SIZE_INVALID", "provided length did not match content length", "the request body's length did not match its Content-Length");
export const BODY_CHUNKS_INVALID_BODY = registryErrorBody("SIZE_INVALID", "provided length did not match content length", "the request body's chunked encoding is malformed");

/**
 * Requests the registry would answer with a 500 and an error line although the client is at
 * fault: answered here with the registry's own code and a 4xx, before the registry sees them.
 * After the login and the role refusals, so neither an anonymous client nor one outside its
 * repositories learns more than before; the name first, as the registry checks it first.
 */
function malformedRequestRefusals(): string[] {
    const refuse = (name: string, matcher: string[], body: string, status: number) => [
        `${name} {`,
        ...indent(matcher, 1),
        "}",
        `header ${name} Content-Type application/json`,
        `respond ${name} \`${body}\` ${status}`,
    ];
    return [
        ...refuse("@name_too_long", [`path_regexp \`${longNamePathRegex()}\``], NAME_INVALID_BODY, 400),
        ...refuse("@bad_content_range", ["method PATCH PUT", `path_regexp \`${UPLOAD_PATH}\``, `not vars_regexp {http.request.header.Content-Range} \`${CONTENT_RANGE_REGEX}\``], RANGE_INVALID_BODY, 416),
        // 415 (RFC 9110 15.5.16): the registry has no code of its own for a wrong Content-Type;
        // UNSUPPORTED is its code for "an invalid set of parameters" (errcode/register.go), but
        // its 405 would tell the client the method is wrong.
        ...refuse("@bad_patch_type", ["method PATCH", `path_regexp \`${UPLOAD_PATH}\``, `not vars_regexp {http.request.header.Content-Type} \`${PATCH_CONTENT_TYPE_REGEX}\``], PATCH_TYPE_UNSUPPORTED_BODY, 415),
    ];
}

/**
 * The site's error routes. A body that breaks after the request went upstream cannot be refused
 * before the proxy: reverse_proxy fails the copy with 502 and an error line. Its error is Go's
 * own message, which only the client's body produces while the request is being sent (an
 * upstream response that breaks later aborts the handler instead, reverseproxy.go
 * finalizeResponse), so these are answered 400 with SIZE_INVALID, the registry's code for a body
 * whose length is not the one declared.
 *
 * With any error route, Caddy logs every handled error at debug level, and only an error route
 * that fails at error level (caddyhttp/server.go ServeHTTP). So every other server error is
 * raised again, with its own message and status: a registry that is down still writes its cause
 * at error level. 4xx errors (basic_auth's 401) stay at debug and keep their status, as before
 * (caddyhttp.go errorEmptyHandler).
 */
function errorRoutes(uploadStartsPerUser: number): string[] {
    const answer = (name: string, pattern: string, body: string) => [
        `${name} vars_regexp {http.error.message} \`${pattern}\``,
        `handle ${name} {`,
        "\theader Content-Type application/json",
        `\trespond \`${body}\` 400`,
        "}",
    ];
    return [
        "handle_errors {",
        ...indent(
            [
                ...answer("@body_length", BODY_LENGTH_ERROR_REGEX, BODY_LENGTH_INVALID_BODY),
                ...answer("@body_chunks", BODY_CHUNKS_ERROR_REGEX, BODY_CHUNKS_INVALID_BODY),
                ...renderUploadStartsSpentAnswer(registryErrorBody("TOOMANYREQUESTS", "too many requests", uploadStartsSpentDetail(uploadStartsPerUser))),
                "@server_error expression `{http.error.status_code} >= 500`",
                "handle @server_error {",
                '\terror "{http.error.message}" {http.error.status_code}',
                "}",
            ],
            1,
        ),
        "}",
    ];
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The base64 digits whose 6 bits are `high` in their top bits and anything in the `free` low bits, as a class. */
function base64DigitsFrom(high: number, free: 2 | 4): string {
    const count = 1 << free;
    return `[${BASE64_ALPHABET.slice(high, high + count)}]`;
}

/**
 * A regular expression (RE2) for the start of base64(`<name>:`), whatever follows: what every
 * Basic credential of that user starts with. base64 turns each group of 3 bytes into 4 digits,
 * so the digits of the whole groups are fixed; a last group of 1 or 2 bytes fixes the top bits of
 * its last digit only (4 or 2 low bits come from the password's first byte), hence a class of 16
 * or 4 digits there. Exact both ways for a credential that decodes: its bytes start with `name:`
 * if and only if its digits match, and names have no `:`, so the user Go parses is `name`.
 */
export function basicLoginPrefixRegex(name: string): string {
    const bytes = Buffer.from(`${name}:`, "utf8");
    const whole = bytes.length - (bytes.length % 3);
    // A multiple of 3 bytes: no padding, only digits.
    let fixed = bytes.subarray(0, whole).toString("base64");
    let partial = "";
    const rest = bytes.subarray(whole);
    if (rest.length === 1) {
        fixed += BASE64_ALPHABET[rest[0] >> 2];
        partial = base64DigitsFrom((rest[0] & 0x03) << 4, 4);
    } else if (rest.length === 2) {
        fixed += BASE64_ALPHABET[rest[0] >> 2] + BASE64_ALPHABET[((rest[0] & 0x03) << 4) | (rest[1] >> 4)];
        partial = base64DigitsFrom((rest[1] & 0x0f) << 2, 2);
    }
    // `+` outside a class would be a quantifier; `/` and the class's own digits need no escape.
    return fixed.replace(/\+/g, "\\+") + partial;
}

/**
 * The Authorization values the front lets through to basic_auth: `Basic ` (the scheme in any
 * case, one space: Go's parseBasicAuth, net/http/request.go in go1.26, which Caddy's
 * `req.BasicAuth()` calls) and base64 that starts with a known `name:`. Anchored, and only base64
 * digits and padding after the prefix, so two Authorization fields (Caddy's placeholder joins them
 * with `,`) or anything Go would not decode the same way is refused too.
 */
export function knownLoginRegex(names: readonly string[]): string {
    return `^[Bb][Aa][Ss][Ii][Cc] (?:${names.map(basicLoginPrefixRegex).join("|")})[A-Za-z0-9+/]*={0,2}$`;
}

/**
 * The access loggers' names: Caddy logs a request as `http.log.access.<name>`
 * (modules/caddyhttp/logging.go wrapLogger), which fail2ban's filter allows (fail2ban.ts).
 */
export const ACCEPTED_LOGGER = "accepted";
export const REFUSED_LOGGER = "refused";

function rollValue(value: number, what: string): string {
    if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${what} must be a whole number >= 1; got ${value}`);
    }
    return String(value);
}

/**
 * A named access log. The site's hostnames are mapped to every named log without `no_hostname`
 * (caddyconfig/httpcaddyfile/httptype.go, "add log associations"; a catch-all site makes it the
 * server's default logger), so the refusal log takes every request the route does not send
 * elsewhere. The access log has `no_hostname` and takes only the requests that `log_name`
 * names it for: the handler sets the `access_logger_names` variable, which replaces the host's
 * loggers for that request (builtins.go parseLogName, logging.go wrapLogger), so each request
 * gets one line in one of the two files.
 */
function logBlock(name: string, file: string, roll: FrontLogRoll, noHostname: boolean, countsFailedLogins: boolean): string[] {
    // The refusal log is what fail2ban counts: an IPv6 client goes there as its /64, so that
    // fresh addresses from one network count as one source (fail2ban.ts). remote_ip keeps the
    // whole address for whoever reads the log. ip_mask takes the IPv4 and IPv6 prefix lengths
    // (modules/logging/filters.go IPMaskFilter); 32 leaves an IPv4 address whole.
    const maskedClient = !countsFailedLogins ? [] : [`\t\t\trequest>client_ip ip_mask 32 ${FAILED_LOGIN_IPV6_PREFIX}`];
    return [
        `log ${name} {`,
        ...(noHostname ? ["\tno_hostname"] : []),
        `\toutput file ${file} {`,
        // modules/logging/filewriter.go: roll_size rounds up to whole MiB, the file is renamed
        // and gzipped when a write would pass it, and roll_keep rolled files are kept.
        `\t\troll_size ${rollValue(roll.rollMiB, `${name} log's rollMiB`)}MiB`,
        `\t\troll_keep ${rollValue(roll.keep, `${name} log's keep`)}`,
        "\t}",
        // A line of bounded size whatever a client sends: the request's and the response's
        // headers go (a 16 KB header made every line 16 KB, and a redirect's Location is a
        // presigned S3 URL, a short-lived credential); what a client can make long (uri, host,
        // method) is cut to LOGGED_FIELD_BYTES. What is left: address, method, path, status,
        // size, duration, user, and `login` (front.ts's route) for fail2ban.
        // caddyhttp/marshalers.go LoggableHTTPRequest and server.go logRequest write these fields.
        "\tformat filter {",
        "\t\twrap json",
        "\t\tfields {",
        "\t\t\trequest>headers delete",
        "\t\t\trequest>tls delete",
        "\t\t\tresp_headers delete",
        ...maskedClient,
        // `uri` is the request line's target as sent (Go's Request.RequestURI): in absolute form,
        // `https://user:password@host/path`, it carries a password that is no login (Caddy reads
        // only the Authorization header). The scheme and authority go; the path stays.
        `\t\t\trequest>uri regexp \`${loggedUriRegex()}\` \${1}`,
        `\t\t\trequest>host regexp \`${truncatedRegex()}\` \${1}`,
        `\t\t\trequest>method regexp \`${truncatedRegex()}\` \${1}`,
        "\t\t}",
        "\t}",
        "}",
    ];
}

/** Matchers (and their names) for what each user may not do. */
function refusals(users: FrontUser[]): { name: string; lines: string[] }[] {
    const refused: { name: string; lines: string[] }[] = [];
    users.forEach((user, index) => {
        const who = `expression \`{http.auth.user.id} == "${user.name}"\``;
        if (user.role === "pull") {
            refused.push({ name: `@write_by_${index}`, lines: [who, "not method GET HEAD"] });
        }
        if (user.repositories !== undefined) {
            const names = user.repositories.map(repositoryPatternRegex).join("|");
            refused.push({
                name: `@outside_repositories_of_${index}`,
                // Anchored at both ends, with the registry's exact route shapes: a bare prefix
                // (`.../blobs/`) let `team-b/*` write to `team-b/x/blobs/y`, a repository it is
                // not limited to. path_regexp sees the cleaned path (`..` and `//` resolved).
                lines: [who, "not path /v2/", `not path_regexp ^/v2/(?:${names})/${REGISTRY_ROUTE}$`],
            });
        }
    });
    return refused;
}

export function renderFrontConfig(input: FrontInput): string {
    checkInput(input);
    const timeouts = input.timeouts ?? FRONT_TIMEOUTS;
    checkTimeouts(timeouts);
    const { host } = listenParts(input.listen);
    const site: string[] = [];
    if (host !== undefined) {
        site.push(`bind ${host}`);
    }
    if (input.tls.kind === "letsencrypt") {
        site.push(...acmeIssuers(input.tls));
    } else if (input.tls.kind === "internal") {
        site.push("tls internal");
    } else if (input.tls.kind === "files") {
        site.push(`tls ${input.tls.certificate} ${input.tls.key}`);
    }
    const rolls = input.logRolls ?? FRONT_LOG_ROLLS;
    site.push(...logBlock(REFUSED_LOGGER, input.refusedLogFile, rolls.refused, false, true), ...logBlock(ACCEPTED_LOGGER, input.accessLogFile, rolls.access, true, false));
    if (input.tls.kind !== "none") {
        site.push("header Strict-Transport-Security max-age=31536000");
    }
    site.push(
        // `/` answers without a login: the uptime check's target (200, or 503 when storage fails).
        "handle / {",
        ...indent(drainRoute(input.drainMarker), 1),
        ...indent(proxy(input.upstream, input.upstreamAuthorization), 1),
        "}",
    );
    const route: string[] = [
        // Clients (and the live check) tell a registry by this header on the first 401 to /v2/,
        // which the front's login answers before the registry sees the request.
        "header Docker-Distribution-API-Version registry/2.0",
        // Neither log keeps a request header (logBlock); this field tells fail2ban that a 401
        // answered credentials (fail2ban.ts). `<`: added before the handlers run
        // (modules/caddyhttp/logging/logappend.go), so a refusal's line has it too.
        "@login_sent header Authorization *",
        "log_append @login_sent <login sent",
        // A user name Caddy does not know is checked against its built-in fake hash, of cost 14
        // (caddyserver/caddy v2.11.9 modules/caddyhttp/caddyauth/basicauth.go Authenticate, with
        // bcrypt.go FakeHash), about 1.1 s of CPU, or with argon2id 46 MiB of memory
        // (argon2id.go FakeHash); our users' hashes are Argon2's least cost (frontPassword.ts).
        // So a Basic login whose name is not a known one is answered here with basic_auth's own
        // 401 (its WWW-Authenticate, promptForCredentials; an empty body, as the server writes
        // for a handler's error, server.go), before any hash. `vars_regexp` on the placeholder,
        // not `header_regexp`: the header matcher accepts a request when any one of several
        // Authorization fields matches, while Go's BasicAuth reads the first; the placeholder
        // joins them all (caddyhttp/replacer.go) and is not expanded again (vars.go MatchVarsRE).
        "@unknown_login {",
        "\theader Authorization *",
        `\tnot vars_regexp {http.request.header.Authorization} \`${knownLoginRegex(input.users.map((user) => user.name))}\``,
        "}",
        `header @unknown_login WWW-Authenticate "Basic realm=\\"${input.realm}\\""`,
        "error @unknown_login 401",
        `basic_auth ${FRONT_PASSWORD_HASH.algorithm} ${input.realm} {`,
        ...input.users.map((user) => `\t${user.name} ${user.passwordHash}`),
        "}",
        // Reached only with a login basic_auth accepted: this request's line goes to the access
        // log, not the refusal log (logBlock). A 401 above, and the role refusals' 403s below,
        // are written as before, each to its log; so is an error answered by handle_errors, as
        // the variable stays on the request.
        `log_name ${ACCEPTED_LOGGER}`,
    ];
    const refused = refusals(input.users);
    for (const matcher of refused) {
        route.push(`${matcher.name} {`, ...indent(matcher.lines, 1), "}");
    }
    for (const matcher of refused) {
        route.push(`header ${matcher.name} Content-Type application/json`, `respond ${matcher.name} \`${DENIED_BODY}\` 403`);
    }
    route.push(...malformedRequestRefusals());
    // A cross-repository mount names a second repository (`from`); a user limited to some
    // repositories could name one outside them. The registry reads it with Go's FormValue, which
    // also takes it from a form body and from a query that Caddy's `query` matcher refuses to
    // parse (a `;` or `%zz` anywhere): so such a user's POST (an upload start) reaches the
    // registry with no query and no Content-Type, and the registry starts a plain upload, which
    // the client then fills.
    input.users.forEach((user, index) => {
        if (user.repositories !== undefined) {
            route.push(
                `@upload_start_by_${index} {`,
                `\texpression \`{http.auth.user.id} == "${user.name}"\``,
                "\tmethod POST",
                "}",
                `rewrite @upload_start_by_${index} ?`,
                `request_header @upload_start_by_${index} -Content-Type`,
            );
        }
    });
    const uploadsProxy = proxy(uploadUpstream(input.upstream), input.upstreamAuthorization, { requestsMax: input.uploadRequestsMax ?? FRONT_UPLOAD_REQUESTS_DEFAULT, waitSeconds: bodyRequestWaitSeconds(timeouts) });
    const uploadStarts: UploadStartBudgetInput = {
        pushUsers: input.users.flatMap((user, index) => (user.role === "push" ? [{ name: user.name, index }] : [])),
        perUser: input.uploadStartsPerUser ?? DEFAULT_UPLOAD_STARTS_PER_USER,
        adminSocket: input.adminSocket,
        upstreamAuthorization: input.upstreamAuthorization,
    };
    // After the rewrites above: a limited user's start reaches its count with no query.
    route.push(...renderUploadStartRoutes(uploadStarts));
    // A manifest's proxy first: reverse_proxy answers the request, so the next one sees only the rest.
    // Both manifest proxies name the same address, so they share the one count; the uploads'
    // proxy names a third, counted apart from both.
    route.push(
        "@upload {",
        `\tpath_regexp \`${UPLOAD_PATH_REGEX}\``,
        "}",
        ...proxy(uploadUpstream(input.upstream), input.upstreamAuthorization, { matcher: "@upload", requestsMax: input.uploadRequestsMax ?? FRONT_UPLOAD_REQUESTS_DEFAULT, waitSeconds: bodyRequestWaitSeconds(timeouts) }),
        "@manifest_put {",
        `\tpath_regexp \`${MANIFEST_PATH_REGEX}\``,
        "\tmethod PUT",
        "}",
        ...proxy(manifestUpstream(input.upstream), input.upstreamAuthorization, { matcher: "@manifest_put", requestsMax: FRONT_MANIFEST_REQUESTS_MAX, waitSeconds: bodyRequestWaitSeconds(timeouts) }),
        "@manifest {",
        `\tpath_regexp \`${MANIFEST_PATH_REGEX}\``,
        "}",
        ...proxy(manifestUpstream(input.upstream), input.upstreamAuthorization, { matcher: "@manifest", requestsMax: FRONT_MANIFEST_REQUESTS_MAX }),
        ...proxy(input.upstream, input.upstreamAuthorization),
    );
    // `route` keeps this order: the login first, then the refusals, then the proxy.
    site.push("handle {", "\troute {", ...indent(route, 2), "\t}", "}", ...errorRoutes(uploadStarts.perUser));
    return [...globalOptions(input, timeouts), "", `${siteAddress(input)} {`, ...indent(site, 1), "}", ...renderUploadStartSite(uploadStarts, uploadsProxy), ""].join("\n");
}
