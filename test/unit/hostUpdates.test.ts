import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderHostUpdatesScript, UPDATES_CONF_FILE } from "../../components/render/hostUpdates";
import { StubPath } from "../support/shell";
import { holdLikeApt } from "./aptLockHolder";

/** The unattended-updates install script's wait for first boot's apt runs. */

/**
 * A PATH of the stubs and only the basic tools the script needs, so a machine that has the real
 * unattended-upgrade (any Ubuntu) runs the same path as an image without it.
 */
function basicPath(stubs: StubPath): string {
    const tools = join(stubs.dir, "tools");
    mkdirSync(tools, { recursive: true });
    for (const tool of ["sh", "mkdir", "chmod", "mv", "cat", "date", "stat", "tr", "sed", "cut", "sleep"]) {
        symlinkSync(execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(), join(tools, tool));
    }
    return `${stubs.dir}:${tools}`;
}

describe("the unattended-updates install script", () => {
    it("waits for first boot's apt run before installing, and fails naming the holder when it outlasts the bound", async () => {
        const stubs = new StubPath({ "apt-get": "exit 0" });
        const root = join(stubs.dir, "root");
        const confDir = join(stubs.dir, "apt.conf.d");
        // unattended-upgrade absent, as on an image without it; apt-daily-upgrade holds dpkg's frontend lock.
        const holder = await holdLikeApt(join(root, "var/lib/dpkg/lock-frontend"));
        let result: ReturnType<StubPath["run"]>;
        try {
            result = stubs.run(renderHostUpdatesScript(confDir, "04:30", { root, timeoutSeconds: 1, progressSeconds: 1, pollSeconds: 1 }), { env: { PATH: basicPath(stubs) } });
        } finally {
            await holder.release();
        }
        assert.equal(result.status, 1, result.stdout + result.stderr);
        assert.match(result.stderr, new RegExp(`apt is still busy after 1s: ${root}/var/lib/dpkg/lock-frontend is held by process ${holder.pid} \\(perl: `));
        assert.deepEqual(stubs.calls(), [], "apt-get never ran");
        assert.equal(existsSync(join(confDir, UPDATES_CONF_FILE)), false);
    });
});
