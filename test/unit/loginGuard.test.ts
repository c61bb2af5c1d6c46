import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FAIL2BAN_ACTION_PATH, FAIL2BAN_FILTER_PATH, FAIL2BAN_JAIL_NAME, FAIL2BAN_JAIL_PATH } from "../../components/render/fail2ban";
import { renderLoginGuardScript } from "../../components/render/loginGuard";
import { shellcheck, StubPath } from "../support/shell";
import { holdLikeApt } from "./aptLockHolder";

/**
 * The failed-login guard's install script, run against stand-ins for apt-get, systemctl and
 * fail2ban-client, on a PATH that holds nothing else but the basic tools (the machine running
 * the tests may have the real fail2ban). That fail2ban itself loads the files it writes is
 * proven with the real program in fail2ban.test.ts and 14-failed-logins.
 */

const BASIC_TOOLS = ["sh", "mkdir", "touch", "chmod", "mv", "dirname", "sleep", "cp", "cat", "date", "stat", "tr", "sed", "cut"];

class Droplet {
    readonly stubs: StubPath;
    readonly root: string;
    readonly log: string;
    readonly script: string;

    constructor(options: { fail2banInstalled: boolean; jailLoads?: boolean; serverRunning?: boolean; aptWaitSeconds?: number }) {
        const loads = options.jailLoads ?? true;
        const fail2banClient = `case "$1" in
  ping) ${options.serverRunning === false ? "exit 255" : "exit 0"} ;;
  status) ${loads ? "exit 0" : "exit 255"} ;;
esac`;
        this.stubs = new StubPath({
            "apt-get": `case "$*" in *install*) cp "$(dirname "$0")/.fail2ban-client" "$(dirname "$0")/fail2ban-client" ;; esac`,
            systemctl: "exit 0",
            sleep: "exit 0",
        });
        // The stand-in that apt-get "installs": it logs its calls under its own name.
        const template = join(this.stubs.dir, ".fail2ban-client");
        writeFileSync(template, `#!/bin/sh\nprintf '%s\\n' "fail2ban-client $*" >> '${this.stubs.log}'\n${fail2banClient}\n`);
        chmodSync(template, 0o755);
        if (options.fail2banInstalled) {
            writeFileSync(join(this.stubs.dir, "fail2ban-client"), readFileSync(template));
            chmodSync(join(this.stubs.dir, "fail2ban-client"), 0o755);
        }
        const tools = join(this.stubs.dir, "tools");
        mkdirSync(tools);
        for (const tool of BASIC_TOOLS.filter((t) => t !== "sleep")) {
            symlinkSync(execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(), join(tools, tool));
        }
        this.root = join(this.stubs.dir, "root");
        this.log = join(this.root, "var/log/private-registry/front-refused.log");
        const aptWait = options.aptWaitSeconds === undefined ? undefined : { timeoutSeconds: options.aptWaitSeconds, progressSeconds: 1, pollSeconds: 1 };
        this.script = renderLoginGuardScript({ refusedLogPath: this.log, ports: [443], root: this.root, aptWait });
    }

    run() {
        return this.stubs.run(this.script, { env: { PATH: `${this.stubs.dir}:${join(this.stubs.dir, "tools")}` } });
    }

    calls(program: string): string[] {
        return this.stubs.calls().filter((c) => c.startsWith(`${program} `));
    }
}

describe("the failed-login guard's install script", () => {
    it("passes shellcheck", () => {
        const { status, output } = shellcheck(renderLoginGuardScript({ refusedLogPath: "/var/log/private-registry/front-refused.log", ports: [443] }));
        assert.equal(status, 0, output);
    });

    it("installs fail2ban where it is missing, writes the jail for the front's log, and proves the jail loaded", () => {
        const droplet = new Droplet({ fail2banInstalled: false });
        const result = droplet.run();
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(
            droplet.calls("apt-get").map((c) => c.split(" ").filter((w) => !w.startsWith("-") && w !== "DPkg::Lock::Timeout=600").join(" ")),
            ["apt-get update", "apt-get install fail2ban"],
        );
        const jail = readFileSync(join(droplet.root, FAIL2BAN_JAIL_PATH), "utf8");
        assert.match(jail, new RegExp(`^logpath\\s*=\\s*${droplet.log.replace(/[.]/g, "\\.")}$`, "m"));
        assert.match(jail, /^port\s*=\s*443$/m);
        assert.match(readFileSync(join(droplet.root, FAIL2BAN_FILTER_PATH), "utf8"), /^failregex\s*=/m);
        // The jail's ban action, which the jail names and bans an IPv6 /64 with.
        assert.match(jail, new RegExp(`^banaction\\s*=\\s*${FAIL2BAN_JAIL_NAME}$`, "m"));
        assert.match(readFileSync(join(droplet.root, FAIL2BAN_ACTION_PATH), "utf8"), /^banprefix = \/64$/m);
        assert.equal(statSync(join(droplet.root, FAIL2BAN_JAIL_PATH)).mode & 0o777, 0o644);
        // fail2ban 0.11 refuses a jail whose log is missing: the file exists before the reload.
        assert.ok(statSync(droplet.log).isFile());
        assert.ok(droplet.calls("fail2ban-client").includes(`fail2ban-client status ${FAIL2BAN_JAIL_NAME}`));
        assert.match(result.stdout, /failed-login guard on: 10 failed logins within 10 minutes refuse an address for 15 minutes/);
    });

    it("leaves an installed fail2ban alone and reloads the running server", () => {
        const droplet = new Droplet({ fail2banInstalled: true });
        assert.equal(droplet.run().status, 0);
        assert.deepEqual(droplet.calls("apt-get"), []);
        assert.deepEqual(droplet.calls("fail2ban-client").slice(0, 2), ["fail2ban-client ping", "fail2ban-client reload"]);
        assert.deepEqual(droplet.calls("systemctl"), ["systemctl enable fail2ban"]);
    });

    it("starts a stopped server", () => {
        const droplet = new Droplet({ fail2banInstalled: true, serverRunning: false });
        assert.equal(droplet.run().status, 0);
        assert.deepEqual(droplet.calls("systemctl"), ["systemctl enable fail2ban", "systemctl restart fail2ban"]);
    });

    it("waits for first boot's apt run, then fails naming what holds apt's lock, installing nothing", async () => {
        const droplet = new Droplet({ fail2banInstalled: false, aptWaitSeconds: 2 });
        // apt-daily's `apt-get update` on a fresh droplet, holding the lists lock as apt does.
        const holder = await holdLikeApt(join(droplet.root, "var/lib/apt/lists/lock"));
        let result: ReturnType<Droplet["run"]>;
        const started = Date.now();
        try {
            result = droplet.run();
        } finally {
            await holder.release();
        }
        assert.equal(result.status, 1, result.stdout + result.stderr);
        assert.ok(Date.now() - started >= 2000, "not at once");
        assert.match(result.stderr, new RegExp(`apt is still busy after 2s: ${droplet.root}/var/lib/apt/lists/lock is held by process ${holder.pid} \\(perl: `));
        assert.deepEqual(droplet.calls("apt-get"), []);
        assert.equal(existsSync(join(droplet.root, FAIL2BAN_JAIL_PATH)), false, "no jail is written after a failed install");
    });

    it("fails the deploy when the jail does not load", () => {
        const droplet = new Droplet({ fail2banInstalled: true, jailLoads: false });
        const result = droplet.run();
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /did not load the private-registry-front jail/);
    });
});
