import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { APT_LOCK_FILES, AptWaitOptions, renderAptWaitFunctions } from "../../components/render/aptWait";
import { shellQuote } from "../../components/render/shell";
import { shellcheck, StubPath } from "../support/shell";
import { holdLikeApt, holdWithDpkg, holdWithLibapt, pythonWithLibapt } from "./aptLockHolder";

/**
 * The wait for apt's locks, run under dash against locks held for real: by a process locking as
 * apt's GetLock does, by dpkg itself, and by libapt-pkg's GetLock. The lock files live under a
 * root of the test's own; apt-get is a stand-in that records when and how it was called.
 */

const LISTS = APT_LOCK_FILES[0];

interface Ran {
    code: number | null;
    stdout: string;
    stderr: string;
    ms: number;
}

class Apt {
    readonly root = mkdtempSync(join(tmpdir(), "apt root '$(x)' "));
    readonly stubs: StubPath;

    constructor(aptGet = "exit 0") {
        this.stubs = new StubPath({
            "apt-get": `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND at $(date +%s%3N)" >> "$(dirname "$0")/apt-get.env"
${aptGet}`,
        });
    }

    lock(path: string): string {
        return join(this.root, path);
    }

    /** Runs `body` under dash after the rendered functions (async: the test releases locks meanwhile). */
    run(body: string, options: Omit<AptWaitOptions, "root"> = {}): Promise<Ran> {
        const script = `set -eu\n${renderAptWaitFunctions({ progressSeconds: 1, pollSeconds: 1, ...options, root: this.root })}\n${body}\n`;
        const started = Date.now();
        const child = spawn("dash", ["-c", script], { env: { PATH: `${this.stubs.dir}:/usr/bin:/bin`, HOME: this.stubs.dir } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
    }

    /** {@link run} while `holder` holds its lock, which is released whatever the outcome. */
    async runWhileHeld(holder: { release(): Promise<void> }, body: string, options: Omit<AptWaitOptions, "root"> = {}): Promise<Ran> {
        try {
            return await this.run(body, options);
        } finally {
            await holder.release();
        }
    }

    /** When apt-get was called, in ms since the epoch, and with which DEBIAN_FRONTEND. */
    aptGetCalls(): { at: number; frontend: string }[] {
        let text = "";
        try {
            text = readFileSync(join(this.stubs.dir, "apt-get.env"), "utf8");
        } catch {
            return [];
        }
        return text
            .trim()
            .split("\n")
            .map((line) => {
                const [frontend, at] = line.replace("DEBIAN_FRONTEND=", "").split(" at ");
                return { at: Number(at), frontend };
            });
    }
}

describe("waiting for apt's locks", () => {
    it("passes shellcheck", () => {
        const script = `#!/bin/sh\nset -eu\n${renderAptWaitFunctions()}\napt_get update -q\napt_get install -y -q fail2ban\n`;
        const { status, output } = shellcheck(script);
        assert.equal(status, 0, output);
    });

    it("sees an fcntl lock taken as apt takes it, which flock(1) does not", async () => {
        const apt = new Apt();
        const holder = await holdLikeApt(apt.lock(LISTS));
        try {
            const flock = spawnSync("flock", ["-n", apt.lock(LISTS), "true"]);
            assert.equal(flock.status, 0, "flock(1) takes its own kind of lock beside apt's: it cannot tell");
            const ran = await apt.run(`apt_lock_holder ${shellQuote(apt.lock(LISTS))}`);
            assert.equal(ran.code, 0, ran.stderr);
            assert.equal(ran.stdout.trim(), String(holder.pid));
        } finally {
            await holder.release();
        }
        const free = await apt.run(`apt_lock_holder ${shellQuote(apt.lock(LISTS))}`);
        assert.equal(free.stdout, "", "nothing once it is released");
    });

    for (const path of APT_LOCK_FILES) {
        it(`waits the whole bound for ${path}, printing progress, then fails naming the file and its holder`, async () => {
            const apt = new Apt();
            const holder = await holdLikeApt(apt.lock(path));
            const ran = await apt.runWhileHeld(holder, "apt_get update -q", { timeoutSeconds: 2 });
            assert.equal(ran.code, 1, ran.stdout + ran.stderr);
            assert.ok(ran.ms >= 2000, `it never fails before the bound: failed after ${ran.ms} ms`);
            assert.match(ran.stderr, /^waiting for apt: .* is held by process \d+ \(perl: perl -e use Fcntl;/m, "a progress line");
            const last = ran.stderr.trim().split("\n").at(-1) ?? "";
            assert.ok(last.startsWith(`apt is still busy after 2s: ${apt.lock(path)} is held by process ${holder.pid} (perl: perl -e use Fcntl;`), last);
            assert.match(last, /; giving up$/);
            assert.deepEqual(apt.aptGetCalls(), [], "apt-get never ran");
        });
    }

    it("proceeds as soon as the holder lets go, and only then runs apt-get", async () => {
        const apt = new Apt();
        const holder = await holdLikeApt(apt.lock("/var/lib/dpkg/lock-frontend"));
        const running = apt.run("apt_get install -y -q fail2ban", { timeoutSeconds: 60 });
        await new Promise((resolve) => setTimeout(resolve, 2500));
        const released = Date.now();
        await holder.release();
        const ran = await running;
        assert.equal(ran.code, 0, ran.stderr);
        assert.ok(ran.ms < 10_000, `it went on at once: ${ran.ms} ms`);
        assert.match(ran.stderr, /waiting for apt: .*\/var\/lib\/dpkg\/lock-frontend is held by process/);
        const calls = apt.aptGetCalls();
        assert.equal(calls.length, 1);
        assert.ok(calls[0].at >= released, "apt-get ran after the lock was released");
        assert.equal(calls[0].frontend, "noninteractive");
        assert.deepEqual(
            apt.stubs.calls().filter((c) => c.startsWith("apt-get")),
            ["apt-get -o DPkg::Lock::Timeout=60 install -y -q fail2ban"],
        );
    });

    it("says nothing and runs apt-get at once when no lock is held", async () => {
        const apt = new Apt();
        mkdirSync(join(apt.root, "var/lib/dpkg"), { recursive: true });
        writeFileSync(apt.lock("/var/lib/dpkg/lock"), "");
        const ran = await apt.run("apt_get update -q");
        assert.equal(ran.code, 0, ran.stderr);
        assert.equal(ran.stderr, "");
        assert.deepEqual(apt.stubs.calls(), ["apt-get -o DPkg::Lock::Timeout=600 update -q"]);
    });

    it("when another apt run takes a lock between the wait and apt-get, waits again and retries", async () => {
        // The first apt-get finds the lists lock taken (as apt-daily would) and fails as apt does.
        const apt = new Apt(`if [ ! -e "$(dirname "$0")/raced" ]; then
  touch "$(dirname "$0")/raced"
  perl -e 'use Fcntl; open(my $fh, "+<", $ARGV[0]) or die; fcntl($fh, F_SETLK, pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0)) or die; sleep 2' "$APT_TEST_LISTS" >/dev/null 2>&1 &
  sleep 0.5
  echo "E: Could not get lock $APT_TEST_LISTS. It is held by process $!" >&2
  exit 100
fi`);
        mkdirSync(join(apt.root, "var/lib/apt/lists"), { recursive: true });
        writeFileSync(apt.lock(LISTS), "");
        const ran = await apt.run(`APT_TEST_LISTS=${shellQuote(apt.lock(LISTS))}\nexport APT_TEST_LISTS\napt_get update -q`, { timeoutSeconds: 30 });
        assert.equal(ran.code, 0, ran.stderr);
        assert.match(ran.stderr, /Could not get lock/);
        assert.match(ran.stderr, /apt-get failed while .*\/var\/lib\/apt\/lists\/lock was taken by process \d+ \(perl: .*\); waiting to try again/);
        assert.equal(apt.aptGetCalls().length, 2);
    });

    it("gives up on an apt-get failure that is not a lock, at once and with apt-get's status", async () => {
        const apt = new Apt('echo "E: Unable to locate package fail2ban" >&2; exit 100');
        const ran = await apt.run("apt_get install -y -q fail2ban", { timeoutSeconds: 30 });
        assert.equal(ran.code, 100);
        assert.equal(apt.aptGetCalls().length, 1);
        assert.ok(ran.ms < 5000);
    });

    it("sees the locks the real dpkg holds", async () => {
        const apt = new Apt();
        const holder = await holdWithDpkg(join(apt.root, "var/lib/dpkg"));
        const ran = await apt.runWhileHeld(holder, "apt_wait_for_locks", { timeoutSeconds: 1 });
        assert.equal(ran.code, 1);
        assert.match(ran.stderr, new RegExp(`/var/lib/dpkg/lock-frontend is held by process ${holder.pid} \\(dpkg: dpkg --admindir=.* --set-selections\\); giving up`));
        const after = await apt.run("apt_wait_for_locks", { timeoutSeconds: 1 });
        assert.equal(after.code, 0, after.stderr);
    });

    it("sees the lock libapt-pkg's own GetLock takes (python3-apt)", async (t) => {
        const python = pythonWithLibapt();
        if (python === undefined) {
            t.skip("python3-apt is not installed here; the perl and dpkg holders above lock the same way");
            return;
        }
        const apt = new Apt();
        const holder = await holdWithLibapt(python, apt.lock(LISTS));
        const ran = await apt.runWhileHeld(holder, "apt_wait_for_locks", { timeoutSeconds: 1 });
        assert.equal(ran.code, 1);
        assert.match(ran.stderr, new RegExp(`/var/lib/apt/lists/lock is held by process ${holder.pid} \\(python3`));
    });

    it("refuses a bound that is not a whole number of seconds", () => {
        assert.throws(() => renderAptWaitFunctions({ timeoutSeconds: 0 }), /timeoutSeconds must be a whole number of seconds, at least 1; got 0/);
        assert.throws(() => renderAptWaitFunctions({ pollSeconds: 0.5 }), /pollSeconds/);
    });
});
