import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MAINTENANCE_WINDOW_MARKER, renderMaintenanceScript } from "../../components/render/maintenance";
import { joinedFlag, renderFollowerScript, WINDOW_FLAG } from "../../components/render/maintenanceReplicas";
import { shellcheck } from "../support/shell";

/**
 * The replicas' maintenance jobs run for real, together, against stand-ins: a folder for the
 * bucket's flags, run-registry and wait-serving that record each host's mode, docker whose
 * garbage-collect records what every host's mode was when the collection ran, and a clock that
 * runs fast so that the jobs' waits end in moments.
 */

const PLAN = `blob eligible for deletion: sha256:${"a".repeat(64)}\nteam/app: layer link eligible for deletion: sha256:${"a".repeat(64)}\n`;

class Lab {
    readonly root = mkdtempSync(join(tmpdir(), "replica-maintenance-"));
    readonly flags = join(this.root, "flags");
    readonly bin = join(this.root, "bin");
    readonly log = join(this.root, "calls.log");

    constructor(readonly count: number, options: { fastClock?: boolean } = {}) {
        mkdirSync(this.flags);
        mkdirSync(this.bin);
        writeFileSync(this.log, "");
        const hosts = Array.from({ length: count }, (_, i) => this.configDir(i + 1));
        this.stub("docker", `case "$*" in
  *garbage-collect*--dry-run*) printf '%s' '${PLAN}' ;;
  *garbage-collect*) echo "collected with modes:${hosts.map((h) => ` $(cat '${h}/mode')`).join("")}" >> '${this.log}'; printf '%s' '${PLAN}' ;;
esac`);
        this.stub("curl", `printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\n'`);
        this.stub("sleep", "exec /bin/sleep 0.05");
        if (options.fastClock === true) {
            // Each reading of the epoch is a minute later than the last.
            this.stub("date", `if [ "$1" = +%s ]; then
  now=$(cat '${this.root}/clock' 2>/dev/null || echo 1700000000)
  echo $((now + 60)) > '${this.root}/clock'
  echo "$now"
else
  exec /bin/date "$@"
fi`);
        }
        for (const [index, configDir] of hosts.entries()) {
            const lib = join(configDir, "bin");
            mkdirSync(lib, { recursive: true });
            writeFileSync(join(configDir, "mode"), "readwrite\n");
            const replica = index + 1;
            this.program(lib, "run-registry", `echo "replica ${replica} run-registry $1" >> '${this.log}'; echo "$1" > '${configDir}/mode'`);
            this.program(lib, "wait-serving", "true");
            this.program(lib, "bucket-flag", `echo "replica ${replica} bucket-flag $2 $3" >> '${this.log}'
case "$2" in
  put) cat > '${this.flags}'/"$3" ;;
  get) [ -e '${this.flags}'/"$3" ] || exit 3; cat '${this.flags}'/"$3" ;;
  delete) rm -f '${this.flags}'/"$3" ;;
esac`);
        }
    }

    configDir(replica: number): string {
        return join(this.root, `replica-${replica}`);
    }

    private stub(name: string, body: string): void {
        this.program(this.bin, name, body);
    }

    private program(dir: string, name: string, body: string): void {
        const file = join(dir, name);
        writeFileSync(file, `#!/bin/sh\n${body}\n`);
        chmodSync(file, 0o755);
    }

    script(replica: number): string {
        const configDir = this.configDir(replica);
        const common = { configDir, libDir: join(configDir, "bin"), lockFile: join(configDir, "maintenance.lock") };
        return replica === 1
            ? renderMaintenanceScript({ ...common, containerName: "registry", image: "registry:3", check: { url: "https://registry.test/v2/", useBundledCa: false }, replicas: { count: this.count } })
            : renderFollowerScript({ ...common, replicaNumber: replica });
    }

    run(replica: number, mode = "collect"): Promise<{ status: number | null; output: string }> {
        const file = join(this.root, `maintenance-${replica}`);
        writeFileSync(file, this.script(replica), { mode: 0o755 });
        return new Promise((resolve) => {
            const child = spawn("sh", [file, mode], { env: { PATH: `${this.bin}:/usr/bin:/bin` }, stdio: ["ignore", "pipe", "pipe"] });
            let output = "";
            child.stdout.on("data", (d) => (output += d));
            child.stderr.on("data", (d) => (output += d));
            const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, output });
            });
        });
    }

    calls(): string[] {
        return readFileSync(this.log, "utf8").split("\n").filter((l) => l !== "");
    }

    mode(replica: number): string {
        return readFileSync(join(this.configDir(replica), "mode"), "utf8").trim();
    }

    flagsLeft(): string[] {
        return readdirSync(this.flags);
    }
}

describe("the weekly collection with replicas", () => {
    it("renders scripts that pass shellcheck, for the collector and for a follower", () => {
        const lab = new Lab(3);
        for (const replica of [1, 2]) {
            const { status, output } = shellcheck(lab.script(replica));
            assert.equal(status, 0, `replica ${replica}:\n${output}`);
        }
    });

    it("collects only once every replica is read-only, and leaves every replica read-write with no flag behind", async () => {
        const lab = new Lab(3);
        // The followers start late, as a droplet whose timer fires a little after: the collector must wait for them.
        const late = (replica: number) => new Promise<void>((resolve) => setTimeout(resolve, 1000)).then(() => lab.run(replica));
        const [collector, second, third] = await Promise.all([lab.run(1), late(2), late(3)]);
        assert.equal(collector.status, 0, collector.output);
        assert.equal(second.status, 0, second.output);
        assert.equal(third.status, 0, third.output);
        const collections = lab.calls().filter((c) => c.startsWith("collected with modes:"));
        assert.deepEqual(collections, ["collected with modes: readonly readonly readonly"]);
        assert.deepEqual([1, 2, 3].map((r) => lab.mode(r)), ["readwrite", "readwrite", "readwrite"]);
        assert.deepEqual(lab.flagsLeft(), [], "flags left in the bucket");
        assert.match(collector.output, /every replica is read-only: pushes are refused everywhere/);
        assert.match(collector.output, /every replica takes pushes again \d+s after the window began/);
        assert.match(second.output, /the window ended after \d+s here/);
        // The window is announced before the collector's own read-only restart, and ended before its read-write one.
        const calls = lab.calls();
        const at = (text: string) => calls.indexOf(text);
        assert.ok(at(`replica 1 bucket-flag put ${WINDOW_FLAG}`) < at("replica 1 run-registry readonly"));
        assert.ok(at(`replica 1 bucket-flag delete ${WINDOW_FLAG}`) < calls.lastIndexOf("replica 1 run-registry readwrite"));
        for (const replica of [2, 3]) {
            assert.ok(at(`replica ${replica} run-registry readonly`) < at(`replica ${replica} bucket-flag put ${joinedFlag(replica)}`), `replica ${replica} joins only once read-only`);
        }
    });

    it("does not collect when a replica never turns read-only, and ends its own window", async () => {
        const lab = new Lab(3, { fastClock: true });
        const [collector, second] = await Promise.all([lab.run(1), lab.run(2)]);
        assert.equal(collector.status, 1, collector.output);
        assert.match(collector.output, /replica-3 did not turn read-only within 300s .*not collecting this time/);
        assert.deepEqual(lab.calls().filter((c) => c.startsWith("collected")), [], "no collection ran");
        assert.equal(second.status, 0, second.output);
        assert.deepEqual([1, 2, 3].map((r) => lab.mode(r)), ["readwrite", "readwrite", "readwrite"]);
        assert.deepEqual(lab.flagsLeft(), []);
    });

    it("a follower ignores a window a dead collector left long ago, and stays read-write", async () => {
        const lab = new Lab(2, { fastClock: true });
        writeFileSync(join(lab.flags, WINDOW_FLAG), "1600000000-42");
        const follower = await lab.run(2);
        assert.equal(follower.status, 0, follower.output);
        assert.match(follower.output, /no window was announced; nothing to do/);
        assert.ok(!lab.calls().some((c) => c.includes("run-registry readonly")), "the follower never turned read-only");
    });

    it("a follower whose window was cut short by a reboot is read-write again at boot, and withdraws its flag", async () => {
        const lab = new Lab(2);
        writeFileSync(join(lab.configDir(2), MAINTENANCE_WINDOW_MARKER), "2026-12-06T03:00:00Z\n");
        writeFileSync(join(lab.configDir(2), "mode"), "readonly\n");
        writeFileSync(join(lab.flags, joinedFlag(2)), "1700000000-42");
        const recovered = await lab.run(2, "recover");
        assert.equal(recovered.status, 0, recovered.output);
        assert.equal(lab.mode(2), "readwrite");
        assert.ok(!existsSync(join(lab.configDir(2), MAINTENANCE_WINDOW_MARKER)), "the window's marker is gone");
        assert.deepEqual(lab.flagsLeft(), []);
    });

    it("the collector's recovery at boot withdraws the window it announced, so the others leave it", async () => {
        const lab = new Lab(2);
        writeFileSync(join(lab.configDir(1), MAINTENANCE_WINDOW_MARKER), "2026-12-06T03:00:00Z\n");
        writeFileSync(join(lab.flags, WINDOW_FLAG), "1700000000-42");
        const recovered = await lab.run(1, "recover");
        assert.equal(recovered.status, 0, recovered.output);
        assert.deepEqual(lab.flagsLeft(), []);
        assert.equal(lab.mode(1), "readwrite");
    });
});
