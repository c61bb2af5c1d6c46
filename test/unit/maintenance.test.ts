import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
    GC_GOMAXPROCS,
    GC_GOMEMLIMIT,
    GC_MEMORY_LIMIT_BYTES,
    gcScheduleProblem,
    MAINTENANCE_RECOVERY_SERVICE,
    MAINTENANCE_SERVICE,
    MAINTENANCE_STOP_SECONDS,
    MAINTENANCE_TIMER,
    MAINTENANCE_WINDOW_MARKER,
    onCalendar,
    renderMaintenanceScript,
    renderMaintenanceUnits,
} from "../../components/render/maintenance";
import { goMemoryLimitBytes, REGISTRY_MEMORY_LIMIT_BYTES, REGISTRY_STOP_SECONDS, renderRunRegistryScript, renderWaitServingScript } from "../../components/render/registryRun";
import { shellcheck, StubPath } from "../support/shell";
import { spawnSync } from "node:child_process";

/**
 * The maintenance job run for real against stand-ins: docker (whose garbage-collect prints a
 * plan like the registry's), curl (answering blob sizes), and the two host programs it calls.
 */

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;
const DIGEST_M = `sha256:${"c".repeat(64)}`;
// What `registry garbage-collect --dry-run` prints (distribution registry/storage/garbagecollect.go).
const PLAN = `team/app
team/app: marking manifest sha256:${"d".repeat(64)}

2 blobs marked, 3 blobs and 1 manifests eligible for deletion
blob eligible for deletion: ${DIGEST_A}
blob eligible for deletion: ${DIGEST_B}
blob eligible for deletion: ${DIGEST_M}
team/app: layer link eligible for deletion: ${DIGEST_A}
team/app: layer link eligible for deletion: ${DIGEST_B}
manifest eligible for deletion: {team/app ${DIGEST_M} [old]}
`;

class Host {
    readonly stubs: StubPath;
    readonly configDir: string;
    readonly libDir: string;
    readonly script: string;

    /**
     * gcSeconds: the collection itself takes this long (a window to interrupt). probeMarker:
     * run-registry also logs whether the window's marker exists when it is called.
     */
    /**
     * collected: what the collection prints (default: the dry run's plan, as when nothing changed
     * between the two). planFails: the dry run fails.
     */
    constructor(options: { retention?: boolean; gcFails?: boolean; gcSeconds?: number; probeMarker?: boolean; collected?: string; planFails?: boolean; planSeconds?: number } = {}) {
        const gc =
            options.gcFails === true
                ? 'echo "s3aws: AccessDenied" >&2; exit 1'
                : options.gcSeconds !== undefined
                  ? `sleep ${options.gcSeconds}`
                  : `printf '%s' '${options.collected ?? PLAN}'; echo 'Deleting blob: /docker/registry/v2/blobs/...' >&2`;
        const plan = options.planFails === true ? 'echo "s3aws: RequestTimeout" >&2; exit 1' : `${options.planSeconds !== undefined ? `sleep ${options.planSeconds}; ` : ""}printf '%s' '${PLAN}'`;
        this.stubs = new StubPath({
            docker: `case "$*" in
  *garbage-collect*--dry-run*) ${plan} ;;
  *garbage-collect*) ${gc} ;;
esac`,
            // HEAD of a blob through the registry: its size, as the read-only registry streams it.
            curl: `for last; do :; done
case "$last" in
  *${DIGEST_A}) printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 1048576\\r\\n\\r\\n' ;;
  *${DIGEST_B}) printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 2000\\r\\n\\r\\n' ;;
  */manifests/${DIGEST_M}) printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 500\\r\\n\\r\\n' ;;
  *) printf 'HTTP/1.1 404 Not Found\\r\\n\\r\\n' ;;
esac`,
        });
        this.configDir = join(this.stubs.dir, "etc");
        this.libDir = join(this.configDir, "bin");
        mkdirSync(this.libDir, { recursive: true });
        const marker = join(this.configDir, MAINTENANCE_WINDOW_MARKER);
        for (const program of ["run-registry", "wait-serving"]) {
            const probe = options.probeMarker === true && program === "run-registry" ? `if [ -e '${marker}' ]; then echo "marker present" >> '${this.stubs.log}'; else echo "marker absent" >> '${this.stubs.log}'; fi\n` : "";
            writeFileSync(join(this.libDir, program), `#!/bin/sh\n${probe}printf '%s\\n' "${program} $*" >> '${this.stubs.log}'\n`);
            chmodSync(join(this.libDir, program), 0o755);
        }
        writeFileSync(join(this.configDir, "health.curlrc"), 'user = "ci:pw"\n');
        this.script = renderMaintenanceScript({
            containerName: "registry",
            image: "docker.io/library/registry:3.1.2",
            configDir: this.configDir,
            libDir: this.libDir,
            lockFile: join(this.configDir, "maintenance.lock"),
            check: { url: "https://203.0.113.10/v2/", connectTo: "127.0.0.1:443", useBundledCa: true },
            retentionDockerArgs: options.retention === true ? ["run", "--rm", "regclient/regbot:v0.11.7", "once", "--config", "/etc/regbot/retention.yml"] : undefined,
        });
    }

    run() {
        return this.stubs.run(this.script);
    }

    /** The file that says a read-only window is open. */
    get marker(): string {
        return join(this.configDir, MAINTENANCE_WINDOW_MARKER);
    }

    /**
     * Starts the job under dash (the droplet's /bin/sh) in a process group of its own, as systemd
     * runs a unit in a cgroup of its own, so a test can signal the job alone or all of it.
     */
    start(args: string[] = []): Running {
        const child = spawn("dash", ["-c", this.script, "maintenance", ...args], {
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
            env: { PATH: `${this.stubs.dir}:/usr/bin:/bin`, HOME: this.stubs.dir },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<Exited>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
        return { pid: child.pid!, exited };
    }

    /** Resolves once the stubbed collection (not its dry run) has started. */
    async collecting(): Promise<void> {
        const deadline = Date.now() + 20_000;
        while (!this.stubs.calls().some((c) => c.includes("garbage-collect") && !c.includes("--dry-run"))) {
            assert.ok(Date.now() < deadline, `the collection never started: ${this.stubs.calls().join(" | ")}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
    }
}

interface Exited {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
}

interface Running {
    pid: number;
    exited: Promise<Exited>;
}

describe("the maintenance job", () => {
    it("passes shellcheck, as do the host programs it shares with the start script", () => {
        const run = renderRunRegistryScript({ containerName: "registry", image: "i", configDir: "/etc/private-registry", mounts: { htpasswd: "/etc/distribution/htpasswd" }, env: { A: "b" } });
        const wait = renderWaitServingScript({ url: "https://h/v2/", useBundledCa: true, timeoutSeconds: 30 }, { containerName: "registry", configDir: "/etc/private-registry" });
        for (const [name, script] of Object.entries({ maintenance: new Host({ retention: true }).script, "run-registry": run, "wait-serving": wait })) {
            const { status, output } = shellcheck(script);
            assert.equal(status, 0, `${name}: ${output}`);
        }
    });

    it("applies retention, collects in a read-only window, restarts read-write, and reports bytes freed", () => {
        const host = new Host({ retention: true });
        const result = host.run();
        assert.equal(result.status, 0, result.stderr);
        const calls = host.stubs.calls().filter((c) => !c.startsWith("curl "));
        assert.deepEqual(
            calls.map((c) => (c.startsWith("docker run --rm regclient") ? "retention" : c.includes("--dry-run") ? "gc plan" : c.includes("garbage-collect") ? "gc" : c)),
            // The dry run plans while pushes are still taken: the window holds one pass.
            ["retention", "gc plan", "run-registry readonly", "wait-serving ", "gc", "run-registry readwrite", "wait-serving "],
        );
        assert.ok(calls.filter((c) => c.includes("garbage-collect")).every((c) => c.includes("config-readonly.yml:/etc/distribution/config.yml:ro") && c.includes("--delete-untagged")));
        // The candidates are sized inside the window, after the read-only restart, before the collection.
        const all = host.stubs.calls();
        const sizing = all.findIndex((c) => c.startsWith("curl "));
        assert.ok(sizing > all.indexOf("run-registry readonly") && sizing < all.findIndex((c) => c.includes("garbage-collect") && !c.includes("--dry-run")), all.join("\n"));
        assert.match(result.stdout, /^maintenance: read-write again: pushes were refused for \d+s$/m);
        assert.match(result.stdout, new RegExp(`deleting blob ${DIGEST_A} \\(1048576 bytes, last in team/app\\)`));
        assert.match(result.stdout, /deleting manifest \{team\/app sha256:c+ \[old\]\}/);
        assert.match(result.stdout, new RegExp(`deleting blob ${DIGEST_M} \\(500 bytes, last in team/app\\)`), "a manifest is sized too");
        assert.match(result.stdout, /deleted 1 manifests and 3 blobs, freeing 1051076 bytes \(plus 0 blobs of unknown size\)/);
        const manifestHead = host.stubs.calls().find((c) => c.includes(`/manifests/${DIGEST_M}`)) ?? "";
        assert.match(manifestHead, /-H Accept: application\/vnd\.oci\.image\.manifest\.v1\+json/, "the registry hides a manifest from a HEAD that does not accept its type");
        // Sizes are asked with the login from a file, never on the command line.
        assert.ok(host.stubs.calls().filter((c) => c.startsWith("curl ")).every((c) => c.includes(`-K ${host.configDir}/health.curlrc`) && !c.includes("ci:pw")));
    });

    it("runs both passes with GOMAXPROCS raised (tag reads are round trips, not CPU) and memory bounded", () => {
        const host = new Host();
        assert.equal(host.run().status, 0);
        const passes = host.stubs.calls().filter((c) => c.includes("garbage-collect"));
        assert.equal(passes.length, 2);
        for (const call of passes) {
            assert.ok(call.includes(` -e GOMAXPROCS=${GC_GOMAXPROCS} `), call);
            assert.ok(call.includes(` -e GOMEMLIMIT=${GC_GOMEMLIMIT} `), call);
            assert.ok(call.includes(` --memory ${GC_MEMORY_LIMIT_BYTES} --memory-swap ${GC_MEMORY_LIMIT_BYTES} `), call);
            assert.ok(call.includes(" --cpus 1 "), call);
        }
        assert.ok(GC_GOMAXPROCS > 1);
        assert.ok(GC_MEMORY_LIMIT_BYTES + REGISTRY_MEMORY_LIMIT_BYTES <= 768 * 1024 * 1024, "with the registry, room is left on a 1 GiB droplet for the front and the system");
        assert.ok(goMemoryLimitBytes(GC_GOMEMLIMIT)! < GC_MEMORY_LIMIT_BYTES, "Go collects before the kernel kills");
    });

    it("reports what the collection took, not what the dry run planned: sizes from the plan, unknown for what it did not name", () => {
        // Between the plan and the window a push tagged DIGEST_B's manifest again, and one untagged
        // a manifest whose config DIGEST_N the plan never saw.
        const DIGEST_N = `sha256:${"e".repeat(64)}`;
        const collected = PLAN.replace(`blob eligible for deletion: ${DIGEST_B}\n`, `blob eligible for deletion: ${DIGEST_N}\n`)
            .replace(`team/app: layer link eligible for deletion: ${DIGEST_B}\n`, `team/app: layer link eligible for deletion: ${DIGEST_N}\n`);
        const host = new Host({ collected });
        const result = host.run();
        assert.equal(result.status, 0, result.stderr);
        assert.doesNotMatch(result.stdout, new RegExp(`deleting blob ${DIGEST_B}`), "planned, but the collection kept it");
        assert.match(result.stdout, new RegExp(`deleting blob ${DIGEST_N} \\(size not known: the dry run before the window did not name it\\)`));
        assert.match(result.stdout, /deleted 1 manifests and 3 blobs, freeing 1049076 bytes \(plus 1 blobs of unknown size\)/);
    });

    it("a failed dry run stops the job before the window: the registry is never restarted", () => {
        const host = new Host({ planFails: true });
        const result = host.run();
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /RequestTimeout/);
        assert.deepEqual(host.stubs.calls().filter((c) => c.startsWith("run-registry")), []);
        assert.equal(existsSync(host.marker), false);
    });

    it("without rules, keeps every tag and still collects untagged manifests", () => {
        const host = new Host();
        const result = host.run();
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /no tag rules set; every tag is kept/);
        assert.ok(host.stubs.calls().some((c) => c.includes("garbage-collect") && !c.includes("--dry-run")));
    });

    it("a failed collection still brings the registry back read-write, and fails", () => {
        const host = new Host({ gcFails: true });
        const result = host.run();
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /AccessDenied/);
        assert.deepEqual(host.stubs.calls().filter((c) => c.startsWith("run-registry")), ["run-registry readonly", "run-registry readwrite"]);
        assert.equal(existsSync(host.marker), false, "the window is closed");
    });

    it("waits for a deploy holding the lock, and gives up without touching the registry", async () => {
        const host = new Host();
        const lockFile = join(host.configDir, "maintenance.lock");
        // A deploy holding the lock; the job is told to wait one second instead of half an hour.
        const holder = spawn("flock", [lockFile, "sleep", "30"], { stdio: "ignore" });
        await new Promise((resolve) => setTimeout(resolve, 300));
        try {
            const result = host.stubs.run(host.script.replace("flock -w 1800 9", "flock -w 1 9"));
            assert.equal(result.status, 1);
            assert.match(result.stdout, /a deploy or another collection has held/);
            assert.deepEqual(host.stubs.calls(), [], "nothing ran");
        } finally {
            holder.kill();
        }
        assert.match(readFileSync(join(host.configDir, "health.curlrc"), "utf8"), /user/);
    });
});

describe("the maintenance window under faults", () => {
    const runRegistry = (host: Host) => host.stubs.calls().filter((c) => c.startsWith("run-registry"));

    // systemd stops a unit by signalling every process in it (KillMode=control-group): the job,
    // and the docker client running the collection.
    for (const [signal, status] of [["SIGTERM", 143], ["SIGINT", 130], ["SIGHUP", 129]] as const) {
        it(`${signal} to the whole job mid-collection restores read-write, then fails with ${status}`, async () => {
            const host = new Host({ gcSeconds: 30 });
            const job = host.start();
            await host.collecting();
            process.kill(-job.pid, signal);
            const exited = await job.exited;
            assert.equal(exited.code, status, exited.stdout + exited.stderr);
            assert.match(exited.stdout, new RegExp(`stopped by ${signal} before the collection finished`));
            assert.deepEqual(runRegistry(host), ["run-registry readonly", "run-registry readwrite"]);
            assert.equal(host.stubs.calls().at(-1), "run-registry readwrite", "the last thing the job did");
            assert.equal(existsSync(host.marker), false, "the window is closed");
        });
    }

    it("SIGTERM during the dry run, before the window, leaves the registry as it was", async () => {
        const host = new Host({ planSeconds: 30 });
        const job = host.start();
        const deadline = Date.now() + 20_000;
        while (!host.stubs.calls().some((c) => c.includes("--dry-run"))) {
            assert.ok(Date.now() < deadline, "the dry run never started");
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        process.kill(-job.pid, "SIGTERM");
        const exited = await job.exited;
        assert.equal(exited.code, 143, exited.stdout + exited.stderr);
        assert.deepEqual(runRegistry(host), [], "never restarted: it was never read-only");
        assert.equal(existsSync(host.marker), false);
    });

    it("SIGTERM to the shell alone (KillMode=mixed, kill PID) restores read-write once the running step ends", async () => {
        const host = new Host({ gcSeconds: 2 });
        const job = host.start();
        await host.collecting();
        process.kill(job.pid, "SIGTERM");
        const exited = await job.exited;
        assert.equal(exited.code, 143, exited.stdout + exited.stderr);
        assert.equal(host.stubs.calls().at(-1), "run-registry readwrite");
        assert.doesNotMatch(exited.stdout, /done in/, "the collection's report is not printed");
    });

    it("a crash or power loss in the window (no trap runs) leaves the marker, and the boot-time recovery restarts read-write", async () => {
        const host = new Host({ gcSeconds: 30 });
        const job = host.start();
        await host.collecting();
        process.kill(-job.pid, "SIGKILL");
        await job.exited;
        // The engine brings the read-only container back at boot (--restart=always).
        assert.deepEqual(runRegistry(host), ["run-registry readonly"]);
        assert.match(readFileSync(host.marker, "utf8"), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\n$/);

        const boot = await host.start(["recover"]).exited;
        assert.equal(boot.code, 0, boot.stdout + boot.stderr);
        assert.match(boot.stdout, /was cut short \(a stop, a crash or a reboot\): restarting the registry read-write/);
        assert.deepEqual(host.stubs.calls().slice(-2), ["run-registry readwrite", "wait-serving "]);
        assert.equal(existsSync(host.marker), false);

        // Every later boot: nothing to do, and the registry is left alone.
        const before = host.stubs.calls().length;
        const again = await host.start(["recover"]).exited;
        assert.equal(again.code, 0);
        assert.match(again.stdout, /no read-only window was cut short; nothing to do/);
        assert.equal(host.stubs.calls().length, before);
    });

    it("the marker exists exactly while the registry may run read-only", () => {
        const host = new Host({ probeMarker: true });
        const result = host.run();
        assert.equal(result.status, 0, result.stderr);
        const calls = host.stubs.calls();
        // Written before the read-only restart; still there when the read-write one starts.
        assert.deepEqual(
            calls.filter((c) => c.startsWith("marker") || c.startsWith("run-registry")),
            ["marker present", "run-registry readonly", "marker present", "run-registry readwrite"],
        );
        assert.equal(existsSync(host.marker), false, "removed once read-write");
    });

    it("recovery waits for a job holding the lock, which has closed the window by then", async () => {
        const host = new Host();
        writeFileSync(host.marker, "2027-01-03T03:00:00Z\n");
        const lockFile = join(host.configDir, "maintenance.lock");
        const holder = spawn("flock", [lockFile, "sh", "-c", `sleep 1; rm -f '${host.marker}'`], { stdio: "ignore" });
        const released = new Promise((resolve) => holder.on("close", resolve));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const boot = await host.start(["recover"]).exited;
        await released;
        assert.equal(boot.code, 0, boot.stdout + boot.stderr);
        assert.deepEqual(runRegistry(host), [], "the job that held the lock had restored the registry");
    });

    it("refuses an unknown mode without touching the registry", async () => {
        const host = new Host();
        const result = await host.start(["collect-now"]).exited;
        assert.equal(result.code, 2);
        assert.match(result.stderr, /usage: maintenance \[collect\|recover\]/);
        assert.deepEqual(host.stubs.calls(), []);
    });

    it("the units: the job gets time to restore when stopped, and the recovery runs at every boot after the engine", () => {
        const units = renderMaintenanceUnits("/etc/private-registry/bin", "Sun *-*-* 03:00:00");
        assert.match(units.service, new RegExp(`^TimeoutStopSec=${MAINTENANCE_STOP_SECONDS}$`, "m"));
        assert.ok(MAINTENANCE_STOP_SECONDS >= REGISTRY_STOP_SECONDS + 60, "the old container's drain and the new one's start fit");
        assert.match(units.recovery, /^ExecStart=\/etc\/private-registry\/bin\/maintenance recover$/m);
        assert.match(units.recovery, /^After=docker\.service$/m);
        assert.match(units.recovery, /^WantedBy=multi-user\.target$/m);
        assert.equal(renderMaintenanceUnits("/x", undefined).recovery, renderMaintenanceUnits("/x", "daily").recovery, "installed with or without a schedule");

        // systemd itself reads all three, with no warning (an unknown key is only a warning).
        const dir = mkdtempSync(join(tmpdir(), "units-"));
        mkdirSync(join(dir, "bin"));
        writeFileSync(join(dir, "bin", "maintenance"), "#!/bin/sh\n", { mode: 0o755 });
        writeFileSync(join(dir, "docker.service"), "[Service]\nExecStart=/bin/true\n");
        const real = renderMaintenanceUnits(join(dir, "bin"), "Sun *-*-* 03:00:00");
        const files = { [MAINTENANCE_SERVICE]: real.service, [MAINTENANCE_TIMER]: real.timer ?? "", [MAINTENANCE_RECOVERY_SERVICE]: real.recovery };
        for (const [name, text] of Object.entries(files)) {
            writeFileSync(join(dir, name), text);
        }
        const verify = spawnSync("systemd-analyze", ["verify", ...Object.keys(files).map((f) => join(dir, f))], { encoding: "utf8" });
        assert.equal(verify.error, undefined, "systemd-analyze is needed (Debian package systemd): npm run setup installs it");
        assert.equal(verify.status, 0, verify.stderr);
        assert.equal(verify.stderr, "");
    });
});

describe("the schedule", () => {
    it("accepts the documented shapes and refuses the rest, before systemd sees them", () => {
        for (const good of ["Sun *-*-* 03:00:00", "*-*-* 02:30", "Mon,Thu *-*-* 04:00", "Mon..Fri *-*-* 23:59:59", "daily", "weekly", "2027-*-01 00:00"]) {
            assert.equal(gcScheduleProblem(good), undefined, good);
        }
        for (const bad of ["", "Sunday 03:00", "*-*-* 24:00", "Sun *-*-* 03:00 UTC", "*-*-* 03:00\nExecStart=/bin/sh", "hourly; rm -rf /"]) {
            assert.notEqual(gcScheduleProblem(bad), undefined, JSON.stringify(bad));
        }
    });

    it("every accepted shape is one systemd itself reads, in UTC", () => {
        const probe = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
        assert.equal(probe.error, undefined, "systemd-analyze is needed (Debian package systemd): npm run setup installs it");
        for (const schedule of ["Sun *-*-* 03:00:00", "*-*-* 02:30", "Mon,Thu *-*-* 04:00", "Mon..Fri *-*-* 23:59:59", "daily", "2027-*-01 00:00"]) {
            const result = spawnSync("systemd-analyze", ["calendar", onCalendar(schedule)], { encoding: "utf8" });
            assert.equal(result.status, 0, `${schedule}: ${result.stderr}`);
            assert.match(result.stdout, /UTC/);
        }
    });

    it("renders a persistent timer, and none when collection is off", () => {
        const units = renderMaintenanceUnits("/etc/private-registry/bin", "Sun *-*-* 03:00:00");
        assert.match(units.service, /^ExecStart=\/etc\/private-registry\/bin\/maintenance$/m);
        assert.match(units.service, /^Type=oneshot$/m);
        assert.match(units.timer ?? "", /^OnCalendar=Sun \*-\*-\* 03:00:00 UTC$/m);
        assert.match(units.timer ?? "", /^Persistent=true$/m);
        assert.equal(renderMaintenanceUnits("/x", undefined).timer, undefined);
        assert.throws(() => renderMaintenanceUnits("/x", "*-*-* 03:00\nExecStart=/bin/sh"), /not a calendar time/);
    });
});

describe("hostile values in the host programs", () => {
    it("arrive as single inert words", () => {
        const hostile = `x'; touch /tmp/pwned; echo '$(id)\`id\`\nnewline ../ ünï`;
        const script = renderMaintenanceScript({
            containerName: hostile,
            image: hostile,
            configDir: hostile,
            libDir: hostile,
            lockFile: hostile,
            check: { url: hostile, useBundledCa: false },
            retentionDockerArgs: ["run", hostile],
        });
        const assignments = script.slice(script.indexOf("image="), script.indexOf("log() {"));
        const readBack = spawnSync("sh", ["-c", `${assignments}\nprintf '%s|%s|%s|%s' "$image" "$config_dir" "$lock_file" "$api"`], { encoding: "utf8" });
        assert.equal(readBack.stdout, `${hostile}|${hostile}|${hostile}|${hostile}`);
        const run = renderRunRegistryScript({ containerName: hostile, image: hostile, configDir: hostile, mounts: { [hostile]: "/m" }, env: { A: hostile } });
        const runAssignments = run.slice(run.indexOf("name="), run.indexOf("case "));
        const runBack = spawnSync("sh", ["-c", `${runAssignments}\nprintf '%s|%s|%s' "$name" "$image" "$config_dir"`], { encoding: "utf8" });
        assert.equal(runBack.stdout, `${hostile}|${hostile}|${hostile}`);
    });
});
