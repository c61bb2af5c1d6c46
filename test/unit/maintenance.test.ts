import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gcScheduleProblem, onCalendar, renderMaintenanceScript, renderMaintenanceUnits } from "../../components/render/maintenance";
import { renderRunRegistryScript, renderWaitServingScript } from "../../components/render/registryRun";
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

    constructor(options: { retention?: boolean; gcFails?: boolean } = {}) {
        this.stubs = new StubPath({
            docker: `case "$*" in
  *garbage-collect*--dry-run*) printf '%s' '${PLAN}' ;;
  *garbage-collect*) ${options.gcFails === true ? 'echo "s3aws: AccessDenied" >&2; exit 1' : "echo 'Deleting blob: /docker/registry/v2/blobs/...' >&2"} ;;
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
        for (const program of ["run-registry", "wait-serving"]) {
            writeFileSync(join(this.libDir, program), `#!/bin/sh\nprintf '%s\\n' "${program} $*" >> '${this.stubs.log}'\n`);
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
            ["retention", "run-registry readonly", "wait-serving ", "gc plan", "gc", "run-registry readwrite", "wait-serving "],
        );
        assert.ok(calls.filter((c) => c.includes("garbage-collect")).every((c) => c.includes("config-readonly.yml:/etc/distribution/config.yml:ro") && c.includes("--delete-untagged")));
        assert.match(result.stdout, new RegExp(`deleting blob ${DIGEST_A} \\(1048576 bytes, last in team/app\\)`));
        assert.match(result.stdout, /deleting manifest \{team\/app sha256:c+ \[old\]\}/);
        assert.match(result.stdout, new RegExp(`deleting blob ${DIGEST_M} \\(500 bytes, last in team/app\\)`), "a manifest is sized too");
        assert.match(result.stdout, /deleted 1 manifests and 3 blobs, freeing 1051076 bytes \(plus 0 blobs of unknown size\)/);
        const manifestHead = host.stubs.calls().find((c) => c.includes(`/manifests/${DIGEST_M}`)) ?? "";
        assert.match(manifestHead, /-H Accept: application\/vnd\.oci\.image\.manifest\.v1\+json/, "the registry hides a manifest from a HEAD that does not accept its type");
        // Sizes are asked with the login from a file, never on the command line.
        assert.ok(host.stubs.calls().filter((c) => c.startsWith("curl ")).every((c) => c.includes(`-K ${host.configDir}/health.curlrc`) && !c.includes("ci:pw")));
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
