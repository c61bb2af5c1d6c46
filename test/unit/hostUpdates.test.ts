import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DOCKER_ORIGIN_PATTERN, renderHostUpdatesScript, renderUpdatesConfig, UPDATES_CONF_FILE } from "../../components/render/hostUpdates";
import { shellcheck, StubPath } from "../support/shell";
import { holdLikeApt } from "./aptLockHolder";

/**
 * The unattended-updates config as apt itself reads it, and the install script's wait for
 * first boot's apt runs. Whether unattended-upgrade then selects a newer Docker package is for a
 * host with the real program (the droplet twin).
 */

/** The lists unattended-upgrades ships on Ubuntu (mvo5/unattended-upgrades data/50unattended-upgrades.Ubuntu, abridged). */
const UBUNTU_DEFAULTS = `Unattended-Upgrade::Allowed-Origins {
	"\${distro_id}:\${distro_codename}";
	"\${distro_id}:\${distro_codename}-security";
	"\${distro_id}ESMApps:\${distro_codename}-apps-security";
	"\${distro_id}ESM:\${distro_codename}-infra-security";
};
`;

/** Debian's ships Origins-Pattern instead (data/50unattended-upgrades.Debian, abridged). */
const DEBIAN_DEFAULTS = `Unattended-Upgrade::Origins-Pattern {
        "origin=Debian,codename=\${distro_codename},label=Debian";
        "origin=Debian,codename=\${distro_codename},label=Debian-Security";
};
`;

/**
 * `apt-config dump` over an apt.conf.d holding only the given files, read in apt's order, with
 * nothing from this machine's own /etc/apt.
 */
function aptConfig(files: Record<string, string>): string[] {
    const dir = mkdtempSync(join(tmpdir(), "apt-conf-"));
    mkdirSync(join(dir, "parts"));
    for (const [name, text] of Object.entries(files)) {
        writeFileSync(join(dir, "parts", name), text);
    }
    writeFileSync(join(dir, "apt.conf"), `Dir::Etc::Parts "${join(dir, "parts")}";\nDir::Etc::main "/dev/null";\n`);
    const dump = spawnSync("apt-config", ["dump"], { encoding: "utf8", env: { ...process.env, APT_CONFIG: join(dir, "apt.conf") } });
    assert.equal(dump.error, undefined, "apt-config (Debian package apt) is needed");
    assert.equal(dump.status, 0, dump.stderr);
    assert.equal(dump.stderr, "", "apt reads the files without a warning");
    return dump.stdout.split("\n").filter((line) => line.startsWith("Unattended-Upgrade::") || line.startsWith("APT::Periodic::"));
}

describe("the unattended-updates config", () => {
    it("adds Docker's repository by origin, label, suite and component, never by codename", () => {
        // Docker's Release file has Origin: Docker, Label: Docker CE, Suite: <ubuntu codename>.
        assert.equal(DOCKER_ORIGIN_PATTERN, "origin=Docker,label=Docker CE,archive=${distro_codename},component=stable");
        assert.doesNotMatch(DOCKER_ORIGIN_PATTERN, /(^|,)(n|codename)=/);
        // unattended-upgrade splits on "," and then "=": neither may appear inside a value.
        for (const token of DOCKER_ORIGIN_PATTERN.split(",")) {
            assert.equal(token.split("=").length, 2, token);
        }
    });

    it("apt reads it after Ubuntu's defaults, keeps their origins and adds Docker's", () => {
        const lines = aptConfig({ "50unattended-upgrades": UBUNTU_DEFAULTS, [UPDATES_CONF_FILE]: renderUpdatesConfig() });
        assert.deepEqual(
            lines.filter((l) => l.includes("Origins")),
            [
                'Unattended-Upgrade::Allowed-Origins "";',
                'Unattended-Upgrade::Allowed-Origins:: "${distro_id}:${distro_codename}";',
                'Unattended-Upgrade::Allowed-Origins:: "${distro_id}:${distro_codename}-security";',
                'Unattended-Upgrade::Allowed-Origins:: "${distro_id}ESMApps:${distro_codename}-apps-security";',
                'Unattended-Upgrade::Allowed-Origins:: "${distro_id}ESM:${distro_codename}-infra-security";',
                'Unattended-Upgrade::Origins-Pattern "";',
                `Unattended-Upgrade::Origins-Pattern:: "${DOCKER_ORIGIN_PATTERN}";`,
            ],
        );
        assert.ok(lines.includes('Unattended-Upgrade::Automatic-Reboot-Time "04:30";'));
        assert.ok(lines.includes('APT::Periodic::Unattended-Upgrade "1";'));
    });

    it("a list in a later file adds to the same list in an earlier one (Debian's Origins-Pattern)", () => {
        const patterns = aptConfig({ "50unattended-upgrades": DEBIAN_DEFAULTS, [UPDATES_CONF_FILE]: renderUpdatesConfig() }).filter((l) =>
            l.startsWith("Unattended-Upgrade::Origins-Pattern::"),
        );
        assert.deepEqual(patterns, [
            'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian";',
            'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian-Security";',
            `Unattended-Upgrade::Origins-Pattern:: "${DOCKER_ORIGIN_PATTERN}";`,
        ]);
    });
});

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
    it("writes the config byte for byte (the $ in ${distro_codename} is not the shell's)", () => {
        const stubs = new StubPath({});
        const confDir = join(stubs.dir, "apt.conf.d");
        writeFileSync(join(stubs.dir, "unattended-upgrade"), "#!/bin/sh\n", { mode: 0o755 });
        const script = renderHostUpdatesScript(confDir, "04:30", { root: join(stubs.dir, "root") });
        assert.equal(shellcheck(script).status, 0, shellcheck(script).output);
        const result = stubs.run(script);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(readFileSync(join(confDir, UPDATES_CONF_FILE), "utf8"), renderUpdatesConfig("04:30"));
    });

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
