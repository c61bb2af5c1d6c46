import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { deploymentParts, DeploymentInput, DeploymentTls, FRONT_ACME_CA_FILE, renderBundleFiles } from "../../components/render/deployment";
import { TEST_ACME_CA } from "./acmeCa";
import { DRAIN_MARKER_FILE, FRONT_RELOAD_SETTLE_SECONDS, REGISTRY_CONTAINER_ENV, renderStartScript, renderStdinBundle } from "../../components/render/scripts";
import { REGISTRY_STATE_FILE } from "../../components/render/registryRun";
import { decodeBundleFiles } from "../support/bundle";
import { exampleDeploymentInput } from "../support/fixtures";
import { StubPath } from "../support/shell";
import { shellQuote } from "../../components/render/shell";
import { CADDY_IMAGE } from "../../components/versions";
import { goMemoryLimitBytes, REGISTRY_MEMORY_LIMIT_BYTES } from "../../components/render/registryRun";
import { FRONT_MEMORY_LIMIT_BYTES } from "../../components/render/frontRun";
import { parse } from "yaml";

/**
 * The start script run for real against a stand-in docker and curl. The container's hardening
 * lives only in this script's `docker run` line, so the argv docker receives is what is checked.
 */

const TLS_KEY = "-----BEGIN PRIVATE KEY-----\nUNITTESTTLSKEYc0ffee7f3a9\n-----END PRIVATE KEY-----\n";
const IMAGE = "docker.io/library/registry:3.1.2@sha256:0000000000000000000000000000000000000000000000000000000000000000";
const input: DeploymentInput = exampleDeploymentInput({
    image: IMAGE,
    region: "eu-central-1",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY",
    healthTimeoutSeconds: 5,
});
const SECRETS = [input.secretAccessKey, ...input.users.map((u) => u.password), input.httpSecret, "UNITTESTTLSKEYc0ffee7f3a9"];
const PRIMARY = input.users[0];
const MODES: Record<string, DeploymentTls> = {
    "private CA": {
        kind: "private-ca",
        hostname: "registry.example.com",
        certificate: "-----BEGIN CERTIFICATE-----\nserver\n-----END CERTIFICATE-----\n",
        privateKey: TLS_KEY,
        caCertificate: "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
    },
    tunnel: { kind: "none" },
};

/** Each call as its exact argv: NUL-separated words, then a marker word. */
const END = "<end-of-call>";
const RECORD = `printf '%s\\0' "$(basename "$0")" "$@" '${END}' >> "$(dirname "$0")/argv.log"`;

/**
 * A droplet stand-in: docker that records, succeeds and remembers which containers it runs (a
 * running front reports the pinned image), and curl that answers like a healthy registry.
 */
class Host {
    readonly stubs = new StubPath({
        docker: `${RECORD}
state="$(dirname "$0")"
for last; do :; done
case "$1" in
  image) exit 1 ;;
  inspect)
    [ -e "$state/running-$last" ] || exit 1
    case "$3" in
      *Config.Image*) echo ${shellQuote(CADDY_IMAGE)} ;;
      *HostConfig.Memory*) cat "$state/memory-$last" 2>/dev/null || echo 0 ;;
      *) echo true ;;
    esac ;;
  run)
    name=""; memory=0; prev=""
    for arg; do
      if [ "$prev" = --name ]; then name="$arg"; fi
      if [ "$prev" = --memory ]; then memory="$arg"; fi
      prev="$arg"
    done
    touch "$state/running-$name"
    echo "$memory" > "$state/memory-$name"
    echo 0123456789ab ;;
  rm) rm -f "$state/running-$last" "$state/memory-$last" ;;
  exec) if [ -e "$state/refuse-reload" ]; then echo "adapting config: refused" >&2; exit 1; fi ;;
esac`,
        // 401 without -K; 200 with -K only when the file holds the login the bundle carried.
        // Recorded, not slept: the order of the waits is what the tests check.
        sleep: RECORD,
        curl: `${RECORD}
login=""; prev=""; url=""
for arg; do
  if [ "$prev" = -K ]; then login="$arg"; fi
  prev="$arg"; url="$arg"
done
if [ -z "$login" ] || ! cmp -s "$login" "$(dirname "$0")/expected-login"; then printf 401; exit 0; fi
case "$url" in
  */v2/|*/v2/_catalog?n=1) printf 200 ;;
  *) printf 404 ;;
esac`,
    });
    readonly configDir = join(this.stubs.dir, "etc");
    readonly dataDir = join(this.stubs.dir, "data");
    readonly logDir = join(this.stubs.dir, "log");
    readonly script: string;
    readonly stdin: string;
    readonly files: Record<string, string>;

    constructor(readonly tls: DeploymentTls, htpasswd?: string, more: Partial<DeploymentInput> = {}) {
        const parts = deploymentParts({ ...input, ...more, tls });
        this.script = renderStartScript({ ...parts.start, configDir: this.configDir, dataDir: this.dataDir, front: { ...parts.start.front, logDir: this.logDir } });
        this.stdin = renderStdinBundle({
            files: { ...renderBundleFiles(parts), ...(htpasswd === undefined ? {} : { htpasswd }) },
            healthCheckUser: parts.healthCheckUser,
        });
        this.files = decodeBundleFiles(this.stdin);
        writeFileSync(join(this.stubs.dir, "argv.log"), "");
        writeFileSync(join(this.stubs.dir, "expected-login"), `user = "${PRIMARY.name}:${PRIMARY.password}"\n`);
    }

    run(stdin = this.stdin) {
        return this.stubs.run(this.script, { stdin });
    }

    calls(program?: string): string[][] {
        const words = readFileSync(join(this.stubs.dir, "argv.log"), "utf8").split("\0").slice(0, -1);
        const calls: string[][] = [[]];
        for (const word of words) {
            if (word === END) calls.push([]);
            else calls[calls.length - 1].push(word);
        }
        return calls.slice(0, -1).filter((c) => program === undefined || c[0] === program);
    }

    dockerRuns(name?: string): string[][] {
        return this.calls("docker").filter((c) => c[1] === "run" && (name === undefined || c[c.indexOf("--name") + 1] === name));
    }
}

const VALUED = new Set(["--name", "--network", "--log-driver", "--log-opt", "--cap-drop", "--cap-add", "--security-opt", "--memory", "--memory-swap", "-e", "-p", "-v"]);

/** `docker run` options grouped by flag (`--a=b` and `--a b` alike), and what follows them. */
function parseRun(argv: string[]): { flags: Map<string, string[]>; positional: string[] } {
    assert.deepEqual(argv.slice(0, 2), ["docker", "run"]);
    const flags = new Map<string, string[]>();
    const add = (flag: string, value: string) => flags.set(flag, [...(flags.get(flag) ?? []), value]);
    let i = 2;
    for (; i < argv.length && argv[i].startsWith("-"); i++) {
        const eq = argv[i].indexOf("=");
        if (argv[i].startsWith("--") && eq > 0) add(argv[i].slice(0, eq), argv[i].slice(eq + 1));
        else if (VALUED.has(argv[i])) add(argv[i], argv[++i]);
        else add(argv[i], "");
    }
    return { flags, positional: argv.slice(i) };
}

for (const [mode, tls] of Object.entries(MODES)) {
    const privateCa = tls.kind === "private-ca";
    const mountedFiles = ["config.yml", "htpasswd"];
    const frontFiles = privateCa ? ["front/Caddyfile", "front/tls.crt", "front/tls.key"] : ["front/Caddyfile"];
    const installedFiles = [...mountedFiles, "config-readonly.yml", ...(privateCa ? ["ca.crt"] : []), ...frontFiles];

    describe(`the start script (${mode})`, () => {
        it("runs one hardened, self-restarting registry with rotated logs and read-only config, on the host's loopback", () => {
            const host = new Host(tls);
            const result = host.run();
            assert.equal(result.status, 0, result.stderr);
            const runs = host.dockerRuns("registry");
            assert.equal(runs.length, 1, JSON.stringify(host.calls("docker")));
            const { flags, positional } = parseRun(runs[0]);

            // Anything else (--privileged, -p, a second -v...) needs a look first.
            assert.deepEqual([...flags.keys()].sort(), ["--cap-drop", "--log-driver", "--log-opt", "--memory", "--memory-swap", "--name", "--network", "--restart", "--security-opt", "-d", "-e", "-v"]);
            assert.deepEqual(flags.get("--restart"), ["always"], "comes back after a reboot or a crash");
            // A hard limit in bytes, swap equal to it (none besides), and Go's soft limit below it.
            assert.deepEqual(flags.get("--memory"), [String(REGISTRY_MEMORY_LIMIT_BYTES)]);
            assert.deepEqual(flags.get("--memory-swap"), [String(REGISTRY_MEMORY_LIMIT_BYTES)]);
            const soft = flags.get("-e")!.find((e) => e.startsWith("GOMEMLIMIT="));
            assert.ok(soft !== undefined && (goMemoryLimitBytes(soft.slice("GOMEMLIMIT=".length)) ?? Infinity) < REGISTRY_MEMORY_LIMIT_BYTES, `${soft} is below the container's limit`);
            assert.deepEqual(flags.get("--cap-drop"), ["ALL"]);
            assert.deepEqual(flags.get("--security-opt"), ["no-new-privileges"]);
            assert.deepEqual(flags.get("--log-driver"), ["json-file"]);
            assert.deepEqual(flags.get("--log-opt")?.sort(), ["max-file=5", "max-size=10m"], "logs cannot fill the droplet's disk");
            assert.deepEqual(flags.get("--name"), ["registry"]);
            assert.deepEqual(flags.get("-e"), Object.entries(REGISTRY_CONTAINER_ENV).map(([k, v]) => `${k}=${v}`));
            assert.ok(flags.get("-e")!.includes("OTEL_TRACES_EXPORTER=none"));
            assert.deepEqual(positional, [IMAGE], "the pinned image, and no command override");
            // No port proxy: the host's network, where its config binds loopback alone.
            assert.deepEqual(flags.get("--network"), ["host"]);
            const config = parse(host.files["config.yml"]);
            assert.match(config.http.addr, /^127\.0\.0\.1:[0-9]+$/);
            assert.match(config.http.debug.addr, /^127\.0\.0\.1:[0-9]+$/);
            assert.equal(config.http.tls, undefined, "the front terminates TLS");

            const mounts = flags.get("-v")!;
            assert.deepEqual(mounts.sort(), mountedFiles.map((f) => `${host.configDir}/${f}:/etc/distribution/${f}:ro`).sort(), "every config file read-only, nothing else");
        });

        it("runs the front on the host's network with only the capability to bind its port", () => {
            const host = new Host(tls);
            assert.equal(host.run().status, 0);
            const runs = host.dockerRuns("registry-front");
            assert.equal(runs.length, 1, JSON.stringify(host.calls("docker")));
            const { flags, positional } = parseRun(runs[0]);
            assert.deepEqual([...flags.keys()].sort(), ["--cap-add", "--cap-drop", "--log-driver", "--log-opt", "--memory", "--memory-swap", "--name", "--network", "--restart", "--security-opt", "-d", "-v"]);
            assert.deepEqual(flags.get("--cap-drop"), ["ALL"]);
            assert.deepEqual(flags.get("--cap-add"), ["NET_BIND_SERVICE"]);
            assert.deepEqual(flags.get("--memory"), [String(FRONT_MEMORY_LIMIT_BYTES)]);
            assert.deepEqual(flags.get("--memory-swap"), [String(FRONT_MEMORY_LIMIT_BYTES)]);
            assert.deepEqual(flags.get("--security-opt"), ["no-new-privileges"]);
            assert.deepEqual(flags.get("--network"), ["host"]);
            assert.deepEqual(flags.get("--restart"), ["always"]);
            assert.deepEqual(positional, [CADDY_IMAGE, "caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]);
            assert.deepEqual(
                flags.get("-v")!.sort(),
                [`${host.configDir}/front:/etc/caddy:ro`, `${host.dataDir}/front/config:/config`, `${host.dataDir}/front/data:/data`, `${host.logDir}:${host.logDir}`].sort(),
            );
            const caddyfile = host.files["front/Caddyfile"];
            if (privateCa) {
                assert.match(caddyfile, /^https:\/\/:443 \{$/m);
                assert.match(caddyfile, /^\t+tls \/etc\/caddy\/tls\.crt \/etc\/caddy\/tls\.key$/m);
            } else {
                assert.match(caddyfile, /^http:\/\/:5000 \{$/m);
                assert.match(caddyfile, /^\t+bind 127\.0\.0\.1$/m, "a tunnel's front listens on loopback alone");
            }
            assert.match(caddyfile, /reverse_proxy 127\.0\.0\.1:5002 \{/);
        });

        it("proves the registry serves: 401 without a login, 200 with it, then a storage listing", () => {
            const host = new Host(tls);
            assert.equal(host.run().status, 0);
            const curls = host.calls("curl");
            assert.deepEqual(
                curls.map((c) => [c.includes("-K"), c[c.length - 1]]),
                privateCa
                    ? [[false, "https://registry.example.com/v2/"], [true, "https://registry.example.com/v2/"], [true, "https://registry.example.com/v2/_catalog?n=1"]]
                    : [[false, "http://127.0.0.1:5000/v2/"], [true, "http://127.0.0.1:5000/v2/"], [true, "http://127.0.0.1:5000/v2/_catalog?n=1"]],
            );
            if (privateCa) {
                for (const c of curls) {
                    assert.equal(c[c.indexOf("--cacert") + 1], `${host.configDir}/ca.crt`, "trusts only the bundled CA");
                    assert.equal(c[c.indexOf("--connect-to") + 1], "::127.0.0.1:443");
                }
            }
        });

        it("puts no secret in any program's arguments; the login reaches curl as a -K file", () => {
            const host = new Host(tls);
            assert.equal(host.run().status, 0);
            const argv = [...host.calls().flat(), ...host.stubs.calls()].join("\n");
            for (const secret of SECRETS) {
                assert.ok(!argv.includes(secret), `a process argument contains ${secret.slice(0, 8)}...`);
            }
            const logins = host.calls("curl").filter((c) => c.includes("-K"));
            assert.ok(logins.length >= 2, "the stub answers 200 only to the -K file holding the login");
        });

        it("replaces the registry after draining it only when its files changed, and reloads a running front only when its files changed", () => {
            const host = new Host(tls);
            assert.equal(host.run().status, 0);
            const second = host.run();
            assert.equal(second.status, 0, "the same files again");
            assert.match(second.stdout, /registry container registry unchanged \(readwrite\)/);
            const changed = renderStdinBundle({
                files: { ...host.files, "front/Caddyfile": `${host.files["front/Caddyfile"]}# a new password\n` } as Record<string, string>,
                healthCheckUser: { username: PRIMARY.name, password: PRIMARY.password },
            });
            const third = host.run(changed);
            assert.equal(third.status, 0, third.stderr);
            assert.match(third.stdout, /front registry-front reloaded/);
            const newKey = renderStdinBundle({
                files: { ...host.files, "front/Caddyfile": `${host.files["front/Caddyfile"]}# a new password\n`, "config.yml": `${host.files["config.yml"]}# a new S3 key\n` } as Record<string, string>,
                healthCheckUser: { username: PRIMARY.name, password: PRIMARY.password },
            });
            const fourth = host.run(newKey);
            assert.equal(fourth.status, 0, fourth.stderr);
            assert.match(fourth.stdout, /front registry-front unchanged/);
            assert.match(fourth.stdout, /registry container registry started \(readwrite\)/);
            const lifecycle = host
                .calls()
                .filter((c) => c[0] === "sleep" || (c[0] === "docker" && ["stop", "rm", "run", "exec"].includes(c[1])))
                .map((c) => (c[0] === "sleep" ? c.join(" ") : `${c[1]} ${c[1] === "run" ? c[c.indexOf("--name") + 1] : c[1] === "exec" ? c.slice(2).join(" ") : c[c.length - 1]}`));
            // The front changes while the old registry still serves, and the registry is replaced
            // after: a reload would end the requests the front holds while no registry listens.
            const registry = ["stop registry", "rm registry", "run registry"];
            assert.deepEqual(lifecycle, [
                "rm registry-front",
                "run registry-front",
                ...registry,
                // Unchanged files: the running front and registry are left alone, their connections too.
                "exec registry-front caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile --force",
                // The old config's requests reach the registry before it could stop.
                `sleep ${FRONT_RELOAD_SETTLE_SECONDS}`,
                // A new config.yml (an S3 key): the registry alone is replaced.
                ...registry,
            ]);
            // SIGTERM with time to drain: the registry finishes what it has while the front waits.
            assert.deepEqual(host.calls("docker").find((c) => c[1] === "stop"), ["docker", "stop", "-t", "40", "registry"]);
            for (const rm of host.calls("docker").filter((c) => c[1] === "rm")) {
                // -v: the image's VOLUME would otherwise leave an anonymous volume per restart.
                assert.deepEqual(rm.slice(0, 4), ["docker", "rm", "-f", "-v"]);
            }
        });

        it("fails when the front refuses its new config, with the running registry untouched", () => {
            const host = new Host(tls);
            assert.equal(host.run().status, 0);
            writeFileSync(join(host.stubs.dir, "refuse-reload"), "");
            const changed = renderStdinBundle({
                files: { ...host.files, "front/Caddyfile": `${host.files["front/Caddyfile"]}# refused\n` } as Record<string, string>,
                healthCheckUser: { username: PRIMARY.name, password: PRIMARY.password },
            });
            const before = host.calls("docker").length;
            const second = host.run(changed);
            assert.equal(second.status, 1);
            assert.match(second.stderr, /adapting config: refused/);
            const after = host
                .calls("docker")
                .slice(before)
                .filter((c) => ["stop", "run", "exec"].includes(c[1]))
                .map((c) => `${c[1]} ${c[1] === "run" ? c[c.indexOf("--name") + 1] : c[c.length - 1]}`);
            assert.deepEqual(after, ["exec --force"], "nothing but the refused reload");
            assert.doesNotMatch(second.stdout, /waiting up to/, "no health wait after the failure");
        });

        it("replaces a running front started without its memory limit, rather than reloading it", () => {
            const host = new Host(tls);
            assert.equal(host.run().status, 0);
            // As a front started by a version before the limit: docker reports Memory 0.
            writeFileSync(join(host.stubs.dir, "memory-registry-front"), "0\n");
            const second = host.run();
            assert.equal(second.status, 0, second.stderr);
            assert.match(second.stdout, /front registry-front started/);
            assert.equal(host.dockerRuns("registry-front").length, 2);
            assert.equal(host.run().status, 0);
            assert.equal(host.dockerRuns("registry-front").length, 2, "a front with its limit is left alone");
        });

        it("keeps its files private: config dir 0700 (even if it existed wider), files 0600", () => {
            const host = new Host(tls);
            mkdirSync(host.configDir);
            chmodSync(host.configDir, 0o755);
            assert.equal(host.run().status, 0);
            assert.equal(statSync(host.configDir).mode & 0o777, 0o700);
            // Besides the bundle's files: the host programs, the lock the maintenance job shares and
            // what the running registry was made from (run-registry --if-changed).
            const topLevel = [...new Set(installedFiles.map((f) => f.split("/")[0]))];
            assert.deepEqual(readdirSync(host.configDir).sort(), [...topLevel, "bin", "health.curlrc", "maintenance.lock", REGISTRY_STATE_FILE].sort(), "no staging leftovers");
            assert.deepEqual(readdirSync(join(host.configDir, "front")).sort(), frontFiles.map((f) => f.slice("front/".length)).sort());
            // The login the health wait and the maintenance job use, as a curl config: never an argument.
            assert.equal(statSync(join(host.configDir, "health.curlrc")).mode & 0o777, 0o600);
            assert.equal(readFileSync(join(host.configDir, "health.curlrc"), "utf8"), `user = "${PRIMARY.name}:${PRIMARY.password}"\n`);
            assert.deepEqual(readdirSync(join(host.configDir, "bin")).sort(), ["maintenance", "run-front", "run-registry", "wait-serving"]);
            assert.equal(statSync(join(host.configDir, "bin")).mode & 0o077, 0, "the host programs are root's alone");
            for (const file of installedFiles) {
                assert.equal(statSync(join(host.configDir, file)).mode & 0o777, 0o600, file);
                assert.equal(readFileSync(join(host.configDir, file), "utf8"), host.files[file]);
            }
        });
    });
}

describe("the start script refuses bad input without touching the container", () => {
    const tls = MODES["private CA"];

    it("exits non-zero on a bundle cut short before its end line", () => {
        const host = new Host(tls);
        assert.ok(host.stdin.endsWith("\nend\n"));
        const result = host.run(host.stdin.slice(0, -"end\n".length));
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /cut short/);
        assert.deepEqual(host.calls("docker"), [], "neither rm nor run");
        assert.deepEqual(readdirSync(host.configDir), ["maintenance.lock"], "nothing installed");
    });

    for (const [what, htpasswd] of [
        ["an apr1 (MD5) htpasswd", "ci:$apr1$abcdefgh$0123456789abcdefghijkl\n"],
        ["a plain-text htpasswd", `ci:${PRIMARY.password}\n`],
    ]) {
        it(`refuses ${what}, which would leave the registry without working authentication`, () => {
            const host = new Host(tls, htpasswd);
            const result = host.run();
            assert.notEqual(result.status, 0);
            assert.match(result.stderr, /no bcrypt entry/);
            assert.deepEqual(host.dockerRuns(), []);
            assert.ok(!readdirSync(host.configDir).includes("htpasswd"));
        });
    }
});

describe("the start script with an ACME server's CA (acmeServerCa)", () => {
    const tls: DeploymentTls = { kind: "letsencrypt", hostname: "registry.example.com", acmeServer: "https://ca.internal:9000/acme/acme/directory", acmeServerCa: TEST_ACME_CA };

    it("installs the CA beside the Caddyfile, where the front reads it, and the health check trusts it", () => {
        const host = new Host(tls);
        const result = host.run();
        assert.equal(result.status, 0, result.stderr);
        assert.equal(readFileSync(join(host.configDir, FRONT_ACME_CA_FILE), "utf8"), TEST_ACME_CA);
        assert.equal(readFileSync(join(host.configDir, "ca.crt"), "utf8"), TEST_ACME_CA);
        assert.match(readFileSync(join(host.configDir, "front/Caddyfile"), "utf8"), /^\t+trusted_roots \/etc\/caddy\/acme-ca\.crt$/m);
        for (const c of host.calls("curl")) {
            assert.equal(c[c.indexOf("--cacert") + 1], `${host.configDir}/ca.crt`);
        }
    });
});

describe("the start script behind a load balancer (drain)", () => {
    const drain = { leaveSeconds: 18, rejoinSeconds: 23 };
    const marker = (host: Host) => join(host.configDir, "front", DRAIN_MARKER_FILE);
    /** Where each wait, the front's reload and the registry's run fall among the calls. */
    const timeline = (host: Host) =>
        host
            .calls()
            .map((c) => (c[0] === "sleep" ? `sleep ${c[1]}` : c[0] === "docker" && c[1] === "run" ? `run ${c[c.indexOf("--name") + 1]}` : c[0] === "docker" && c[1] === "exec" ? "reload front" : c[0] === "curl" ? "health" : ""))
            .filter((step) => step !== "")
            .filter((step, i, all) => step !== "health" || all[i - 1] !== "health");

    /**
     * A replica deployed once, whose front therefore runs, and the bundle of a second deploy
     * that changes the registry.
     */
    function deployedOnce(): { host: Host; changedStdin: string } {
        const host = new Host(MODES["private CA"], undefined, { drain });
        assert.equal(host.run().status, 0);
        return { host, changedStdin: new Host(MODES["private CA"], undefined, { drain, chunkSizeMb: 6 }).stdin };
    }

    it("on a new droplet, whose front serves nobody yet, waits for no balancer", () => {
        const host = new Host(MODES["private CA"], undefined, { drain });
        const result = host.run();
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(timeline(host).filter((s) => s.startsWith("sleep")), []);
        assert.ok(!existsSync(marker(host)));
    });

    it("leaves the balancer before the front reloads or the registry restarts, and rejoins once it serves", () => {
        const { host, changedStdin } = deployedOnce();
        writeFileSync(join(host.stubs.dir, "argv.log"), "");
        const result = host.run(changedStdin);
        assert.equal(result.status, 0, result.stderr);
        const steps = timeline(host);
        const at = (step: string) => steps.indexOf(step);
        assert.ok(at(`sleep ${drain.leaveSeconds}`) >= 0 && at(`sleep ${drain.rejoinSeconds}`) >= 0, steps.join(", "));
        assert.ok(at(`sleep ${drain.leaveSeconds}`) < at("reload front"), `left before the reload: ${steps.join(", ")}`);
        assert.ok(at("reload front") < at("run registry") && at("run registry") < at("health"), steps.join(", "));
        assert.ok(at("health") < at(`sleep ${drain.rejoinSeconds}`), `rejoined once it served: ${steps.join(", ")}`);
        assert.match(result.stdout, /leaving the load balancer/);
        assert.ok(!existsSync(marker(host)), "the marker is gone: / answers the registry's 200 again");
    });

    it("a deploy that fails halfway takes the marker away, so the replica is not left out of the pool", () => {
        const { host, changedStdin } = deployedOnce();
        writeFileSync(join(host.stubs.dir, "refuse-reload"), "");
        const result = host.run(changedStdin);
        assert.notEqual(result.status, 0);
        assert.ok(timeline(host).includes(`sleep ${drain.leaveSeconds}`));
        assert.ok(!existsSync(marker(host)));
    });

    it("is absent without a balancer: the same script as before", () => {
        assert.doesNotMatch(new Host(MODES["private CA"]).script, /load balancer|draining/);
    });
});
