import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import {
    anchoredPattern,
    luaPatternProblem,
    renderRetention,
    renderRetentionContainer,
    RETENTION_CONTAINER_FILES,
    type RetentionInput,
} from "../../components/render/retention";
import { REGBOT_GO_MODULE, REGBOT_IMAGE, REGCLIENT_VERSION } from "../../components/versions";

const base: RetentionInput = {
    registryHost: "registry.example.com",
    username: "ci",
    files: { config: "/etc/private-registry/retention.yml", password: "/etc/private-registry/registry-password" },
    rules: { keepNewest: 2, keepYoungerThanDays: 30, protectPatterns: ["latest", "^v%d+%.%d+%.%d+$"] },
    tls: { caFile: "/etc/private-registry/ca.crt" },
    dryRun: false,
};

const script = (config: string): string => (parse(config) as { scripts: { script: string }[] }).scripts[0].script;
const refused = (input: unknown, ...messages: RegExp[]) =>
    assert.throws(
        () => renderRetention(input as RetentionInput),
        (error: Error) => messages.every((m) => m.test(error.message)) || assert.fail(`message did not match ${messages.join(", ")}:\n${error.message}`),
    );

describe("tag retention config (regbot)", () => {
    it("renders the rules into the script header and the login as regbot creds", () => {
        const out = renderRetention(base);
        const config = parse(out.config);
        assert.equal(config.version, 1);
        assert.deepEqual(config.creds, [
            {
                registry: "registry.example.com",
                user: "ci",
                pass: '{{file "/etc/private-registry/registry-password"}}',
                tls: "enabled",
                regcert: '{{file "/etc/private-registry/ca.crt"}}',
            },
        ]);
        assert.deepEqual(config.defaults, { skipDockerConfig: true, parallel: 1, timeout: "1h" });
        const lua = script(out.config);
        assert.match(lua, /^local host = "registry\.example\.com"$/m);
        assert.match(lua, /^local keepNewest = 2$/m);
        assert.match(lua, /^local keepYoungerThanDays = 30$/m);
        assert.match(lua, /^local protect = \{ "\^latest\$", "\^v%d\+%\.%d\+%\.%d\+\$" \}$/m);
        assert.match(lua, /^local dryRun = false$/m);
        assert.match(lua, /tag\.delete\(e\.ref\)/);
        assert.equal(out.active, true);
    });

    it("gives the exact command line, with --dry-run only for a dry run", () => {
        assert.deepEqual(renderRetention(base).args, ["once", "--config", "/etc/private-registry/retention.yml"]);
        const dry = renderRetention({ ...base, dryRun: true });
        assert.deepEqual(dry.args, ["once", "--config", "/etc/private-registry/retention.yml", "--dry-run"]);
        // The script skips its deletes by itself too, whatever flags it is run with.
        assert.match(script(dry.config), /^local dryRun = true$/m);
    });

    it("with no rules keeps everything: the script stops before its first request", () => {
        const out = renderRetention({ ...base, rules: {} });
        assert.equal(out.active, false);
        const lua = script(out.config);
        assert.match(lua, /^local keepNewest = nil$/m);
        assert.match(lua, /^local protect = \{\}$/m);
        const stop = lua.indexOf("no rules set, every tag is kept");
        assert.ok(stop > 0 && stop < lua.indexOf("repo.ls("), "the no-rules exit must come before any registry call");
    });

    it("anchors each pattern to the whole tag, with or without the user's ^ and $", () => {
        assert.equal(anchoredPattern("latest"), "^latest$");
        assert.equal(anchoredPattern("^latest$"), "^latest$");
        assert.equal(anchoredPattern("^release%-.*"), "^release%-.*$");
    });

    it("never renders a secret: the password is refused as input and read from a file at run time", () => {
        refused({ ...base, password: "hunter2-secret" }, /password must not be given/);
        const out = renderRetentionContainer(base);
        for (const text of [out.config, ...out.args, ...out.dockerArgs]) {
            assert.doesNotMatch(text, /hunter2/);
        }
        assert.equal(parse(out.config).creds[0].pass, `{{file "${RETENTION_CONTAINER_FILES.password}"}}`);
    });

    it("plain HTTP only for a loopback registry (tunnel mode), and then without a CA", () => {
        const out = renderRetention({ ...base, registryHost: "127.0.0.1:5000", tls: { plainHttpLoopback: true } });
        const cred = parse(out.config).creds[0];
        assert.equal(cred.tls, "disabled");
        assert.equal(cred.regcert, undefined);
        refused({ ...base, tls: { ...base.tls, plainHttpLoopback: true } }, /loopback only; "registry\.example\.com" is not/, /exclude each other/);
    });

    it("runs from the pinned image with the files mounted read-only where the config names them", () => {
        const out = renderRetentionContainer({ ...base, dryRun: true });
        const C = RETENTION_CONTAINER_FILES;
        const args = out.dockerArgs;
        assert.deepEqual(args.slice(0, 2), ["run", "--rm"]);
        for (const flag of [["--network", "host"], ["--cap-drop", "ALL"], ["--user", "0:0"], ["--security-opt", "no-new-privileges"]]) {
            assert.ok(args.join(" ").includes(flag.join(" ")), `missing ${flag.join(" ")}`);
        }
        assert.ok(args.includes("--read-only"));
        const mounts = args.flatMap((a, i) => (args[i - 1] === "-v" ? [a] : []));
        assert.deepEqual(mounts, [`${base.files.config}:${C.config}:ro`, `${base.files.password}:${C.password}:ro`, `${base.tls.caFile}:${C.ca}:ro`]);
        assert.deepEqual(args.slice(args.indexOf(REGBOT_IMAGE)), [REGBOT_IMAGE, "once", "--config", C.config, "--dry-run"]);
        const cred = parse(out.config).creds[0];
        assert.equal(cred.regcert, `{{file "${C.ca}"}}`);
        // The same script as on the host: only the file paths differ.
        assert.equal(script(out.config), script(renderRetention({ ...base, dryRun: true }).config));
        assert.throws(() => renderRetentionContainer(base, "Regbot:latest; rm -rf /"), /image must be a lower-case reference/);
    });

    it("pins the image tag and the Go module to one regclient release", () => {
        assert.match(REGCLIENT_VERSION, /^\d+\.\d+\.\d+$/);
        assert.equal(REGBOT_IMAGE, `docker.io/regclient/regbot:v${REGCLIENT_VERSION}`);
        assert.equal(REGBOT_GO_MODULE, "github.com/regclient/regclient/cmd/regbot");
        // install-rehearsal-tools.sh reads the literal with sed before npm ci.
        const source = fs.readFileSync(path.join(__dirname, "..", "..", "components", "versions.ts"), "utf8");
        assert.equal(/^export const REGCLIENT_VERSION = "([^"]*)";/m.exec(source)?.[1], REGCLIENT_VERSION);
    });
});

describe("tag retention input checks", () => {
    it("refuses numbers that are not whole and positive, naming the rule", () => {
        for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3", 100_001]) {
            refused({ ...base, rules: { keepNewest: bad } }, /keepNewest must be a whole number from 1 to 100000; got /);
        }
        refused({ ...base, rules: { keepYoungerThanDays: 0 } }, /keepYoungerThanDays must be a whole number from 1 to 36500; got 0/);
    });

    it("refuses unknown rules, such as a singular protectPattern", () => {
        refused({ ...base, rules: { protectPattern: "^latest$" } }, /protectPattern is not a retention rule \(rules: keepNewest, keepYoungerThanDays, protectPatterns\)/);
        refused({ ...base, rules: { protectPatterns: "latest" } }, /protectPatterns must be a list/);
    });

    it("explains regex habits in terms of Lua patterns", () => {
        const cases: [string, RegExp][] = [
            ["^(latest|v[0-9]+\\.[0-9]+\\.[0-9]+)$", /has "\\"|no.*alternative/],
            ["^(latest|v1)$", /has a group or \|: .*give each alternative as its own pattern/],
            ["v\\d+", /escape with %, e\.g\. %\. for a dot/],
            ["v[0-9]{3}", /no counts/],
            ["v1-rc", /bare "-".*write %- for a hyphen/],
            ["*latest", /\* with nothing before it to repeat/],
            ["^$", /matches no tag/],
            ["v%b()", /group or \|/],
            ["v%bxy", /has %b; allowed/],
            ["v%1", /has %1; allowed/],
            ["v%", /lone %/],
            ["v[0-9", /\[ without its \]/],
            ["v[]", /empty \[\]/],
            ["v[9-0]", /range 9-0/],
            ["v[a-]", /"-" in a \[set\]/],
            ["la$test", /"\$"; tags hold only/],
            ["a^b", /"\^"; tags hold only/],
            ["x".repeat(129), /1 to 128 characters/],
        ];
        for (const [pattern, message] of cases) {
            const problem = luaPatternProblem(pattern);
            assert.ok(problem !== undefined, `${JSON.stringify(pattern)} was accepted`);
            assert.match(problem, message, `${JSON.stringify(pattern)}: ${problem}`);
        }
        for (const good of ["latest", "^v%d+%.%d+%.%d+$", "[a-z]+%-rc%d*", "release%-.*", "[^%.]+", "sha%-%x+", "v?[0-9.]+", "[%w_]+"]) {
            assert.equal(luaPatternProblem(good), undefined, good);
        }
    });

    it("refuses hostile values before they reach Lua, YAML or a template", () => {
        refused({ ...base, rules: { protectPatterns: ['"]] os.exit(1) --'] } }, /protectPatterns\[0\]/);
        refused({ ...base, rules: { protectPatterns: ["latest\nlocal x = 1"] } }, /protectPatterns\[0\]/);
        refused({ ...base, username: "ci{{env \"HOME\"}}" }, /username must match/);
        refused({ ...base, username: "ci\npass: x" }, /username must match/);
        refused({ ...base, registryHost: 'evil.example"; os.exit() --' }, /registryHost must be host\[:port\]/);
        refused({ ...base, registryHost: "registry.example.com/team" }, /registryHost must be host\[:port\]/);
        refused({ ...base, registryHost: "Registry.Example.com" }, /in lower case/);
        refused({ ...base, registryHost: "registry.example.com:70000" }, /registryHost must be/);
        refused({ ...base, registryHost: "myregistry" }, /needs a dot or a port/);
        refused({ ...base, files: { ...base.files, password: '/x"}}{{env "HOME"' } }, /files\.password must be an absolute path/);
        refused({ ...base, files: { ...base.files, config: "/etc/../root/x" } }, /files\.config must be an absolute path/);
        refused({ ...base, tls: { caFile: "ca.crt" } }, /tls\.caFile must be an absolute path/);
        refused({ ...base, dryRun: "yes" }, /dryRun must be true or false/);
    });

    it("accepts the registry as a name, an address, a port or [IPv6]", () => {
        for (const registryHost of ["registry.example.com", "203.0.113.7", "127.0.0.1:5000", "localhost:5000", "localhost", "[::1]:5000", "registry:5000"]) {
            assert.doesNotThrow(() => renderRetention({ ...base, registryHost }), registryHost);
        }
    });

    it("reports every problem at once", () => {
        refused({ ...base, username: "", rules: { keepNewest: 0, keepYoungerThanDays: -3, protectPatterns: ["(x)"] } }, /username/, /keepNewest/, /keepYoungerThanDays/, /protectPatterns\[0\]/);
    });
});
