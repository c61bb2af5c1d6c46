import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
    ABSOLUTE_FORM_AUTHORITY,
    BODY_CHUNKS_ERROR_REGEX,
    BODY_CHUNKS_INVALID_BODY,
    BODY_LENGTH_ERROR_REGEX,
    BODY_LENGTH_INVALID_BODY,
    CONTENT_RANGE_REGEX,
    ACCEPTED_LOGGER,
    FRONT_LOG_ROLLS,
    FRONT_TIMEOUTS,
    knownLoginRegex,
    LOGGED_FIELD_BYTES,
    loggedUriRegex,
    longNamePathRegex,
    NAME_INVALID_BODY,
    PATCH_CONTENT_TYPE_REGEX,
    PATCH_TYPE_UNSUPPORTED_BODY,
    RANGE_INVALID_BODY,
    registryErrorBody,
    renderFrontConfig,
    repositoryPatternRegex,
    REFUSED_LOGGER,
    REPOSITORY_NAME_MAX,
    ZEROSSL_DIRECTORY,
    type FrontInput,
    type FrontTls,
} from "../../components/render/front";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";

/**
 * The front's Caddyfile, judged by the pinned Caddy itself (`caddy adapt`), and its refusals of
 * inputs that would change the Caddyfile's structure. Behaviour with real clients: check 13.
 */

const caddy = join(__dirname, "..", "..", ".cache", "bin", "caddy");
const INSTALL_HINT = "caddy is not built: run `bash scripts/install-rehearsal-tools.sh` (it builds .cache/bin/caddy)";
// Without the binary: skipped locally, a failure in CI (like the Pulumi CLI's tests).
const skip = !existsSync(caddy) && !process.env.CI ? INSTALL_HINT : false;

const HASH = renderFrontPasswordHash({ password: "a".repeat(32), salt: "b".repeat(22) });
const base: FrontInput = {
    listen: ":443",
    tls: { kind: "files", hostname: "203.0.113.7", certificate: "/etc/caddy/tls.crt", key: "/etc/caddy/tls.key" },
    users: [
        { name: "ci", role: "push", passwordHash: HASH },
        { name: "deploy", role: "pull", passwordHash: HASH },
        { name: "team.a", role: "push", passwordHash: HASH, repositories: ["team-a/**", "shared/*"] },
    ],
    realm: "private-registry",
    upstream: "127.0.0.1:5002",
    upstreamAuthorization: "Basic ZnJvbnQ6dGVzdA==",
    accessLogFile: "/var/log/private-registry/front-access.log",
    refusedLogFile: "/var/log/private-registry/front-refused.log",
    adminSocket: "/data/admin.sock",
};

const dir = mkdtempSync(join(tmpdir(), "front-adapt-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `caddy adapt` of a Caddyfile: the JSON config, or the adapter's error. */
function adapt(caddyfile: string): { ok: boolean; json: any; output: string } {
    if (!existsSync(caddy)) {
        throw new Error(INSTALL_HINT);
    }
    const file = join(dir, "Caddyfile");
    writeFileSync(file, caddyfile);
    const result = spawnSync(caddy, ["adapt", "--config", file, "--adapter", "caddyfile"], { encoding: "utf8", env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir } });
    const ok = result.status === 0;
    return { ok, json: ok ? JSON.parse(result.stdout) : undefined, output: `${result.stdout}${result.stderr}` };
}

/** Every ACME issuer anywhere in an adapted config (module "acme", in any automation policy). */
function acmeIssuersIn(json: unknown): any[] {
    if (Array.isArray(json)) {
        return json.flatMap(acmeIssuersIn);
    }
    if (typeof json !== "object" || json === null) {
        return [];
    }
    const record = json as Record<string, unknown>;
    return [...(record.module === "acme" ? [record] : []), ...Object.values(record).flatMap(acmeIssuersIn)];
}

const kinds: FrontTls[] = [
    { kind: "letsencrypt", hostname: "registry.example.com", email: "ops@example.com" },
    { kind: "letsencrypt", hostname: "registry.example.com" },
    { kind: "internal", hostname: "registry.example.com" },
    base.tls,
    { kind: "none" },
];

describe("the front's Caddyfile, adapted by the pinned Caddy", { skip }, () => {
    for (const tls of kinds) {
        it(`adapts cleanly with TLS ${tls.kind}${tls.kind === "letsencrypt" && tls.email === undefined ? " (no email)" : ""}`, () => {
            const { ok, json, output } = adapt(renderFrontConfig({ ...base, listen: tls.kind === "none" ? "127.0.0.1:5000" : ":443", tls }));
            assert.ok(ok, `caddy adapt failed:\n${output}`);
            assert.doesNotMatch(output, /\bWARN\b/, "caddy adapt warned");
            const server = json.apps.http.servers.srv0;
            // modules/caddyhttp/server.go: read_header_timeout, read_idle_timeout, read_min_rate,
            // write_idle_timeout, idle_timeout (durations in nanoseconds, the rate in bytes/second).
            assert.equal(server.read_header_timeout, FRONT_TIMEOUTS.readHeaderSeconds * 1e9);
            assert.equal(server.read_idle_timeout, FRONT_TIMEOUTS.readBodyIdleSeconds * 1e9);
            assert.equal(server.read_min_rate, FRONT_TIMEOUTS.readMinBytesPerSecond);
            assert.equal(server.write_idle_timeout, FRONT_TIMEOUTS.writeIdleSeconds * 1e9);
            // No total bound on either direction: a large layer over a slow, steady link finishes.
            assert.equal(server.read_timeout, undefined);
            assert.equal(server.write_timeout, undefined);
            assert.equal(server.write_min_rate, undefined);
            assert.equal(server.idle_timeout, FRONT_TIMEOUTS.idleSeconds * 1e9);
            assert.equal(server.read_timeout, undefined, "no total read time: a slow, steady upload must finish");
            assert.equal(json.admin.listen, "unix//data/admin.sock");
        });
    }

    it("asks Let's Encrypt, then ZeroSSL, only when an e-mail is set; otherwise Let's Encrypt alone", () => {
        const issuers = (email?: string) => {
            const { json } = adapt(renderFrontConfig({ ...base, listen: ":443", tls: { kind: "letsencrypt", hostname: "registry.example.com", email } }));
            return json.apps.tls?.automation?.policies?.flatMap((p: { issuers?: unknown[] }) => p.issuers ?? []);
        };
        const noHttp01 = { challenges: { http: { disabled: true } } };
        assert.deepEqual(issuers("ops@example.com"), [
            { module: "acme", email: "ops@example.com", ...noHttp01 },
            { module: "acme", ca: ZEROSSL_DIRECTORY, email: "ops@example.com", ...noHttp01 },
        ]);
        // No `ca`: Let's Encrypt's production directory, Caddy's default (modules/caddytls/acmeissuer.go).
        assert.deepEqual(issuers(undefined), [{ module: "acme", ...noHttp01 }]);
    });

    it("turns HTTP-01 off in every ACME issuer and leaves TLS-ALPN-01 on, whatever the TLS kind", () => {
        for (const tls of kinds) {
            const { json } = adapt(renderFrontConfig({ ...base, listen: tls.kind === "none" ? "127.0.0.1:5000" : ":443", tls }));
            const issuers = acmeIssuersIn(json);
            if (tls.kind === "letsencrypt") {
                assert.ok(issuers.length > 0, "no ACME issuer to check");
            }
            for (const issuer of issuers) {
                assert.equal(issuer.challenges?.http?.disabled, true, `HTTP-01 on in ${JSON.stringify(issuer)}`);
                assert.notEqual(issuer.challenges?.["tls-alpn"]?.disabled, true, `TLS-ALPN-01 off in ${JSON.stringify(issuer)}`);
                assert.equal(issuer.challenges?.dns, undefined, "no DNS-01: it would replace TLS-ALPN-01 (certmagic acmeclient.go)");
            }
        }
    });

    it("with acmeServer: that directory alone, trusting the root file given, HTTP-01 still off and no ZeroSSL", () => {
        const directory = "https://ca.internal:9000/acme/acme/directory";
        const caddyfile = renderFrontConfig({
            ...base,
            listen: ":443",
            tls: { kind: "letsencrypt", hostname: "registry.example.com", email: "ops@example.com", acmeServer: directory, acmeServerRoot: "/etc/caddy/acme-ca.crt" },
        });
        const { ok, json, output } = adapt(caddyfile);
        assert.ok(ok, `caddy adapt failed:\n${output}`);
        assert.doesNotMatch(output, /\bWARN\b/, "caddy adapt warned");
        // modules/caddytls/acmeissuer.go: `ca` is the directory, `trusted_roots_pem_files` the roots for its TLS.
        assert.deepEqual(acmeIssuersIn(json), [
            { module: "acme", ca: directory, email: "ops@example.com", trusted_roots_pem_files: ["/etc/caddy/acme-ca.crt"], challenges: { http: { disabled: true } } },
        ]);
        assert.ok(!JSON.stringify(json).includes("zerossl"), "a ZeroSSL issuer next to the named directory");
        // Without a root file: the directory alone, trusted by the system's roots.
        const plain = adapt(renderFrontConfig({ ...base, listen: ":443", tls: { kind: "letsencrypt", hostname: "registry.example.com", acmeServer: directory } }));
        assert.deepEqual(acmeIssuersIn(plain.json), [{ module: "acme", ca: directory, challenges: { http: { disabled: true } } }]);
    });

    it("keeps the login ahead of every refusal and the proxy", () => {
        const { json } = adapt(renderFrontConfig(base));
        const text = JSON.stringify(json);
        const login = text.indexOf('"authentication"');
        assert.ok(login > 0, "no authentication handler");
        for (const later of ['"status_code":403', '"status_code":400', '"status_code":415', '"status_code":416', '"rewrite"']) {
            assert.ok(text.indexOf(later) > login, `${later} comes before the login`);
        }
        // Only `/` (the uptime check's target) is proxied without a login.
        const before = text.slice(0, login);
        assert.equal(before.split('"reverse_proxy"').length - 1, 1, "more than one proxy before the login");
        assert.match(before, /"path":\["\/"\]/);
    });
});

/** The handlers of the site's catch-all `handle` route, in order (the one that holds the login). */
function loginRouteHandlers(json: any): any[] {
    const found: any[][] = [];
    const walk = (value: unknown): void => {
        if (Array.isArray(value)) {
            value.forEach(walk);
        } else if (value !== null && typeof value === "object") {
            const handle = (value as { handle?: unknown }).handle;
            if (Array.isArray(handle) && handle.some((h: { handler?: string }) => h.handler === "authentication")) {
                found.push(handle);
            }
            Object.values(value).forEach(walk);
        }
    };
    walk(json.apps.http.servers.srv0.routes);
    assert.equal(found.length, 1, "one route with the login");
    return found[0];
}

describe("two access logs: accepted logins apart from everything else", { skip }, () => {
    const kindsByListen = kinds.map((tls) => ({ tls, listen: tls.kind === "none" ? "127.0.0.1:5000" : ":443" }));

    it("writes each to its own file, rolled at the program's sizes", () => {
        const { json } = adapt(renderFrontConfig(base));
        const logs = json.logging.logs;
        // modules/logging/filewriter.go: roll_size_mb, roll_keep; gzip and 90 days are its defaults.
        assert.deepEqual(logs[ACCEPTED_LOGGER].writer, { output: "file", filename: base.accessLogFile, roll_size_mb: FRONT_LOG_ROLLS.access.rollMiB, roll_keep: FRONT_LOG_ROLLS.access.keep });
        assert.deepEqual(logs[REFUSED_LOGGER].writer, { output: "file", filename: base.refusedLogFile, roll_size_mb: FRONT_LOG_ROLLS.refused.rollMiB, roll_keep: FRONT_LOG_ROLLS.refused.keep });
        assert.deepEqual(logs[ACCEPTED_LOGGER].include, [`http.log.access.${ACCEPTED_LOGGER}`]);
        assert.deepEqual(logs[REFUSED_LOGGER].include, [`http.log.access.${REFUSED_LOGGER}`]);
        // The access log holds 7 days of the assumed CI (front.ts FRONT_LOG_ROLLS) many times over.
        assert.ok(FRONT_LOG_ROLLS.access.rollMiB * FRONT_LOG_ROLLS.access.keep * 2 ** 20 >= 7 * 40_000 * 460);
    });

    it("takes other roll sizes from its input", () => {
        const { json } = adapt(renderFrontConfig({ ...base, logRolls: { access: { rollMiB: 3, keep: 2 }, refused: { rollMiB: 1, keep: 1 } } }));
        assert.equal(json.logging.logs[ACCEPTED_LOGGER].writer.roll_size_mb, 3);
        assert.equal(json.logging.logs[ACCEPTED_LOGGER].writer.roll_keep, 2);
        assert.equal(json.logging.logs[REFUSED_LOGGER].writer.roll_size_mb, 1);
        assert.equal(json.logging.logs[REFUSED_LOGGER].writer.roll_keep, 1);
    });

    it("sends every request to the refusal log unless the route names the access log, whatever the TLS kind", () => {
        for (const { tls, listen } of kindsByListen) {
            const { json, output } = adapt(renderFrontConfig({ ...base, listen, tls }));
            assert.doesNotMatch(output, /\bWARN\b/, "caddy adapt warned");
            const logs = json.apps.http.servers.srv0.logs;
            // httptype.go "add log associations": a catch-all site makes the log its default;
            // a named host maps to it. `no_hostname` keeps the access log out of both.
            const hostLoggers = [...(logs.default_logger_name === undefined ? [] : [logs.default_logger_name]), ...Object.values(logs.logger_names ?? {}).flat()];
            assert.deepEqual([...new Set(hostLoggers)], [REFUSED_LOGGER], `${tls.kind}: ${JSON.stringify(logs)}`);
        }
    });

    it("names the access log right after basic_auth, and nowhere else", () => {
        const { json } = adapt(renderFrontConfig(base));
        const handlers = loginRouteHandlers(json);
        const login = handlers.findIndex((h) => h.handler === "authentication");
        // builtins.go parseLogName: a vars handler setting access_logger_names.
        const named = handlers.findIndex((h) => h.handler === "vars" && h.access_logger_names !== undefined);
        assert.equal(named, login + 1, JSON.stringify(handlers.map((h) => h.handler)));
        assert.deepEqual(handlers[named].access_logger_names, [ACCEPTED_LOGGER]);
        assert.equal(JSON.stringify(json).split('"access_logger_names"').length - 1, 1, "access_logger_names set elsewhere too");
    });
});

describe("renderFrontConfig refuses bad inputs, naming the field", () => {
    const cases: [string, Partial<FrontInput>, RegExp][] = [
        ["no users", { users: [] }, /at least one user/],
        ["a user name with a space", { users: [{ name: "ci x", role: "push", passwordHash: HASH }] }, /user name/],
        ["a user name with a quote (CEL injection)", { users: [{ name: 'ci"||true||"', role: "push", passwordHash: HASH }] }, /user name/],
        ["a user name with a newline", { users: [{ name: "ci\n}", role: "push", passwordHash: HASH }] }, /user name/],
        ["a duplicate user", { users: [base.users[0], base.users[0]] }, /listed twice/],
        ["a bcrypt hash", { users: [{ name: "ci", role: "push", passwordHash: `$2y$05$${"a".repeat(53)}` }] }, /user ci needs an Argon2id hash as renderFrontPasswordHash writes it; got one that starts "\$2y\$05\$aaa"/],
        ["a hash with a trailing newline", { users: [{ name: "ci", role: "push", passwordHash: `${HASH}\nimport x` }] }, /user ci needs an Argon2id hash/],
        ["a realm with a space", { realm: "my registry" }, /realm must be a plain token/],
        ["a realm with a brace", { realm: "r}{" }, /realm must be a plain token/],
        ["a realm with a backtick", { realm: "r`x" }, /realm must be a plain token/],
        ["a hostname with a space", { tls: { kind: "internal", hostname: "a b" } }, /hostname must be/],
        ["a hostname with a newline", { tls: { kind: "letsencrypt", hostname: "a.example\n}" } }, /hostname must be/],
        ["an ACME server over http", { tls: { kind: "letsencrypt", hostname: "a.example", acmeServer: "http://ca.internal/dir" } }, /acmeServer must be an https URL/],
        ["an ACME server with a placeholder", { tls: { kind: "letsencrypt", hostname: "a.example", acmeServer: "https://ca.internal/{env.X}" } }, /acmeServer must be an https URL/],
        ["an ACME root without a server", { tls: { kind: "letsencrypt", hostname: "a.example", acmeServerRoot: "/etc/caddy/acme-ca.crt" } }, /acmeServerRoot must be a plain file path, and only with acmeServer/],
        ["an ACME root path with a space", { tls: { kind: "letsencrypt", hostname: "a.example", acmeServer: "https://ca.internal/dir", acmeServerRoot: "/etc/caddy/a b" } }, /acmeServerRoot must be a plain file path/],
        ["an upstream with a space", { upstream: "127.0.0.1:5002 evil" }, /upstream must be a plain token/],
        ["an upstream login with a quote", { upstreamAuthorization: 'Basic Zm9v" }' }, /upstreamAuthorization must be `Basic ` and base64/],
        ["an upstream login of another scheme", { upstreamAuthorization: "Bearer Zm9vOmJhcg==" }, /upstreamAuthorization must be `Basic ` and base64/],
        ["a log path with a newline", { accessLogFile: "/tmp/x\n}" }, /accessLogFile must be a plain token/],
        ["a refusal log path with a brace", { refusedLogFile: "/tmp/{x}" }, /refusedLogFile must be a plain token/],
        ["one file for both logs", { refusedLogFile: base.accessLogFile }, /refusedLogFile must not be the access log/],
        ["a fractional roll size", { logRolls: { ...FRONT_LOG_ROLLS, access: { rollMiB: 0.5, keep: 3 } } }, /accepted log's rollMiB must be a whole number/],
        ["no rolled files kept", { logRolls: { ...FRONT_LOG_ROLLS, refused: { rollMiB: 1, keep: 0 } } }, /refused log's keep must be a whole number/],
        ["an admin socket with a brace", { adminSocket: "/data/{a}.sock" }, /adminSocket must be a plain token/],
        ["a listen address with a space", { listen: ":443 :80" }, /listen must be a plain token/],
        ["a zero timeout", { timeouts: { ...FRONT_TIMEOUTS, idleSeconds: 0 } }, /idleSeconds must be a whole number/],
        ["an idle timeout longer than the header timeout (it bounds HTTP/2's headers)", { timeouts: { ...FRONT_TIMEOUTS, idleSeconds: FRONT_TIMEOUTS.readHeaderSeconds + 1 } }, /idleSeconds .* must not exceed readHeaderSeconds/],
        ["a fractional timeout", { timeouts: { ...FRONT_TIMEOUTS, readBodyIdleSeconds: 1.5 } }, /readBodyIdleSeconds must be a whole number/],
        ["a zero minimum body rate", { timeouts: { ...FRONT_TIMEOUTS, readMinBytesPerSecond: 0 } }, /readMinBytesPerSecond must be a whole number/],
        ["a zero write idle timeout", { timeouts: { ...FRONT_TIMEOUTS, writeIdleSeconds: 0 } }, /writeIdleSeconds must be a whole number/],
        ["a repository pattern with a regex", { users: [{ name: "t", role: "push", passwordHash: HASH, repositories: ["team-a/(.*)"] }] }, /repository pattern/],
        ["a repository pattern with a newline", { users: [{ name: "t", role: "push", passwordHash: HASH, repositories: ["team-a\n}"] }] }, /repository pattern/],
    ];
    for (const [what, change, message] of cases) {
        it(`refuses ${what}`, () => {
            assert.throws(() => renderFrontConfig({ ...base, ...change }), message);
        });
    }

    it("does not echo a refused upstream login, which carries the front's password", () => {
        assert.throws(() => renderFrontConfig({ ...base, upstreamAuthorization: "Basic s3cr3t-front-pw" }), (e: Error) => !e.message.includes("s3cr3t"));
    });
});

describe("repositoryPatternRegex", () => {
    const matches = (pattern: string, name: string) => new RegExp(`^(?:${repositoryPatternRegex(pattern)})$`).test(name);
    it("`*` stays within one path component", () => {
        assert.ok(matches("team-a/*", "team-a/app"));
        assert.ok(!matches("team-a/*", "team-a/x/y"));
        assert.ok(!matches("team-a/*", "team-b/app"));
    });
    it("`**` crosses components", () => {
        assert.ok(matches("team-a/**", "team-a/app"));
        assert.ok(matches("team-a/**", "team-a/x/y"));
        assert.ok(!matches("team-a/**", "team-ab/x"));
    });
    it("`.` is literal", () => {
        assert.ok(matches("a.b/app", "a.b/app"));
        assert.ok(!matches("a.b/app", "axb/app"));
    });
    it("refuses what is not a repository name with wildcards", () => {
        for (const bad of ["", "Team/app", "/app", "a//b", "a/***", "a/[bc]", "a/b?", "a|b", "a/$"]) {
            assert.throws(() => repositoryPatternRegex(bad), /repository pattern/, JSON.stringify(bad));
        }
    });
});

/**
 * The user Go's `Request.BasicAuth` finds in an Authorization value (go1.26 net/http/request.go
 * parseBasicAuth), or undefined where it finds none: `Basic ` in any ASCII case over exactly 6
 * bytes, then base64.StdEncoding, which wants canonical padding, then the bytes up to the first `:`.
 */
function goBasicUser(value: string): string | undefined {
    if (value.length < 6 || value.slice(0, 6).toLowerCase() !== "basic ") {
        return undefined;
    }
    const encoded = value.slice(6);
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(encoded)) {
        return undefined;
    }
    const decoded = Buffer.from(encoded, "base64").toString("latin1");
    const colon = decoded.indexOf(":");
    return colon < 0 ? undefined : decoded.slice(0, colon);
}

describe("knownLoginRegex: only a known user's Basic login reaches basic_auth", () => {
    // Lengths 1 to 9 with the colon: every remainder of base64's 3-byte groups, twice or more.
    const names = ["c", "ci", "ops", "team.a", "deploy", "Builder", "a_b-c.9", "x".repeat(64), "0z", "pushpull"];
    const known = new RegExp(knownLoginRegex(names));
    const basic = (credentials: Buffer | string, scheme = "Basic") => `${scheme} ${Buffer.from(credentials).toString("base64")}`;

    it("accepts every known name with any password: empty, every first and second byte, long", () => {
        for (const name of names) {
            const passwords: Buffer[] = [Buffer.alloc(0), Buffer.from("x".repeat(200)), Buffer.from(":colon:"), Buffer.from("pässwörd")];
            for (let byte = 0; byte < 256; byte++) {
                passwords.push(Buffer.from([byte]), Buffer.from([byte, 255 - byte]), Buffer.from([0x41, byte]));
            }
            for (const password of passwords) {
                const value = basic(Buffer.concat([Buffer.from(`${name}:`), password]));
                assert.equal(goBasicUser(value), name, value);
                assert.ok(known.test(value), `${name} refused with password ${password.toString("hex")}: ${value}`);
            }
        }
    });

    it("takes the scheme in any case, as Go does", () => {
        for (const scheme of ["basic", "BASIC", "bAsIc"]) {
            assert.ok(known.test(basic("ci:pw", scheme)), scheme);
        }
    });

    it("refuses unknown names and near misses of known ones", () => {
        const misses = ["", "C", "CI", "Ci", "cia", "ic", "ci ", " ci", "ci.", "opss", "op", "team.b", "team-a", "team.", "deploy2", "deplo", "DEPLOY", "builder", "a_b-c.8", "x".repeat(63), "x".repeat(65), "admin", "root", "ci\u0000"];
        for (const name of misses) {
            for (const password of ["", "x", "pw", "a longer password", "\u00ff\u0000"]) {
                const value = basic(Buffer.from(`${name}:${password}`, "latin1"));
                assert.equal(goBasicUser(value), name, value);
                assert.ok(!known.test(value), `unknown name ${JSON.stringify(name)} let through: ${value}`);
            }
        }
    });

    it("refuses what Go would not read as a known user: no colon, other schemes, bad spacing or padding, two fields", () => {
        const refused = [
            basic("ci"), // no colon: Go finds no user
            basic("deploy"),
            `Bearer ${Buffer.from("ci:pw").toString("base64")}`,
            `Basic  ${Buffer.from("ci:pw").toString("base64")}`,
            `Basic${Buffer.from("ci:pw").toString("base64")}`,
            `${basic("ci:pw")} `,
            `${basic("ci:pw").replace(/=*$/, "")}===`,
            `${basic("ci:pw")},${basic("admin:pw")}`,
            // Caddy joins two Authorization fields with `,`; Go reads only the first.
            `${basic("admin:pw")},${basic("ci:pw")}`,
            "Basic",
            "Basic ",
            "",
        ];
        for (const value of refused) {
            assert.ok(!known.test(value), `let through: ${JSON.stringify(value)}`);
        }
    });

    it("agrees with Go on random values: a value Go reads as some user passes exactly when that user is known", () => {
        const pool = [...names, "admin", "cj", "ch", "dep", "deploz", "team/a", "tEam.a", "x".repeat(64).replace(/x$/, "y")];
        let seed = 1;
        const random = (n: number) => {
            seed = (seed * 1103515245 + 12345) % 2 ** 31;
            return seed % n;
        };
        for (let i = 0; i < 20_000; i++) {
            const name = pool[random(pool.length)];
            const password = Buffer.from(Array.from({ length: random(6) }, () => random(256)));
            let value = basic(Buffer.concat([Buffer.from(`${name}:`), password]));
            if (random(4) === 0) {
                // A flipped digit anywhere: the name may change, or the value stop decoding.
                const at = 6 + random(value.length - 6);
                value = value.slice(0, at) + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[random(65)] + value.slice(at + 1);
            }
            const user = goBasicUser(value);
            if (user !== undefined) {
                assert.equal(known.test(value), names.includes(user), `${JSON.stringify(value)} is user ${JSON.stringify(user)}`);
            }
        }
    });
});

describe("the front answers an unknown user name before basic_auth", { skip }, () => {
    it("refuses it with basic_auth's challenge, ahead of the authentication handler", () => {
        const { ok, json, output } = adapt(renderFrontConfig(base));
        assert.ok(ok, output);
        const text = JSON.stringify(json);
        const pattern = knownLoginRegex(base.users.map((user) => user.name));
        const matcher = text.indexOf(JSON.stringify({ pattern }).slice(1, -1));
        assert.ok(matcher > 0, `no vars_regexp with ${pattern}`);
        assert.ok(matcher < text.indexOf('"authentication"'), "the unknown-user matcher comes after basic_auth");
        assert.ok(text.includes(JSON.stringify('Basic realm="private-registry"')), "no challenge with the realm");
        assert.match(text, /"handler":"error","status_code":401/);
    });
});

describe("the access log's uri without an absolute-form target's scheme and authority", () => {
    // RE2's `(?s)` is JavaScript's `s` flag; `${1}` is `$1`.
    const strip = (uri: string) => uri.replace(new RegExp(loggedUriRegex().replace("(?s)", ""), "s"), "$1");
    it("drops userinfo and host, keeps the path and query", () => {
        assert.equal(strip("https://ci:secret@registry.example.com/v2/app/manifests/v1?x=1"), "/v2/app/manifests/v1?x=1");
        assert.equal(strip("HTTPS://ci:pa?ss@host/v2/"), "/v2/");
        assert.equal(strip("https://ci:secret@host"), "");
        assert.ok(!strip(`https://ci:${"s".repeat(5000)}@host/v2/`).includes("s".repeat(10)));
    });
    it("cuts a long target to LOGGED_FIELD_BYTES characters", () => {
        assert.equal(strip(`/v2/${"a".repeat(10_000)}`), `/v2/${"a".repeat(LOGGED_FIELD_BYTES - 4)}`);
        assert.equal(strip(`/v2/\n${"a".repeat(10_000)}`).length, LOGGED_FIELD_BYTES);
        assert.ok(ABSOLUTE_FORM_AUTHORITY.startsWith("^"));
    });
    it("leaves origin-form targets alone, `//` paths too", () => {
        for (const uri of ["/v2/", "//v2/x", "/v2/https://x@y/", "*"]) {
            assert.equal(strip(uri), uri);
        }
    });
    it("is in the front's log filter", { skip }, () => {
        const { json } = adapt(renderFrontConfig(base));
        // modules/logging/filters.go RegexpFilter: `value` (omitted when empty) replaces each match.
        for (const name of [ACCEPTED_LOGGER, REFUSED_LOGGER]) {
            const fields = json.logging.logs[name].encoder.fields;
            assert.deepEqual(fields["request>uri"], { filter: "regexp", regexp: loggedUriRegex(), value: "${1}" }, name);
            for (const gone of ["request>headers", "request>tls", "resp_headers"]) {
                assert.deepEqual(fields[gone], { filter: "delete" }, `${name}: ${gone}`);
            }
        }
    });
});

/**
 * Go's strconv.ParseInt(s, 10, 64): an optional sign, then decimal digits, within int64. What
 * distribution's parseContentRange (registry/handlers/helpers.go) reads each side of the first
 * `-` with; anything it refuses is a 500 at the registry.
 */
function goParseInt64(value: string): boolean {
    if (!/^[+-]?[0-9]+$/.test(value)) {
        return false;
    }
    const n = BigInt(value);
    return n >= -(2n ** 63n) && n < 2n ** 63n;
}

/** parseContentRange: strings.Cut at the first `-`, ParseInt on both sides. */
function registryParsesContentRange(value: string): boolean {
    const at = value.indexOf("-");
    return at >= 0 && goParseInt64(value.slice(0, at)) && goParseInt64(value.slice(at + 1));
}

describe("malformed requests the front answers for the registry", () => {
    // RE2's `(?s:...)` is JavaScript's `s` flag (Node 20 has no inline modifiers).
    const longName = new RegExp(longNamePathRegex().replace("(?s:", "(?:"), "s");
    const routes = ["manifests/latest", `manifests/sha256:${"a".repeat(64)}`, "blobs/uploads/", "blobs/uploads/0a1b-uuid", `blobs/sha256:${"b".repeat(64)}`, "tags/list", `referrers/sha256:${"c".repeat(64)}`];

    it("refuses a repository name longer than distribution's 255 characters on every route, and no shorter one", () => {
        assert.equal(REPOSITORY_NAME_MAX, 255);
        const names = (length: number) => ["a".repeat(length), `team/${"b".repeat(length - 5)}`, `a.b/${"c".repeat(length - 4)}`, `${"d/".repeat(length).slice(0, length - 1)}d`];
        for (const route of routes) {
            for (const name of names(256)) {
                assert.equal(name.length, 256);
                assert.ok(longName.test(`/v2/${name}/${route}`), `a 256-character name on ${route}`);
            }
            for (const name of names(255)) {
                assert.equal(name.length, 255);
                assert.ok(!longName.test(`/v2/${name}/${route}`), `a 255-character name on ${route}`);
            }
            assert.ok(longName.test(`/v2/${"e".repeat(5000)}/${route}`));
        }
        // What follows the name may be long without making the name long.
        assert.ok(!longName.test(`/v2/app/blobs/uploads/${"f".repeat(400)}`));
        assert.ok(!longName.test(`/v2/app/manifests/${"g".repeat(400)}`));
        assert.ok(!longName.test(`/v2/${"h".repeat(300)}`), "not an API route: the registry's 404");
        // A name may hold a route's words: the one split the routes allow is the name's.
        assert.ok(longName.test(`/v2/${"i".repeat(250)}/manifests/blobs/x`), "the name is i...i/manifests, 260 characters");
        assert.ok(!longName.test(`/v2/${"i".repeat(200)}/manifests/blobs/x`));
    });

    it("lets through only a Content-Range the registry's parser reads, and refuses the issue's", () => {
        const range = new RegExp(CONTENT_RANGE_REGEX);
        for (const good of ["", "0-4", "5-9", "0-0", `${"9".repeat(18)}-${"9".repeat(18)}`]) {
            assert.ok(range.test(good), JSON.stringify(good));
            assert.ok(good === "" || registryParsesContentRange(good), JSON.stringify(good));
        }
        for (const bad of ["abc", "-5-10", "bytes 0-4/5", "0-", "-0", "0-4 ", " 0-4", "0-4,0-4", `0-${"9".repeat(19)}`, "0x1-2"]) {
            assert.ok(!range.test(bad), `let through: ${JSON.stringify(bad)}`);
        }
        // Every value the front lets through, the registry reads: it never meets one it answers with a 500.
        let seed = 7;
        const random = (n: number) => {
            seed = (seed * 1103515245 + 12345) % 2 ** 31;
            return seed % n;
        };
        const alphabet = "0123456789--+ b/,";
        for (let i = 0; i < 50_000; i++) {
            const value = Array.from({ length: random(12) }, () => alphabet[random(alphabet.length)]).join("");
            if (value !== "" && range.test(value)) {
                assert.ok(registryParsesContentRange(value), `let through what the registry cannot read: ${JSON.stringify(value)}`);
            }
        }
    });

    it("lets an upload PATCH through with no Content-Type or exactly application/octet-stream, as the registry does", () => {
        const type = new RegExp(PATCH_CONTENT_TYPE_REGEX);
        for (const value of ["", "application/octet-stream", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream; charset=binary", "Application/Octet-Stream", " application/octet-stream"]) {
            // registry/handlers/blobupload.go PatchBlobData: `ct != "" && ct != "application/octet-stream"` is refused.
            assert.equal(type.test(value), value === "" || value === "application/octet-stream", JSON.stringify(value));
        }
    });

    it("tells a client's broken body from an upstream failure by Go's own messages", () => {
        const length = new RegExp(BODY_LENGTH_ERROR_REGEX);
        const chunks = new RegExp(BODY_CHUNKS_ERROR_REGEX);
        // As Caddy's log shows them: the body's error, wrapped by the copy to the registry.
        assert.ok(length.test("readfrom tcp 127.0.0.1:50868->127.0.0.1:41807: request declared a Content-Length of 100 but only wrote 10 bytes"));
        assert.ok(length.test("sender tried to send more than declared Content-Length of 5 bytes"));
        for (const message of ["invalid byte in chunk length", "http chunk length too large", "malformed chunked encoding", "chunked line ends with bare LF", "header line too long"]) {
            assert.ok(chunks.test(`readfrom tcp 127.0.0.1:1->127.0.0.1:2: ${message}`), message);
        }
        const upstream = [
            "dial tcp 127.0.0.1:5002: connect: connection refused",
            "read tcp 127.0.0.1:35688->127.0.0.1:45199: read: connection reset by peer",
            "EOF",
            "unexpected EOF",
            "readfrom tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout",
            "context canceled",
            "net/http: HTTP/1.x transport connection broken: malformed HTTP response",
        ];
        for (const message of upstream) {
            assert.ok(!length.test(message) && !chunks.test(message), `taken for a client's body: ${message}`);
        }
    });

    it("answers in the registry's error shape, with its codes and messages", () => {
        const codes = [NAME_INVALID_BODY, RANGE_INVALID_BODY, PATCH_TYPE_UNSUPPORTED_BODY, BODY_LENGTH_INVALID_BODY, BODY_CHUNKS_INVALID_BODY].map((body) => {
            const errors = (JSON.parse(body) as { errors: { code: string; message: string; detail: string }[] }).errors;
            assert.equal(errors.length, 1);
            assert.ok(errors[0].detail.length > 0);
            return `${errors[0].code}: ${errors[0].message}`;
        });
        // distribution v3.1.2 registry/api/errcode/register.go.
        assert.deepEqual(codes, [
            "NAME_INVALID: invalid repository name",
            "RANGE_INVALID: invalid content range",
            "UNSUPPORTED: The operation is unsupported.",
            "SIZE_INVALID: provided length did not match content length",
            "SIZE_INVALID: provided length did not match content length",
        ]);
        assert.throws(() => registryErrorBody("X", "m", "a {placeholder}"), /no backtick or brace/);
        assert.throws(() => registryErrorBody("X", "m", "a `tick`"), /no backtick or brace/);
    });

    it("answers them after the login and the role refusals, with 400, 416 and 415", { skip }, () => {
        const { ok, json, output } = adapt(renderFrontConfig(base));
        assert.ok(ok, output);
        // The site's routes in the order Caddy runs them, each `route` block's directives in line.
        const leaves = (routes: { handle?: { handler: string; routes?: unknown[] }[] }[]): string[] =>
            routes.flatMap((route) => {
                const nested = (route.handle ?? []).filter((h) => h.handler === "subroute");
                return nested.length > 0 ? nested.flatMap((h) => leaves((h.routes ?? []) as typeof routes)) : [JSON.stringify(route)];
            });
        const order = leaves(json.apps.http.servers.srv0.routes);
        const indexes = (needle: string) => order.flatMap((route, index) => (route.includes(needle) ? [index] : []));
        const login = indexes('"authentication"')[0];
        const lastDenied = Math.max(...indexes('"status_code":403'));
        const proxy = Math.max(...indexes('"reverse_proxy"'));
        assert.ok(login < lastDenied && lastDenied < proxy, "the login, the role refusals and the proxy are not in order");
        for (const [pattern, body, status] of [
            [longNamePathRegex(), NAME_INVALID_BODY, 400],
            [CONTENT_RANGE_REGEX, RANGE_INVALID_BODY, 416],
            [PATCH_CONTENT_TYPE_REGEX, PATCH_TYPE_UNSUPPORTED_BODY, 415],
        ] as const) {
            const answer = JSON.stringify({ body, handler: "static_response", status_code: status }).slice(1, -1);
            const at = order.findIndex((route) => route.includes(JSON.stringify(pattern)) && route.includes(answer));
            assert.ok(at > lastDenied && at < proxy, `the ${status} answer for ${pattern} is at ${at}, not between the role refusals (${lastDenied}) and the proxy (${proxy})`);
        }
    });

    it("answers a client's broken body with 400, and raises every other server error again, at error level", { skip }, () => {
        const { ok, json, output } = adapt(renderFrontConfig(base));
        assert.ok(ok, output);
        const routes = json.apps.http.servers.srv0.errors.routes[0].handle[0].routes as { match: Record<string, any>[]; handle: any[] }[];
        const inner = (route: (typeof routes)[number]) => route.handle[0].routes[0].handle as Record<string, unknown>[];
        assert.equal(routes.length, 4);
        assert.deepEqual(routes[0].match[0].vars_regexp["{http.error.message}"].pattern, BODY_LENGTH_ERROR_REGEX);
        assert.deepEqual(inner(routes[0])[1], { body: BODY_LENGTH_INVALID_BODY, handler: "static_response", status_code: 400 });
        assert.deepEqual(routes[1].match[0].vars_regexp["{http.error.message}"].pattern, BODY_CHUNKS_ERROR_REGEX);
        assert.deepEqual(inner(routes[1])[1], { body: BODY_CHUNKS_INVALID_BODY, handler: "static_response", status_code: 400 });
        // Caddy logs an error an error route handles at debug (modules/caddyhttp/server.go); one
        // the route fails again keeps error level, and the client gets the first error's status.
        // A start refused because its user's budget is spent (uploadStarts.ts): the registry's 429.
        assert.match(routes[2].match[0].expression.expr, /^\{http\.error\.status_code\} == 503 && \{http\.error\.message\} == "no upstreams available"$/);
        assert.deepEqual(routes[2].match[0].method, ["POST"]);
        const spent = inner(routes[2])[1] as { body: string; status_code: number };
        assert.equal(spent.status_code, 429);
        assert.equal((JSON.parse(spent.body) as { errors: { code: string }[] }).errors[0].code, "TOOMANYREQUESTS");
        assert.equal(routes[3].match[0].expression.expr, "{http.error.status_code} >= 500");
        assert.deepEqual(inner(routes[3]), [{ error: "{http.error.message}", handler: "error", status_code: "{http.error.status_code}" }]);
    });
});
