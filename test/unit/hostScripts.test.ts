import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { renderAuthorizedKeysScript } from "../../components/render/authorizedKeys";
import { renderCloudInit } from "../../components/render/cloudInit";
import { renderHostUpdatesScript } from "../../components/render/hostUpdates";
import { deploymentParts, DeploymentInput, renderBundleFiles } from "../../components/render/deployment";
import { renderStartScript, renderStdinBundle, renderStopScript } from "../../components/render/scripts";
import { MAINTENANCE_RECOVERY_SERVICE, MAINTENANCE_SERVICE, MAINTENANCE_TIMER } from "../../components/render/maintenance";
import { exampleDeploymentInput } from "../support/fixtures";
import { shellcheck, StubPath } from "../support/shell";

/**
 * The scripts the droplet runs, run here against stand-ins for ufw, docker and curl that record
 * what they were asked to do.
 */

const hostKey = { privateOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n", publicOpenssh: "ssh-ed25519 AAAAhost\n" };

/** The first-boot command exactly as cloud-init would run it: an argv list from the user data. */
function bootcmdArgv(): string[] {
    const bootcmd = parse(renderCloudInit({ hostKey }).replace(/^#cloud-config\n/, "")).bootcmd;
    assert.equal(bootcmd.length, 1);
    return bootcmd[0];
}

/** A ufw that keeps its rules in a file, starting from the Docker 1-click's `limit ssh`. */
function fakeUfw(): StubPath {
    const stubs = new StubPath({
        ufw: `rules="$(dirname "$0")/rules"
case "$*" in
  "allow ssh") grep -qx 'allow ssh' "$rules" || echo 'allow ssh' >> "$rules" ;;
  "delete limit ssh")
    if grep -qx 'limit ssh' "$rules"; then grep -vx 'limit ssh' "$rules" > "$rules.new" || true; mv "$rules.new" "$rules"
    else echo "Could not delete non-existent rule" >&2; exit 1; fi ;;
  *) echo "unexpected ufw call: $*" >&2; exit 2 ;;
esac`,
    });
    writeFileSync(join(stubs.dir, "rules"), "limit ssh\n");
    return stubs;
}

describe("first boot: the image's SSH rate limit", () => {
    it("is an argv list that cloud-init runs with sh, and passes shellcheck", () => {
        const [shell, flag, script] = bootcmdArgv();
        assert.deepEqual([shell, flag], ["sh", "-c"]);
        const { status, output } = shellcheck(`#!/bin/sh\n${script}`);
        assert.equal(status, 0, output);
    });

    it("ends with ssh allowed and no limit rule, adding the allow before removing the limit", () => {
        const ufw = fakeUfw();
        const result = ufw.run(bootcmdArgv()[2]);
        assert.equal(result.status, 0, result.stderr);
        assert.equal(readFileSync(join(ufw.dir, "rules"), "utf8"), "allow ssh\n");
        assert.deepEqual(ufw.calls(), ["ufw allow ssh", "ufw delete limit ssh"], "SSH is never left without a rule");
    });

    it("runs again on every boot without failing", () => {
        const ufw = fakeUfw();
        ufw.run(bootcmdArgv()[2]);
        const again = ufw.run(bootcmdArgv()[2]);
        assert.equal(again.status, 0, again.stderr);
        assert.equal(readFileSync(join(ufw.dir, "rules"), "utf8"), "allow ssh\n");
    });

    it("does nothing on an image without ufw", () => {
        const bare = new StubPath({});
        assert.equal(bare.run(bootcmdArgv()[2]).status, 0);
    });
});

describe("operator keys over SSH", () => {
    const deployKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIdeployKeyFromDigitalOcean deploy";
    const handAdded = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIaddedByHand bob";
    const alice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIaliceKey0123456789 alice";
    const carol = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCcarol carol";

    function freshFile(): string {
        const file = join(mkdtempSync(join(tmpdir(), "authkeys-")), ".ssh", "authorized_keys");
        return file;
    }
    function install(file: string, keys: string[]): void {
        const result = new StubPath({}).run(renderAuthorizedKeysScript(keys, file));
        assert.equal(result.status, 0, result.stderr);
    }
    const lines = (file: string) => readFileSync(file, "utf8").trimEnd().split("\n");

    it("passes shellcheck", () => {
        const { status, output } = shellcheck(renderAuthorizedKeysScript([alice, carol]));
        assert.equal(status, 0, output);
    });

    it("adds, replaces and removes only its own block, keeping the deploy key and hand-added lines", () => {
        const file = freshFile();
        install(file, []);
        writeFileSync(file, `${deployKey}\n${readFileSync(file, "utf8")}${handAdded}\n`);

        install(file, [alice, carol]);
        assert.deepEqual(lines(file).filter((l) => !l.startsWith("#")), [deployKey, handAdded, alice, carol]);
        assert.equal(statSync(file).mode & 0o777, 0o600);

        install(file, [carol]);
        assert.deepEqual(lines(file).filter((l) => !l.startsWith("#")), [deployKey, handAdded, carol]);

        install(file, []);
        assert.deepEqual(lines(file).filter((l) => !l.startsWith("#")), [deployKey, handAdded]);
        assert.equal(lines(file).filter((l) => l.startsWith("# BEGIN")).length, 1, "one block, however often it runs");
    });

    it("writes a hostile value as one literal line and runs nothing from it", () => {
        const file = freshFile();
        const marker = join(tmpdir(), `pwned-${process.pid}`);
        const hostile = `ssh-ed25519 AAAA x'; touch ${marker}; echo '$(touch ${marker})`;
        install(file, [hostile]);
        assert.ok(!existsSync(marker));
        assert.ok(lines(file).includes(hostile));
    });
});

describe("the stop script", () => {
    it("removes the container together with its anonymous volume", () => {
        const stubs = new StubPath({ docker: "exit 0" });
        const configDir = join(stubs.dir, "config");
        const result = stubs.run(renderStopScript({ containerName: "registry", frontContainerName: "registry-front", configDir, unitDir: join(stubs.dir, "units") }));
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(stubs.calls(), ["docker rm -f -v registry-front", "docker rm -f -v registry"]);
    });

    it("disables and removes the maintenance units, the timer first, and leaves other units alone; a second run does nothing", () => {
        const stubs = new StubPath({ docker: "exit 0", systemctl: "exit 0" });
        const unitDir = join(stubs.dir, "units");
        mkdirSync(unitDir);
        const ours = [MAINTENANCE_TIMER, MAINTENANCE_SERVICE, MAINTENANCE_RECOVERY_SERVICE];
        for (const unit of [...ours, "other.service"]) {
            writeFileSync(join(unitDir, unit), "[Unit]\n");
        }
        const script = renderStopScript({ containerName: "registry", frontContainerName: "registry-front", configDir: join(stubs.dir, "config"), unitDir });
        const result = stubs.run(script);
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(
            stubs.calls().filter((c) => c.startsWith("systemctl")),
            [...ours.map((unit) => `systemctl disable --now ${unit}`), "systemctl daemon-reload"],
        );
        assert.deepEqual(readdirSync(unitDir), ["other.service"]);
        assert.match(result.stdout, /maintenance units removed/);

        const again = new StubPath({ docker: "exit 0", systemctl: "exit 0" });
        const second = again.run(script);
        assert.equal(second.status, 0, second.stderr);
        assert.deepEqual(again.calls().filter((c) => c.startsWith("systemctl")), [], "nothing to disable the second time");
    });
});

describe("the start script while DNS does not point at the droplet yet", () => {
    const input = exampleDeploymentInput({ tls: { kind: "letsencrypt", hostname: "registry.example.com", awaitingDnsFor: "203.0.113.10" } });

    /** Renders the start script and its stdin as the droplet gets them, with host paths in a temp dir. */
    function rendered(stubs: StubPath, tls: DeploymentInput["tls"]) {
        const parts = deploymentParts({ ...input, tls });
        const script = renderStartScript({ ...parts.start, configDir: join(stubs.dir, "etc"), dataDir: join(stubs.dir, "data") });
        const stdin = renderStdinBundle({ files: renderBundleFiles(parts), healthCheckUser: parts.healthCheckUser });
        return { script, stdin };
    }

    /** docker that reports a running container; curl that answers only the debug server. */
    function hostStubs(): StubPath {
        return new StubPath({
            docker: `case "$1" in inspect) echo true ;; run) echo 0123456789ab ;; esac`,
            curl: `for last; do :; done
case "$last" in http://127.0.0.1:5001/debug/health) printf 200 ;; *) printf 000 ;; esac`,
        });
    }

    it("starts the container, never makes a TLS request for the name, and names the record to create", () => {
        const stubs = hostStubs();
        const { script, stdin } = rendered(stubs, input.tls);
        assert.equal(shellcheck(script).status, 0, shellcheck(script).output);
        const result = stubs.run(script, { stdin });
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /waiting for DNS: create an A record registry.example.com -> 203.0.113.10/);
        const calls = stubs.calls();
        assert.ok(calls.some((c) => c.startsWith("docker run -d --name registry")), calls.join("\n"));
        const curls = calls.filter((c) => c.startsWith("curl "));
        assert.ok(curls.length > 0);
        assert.ok(curls.every((c) => c.endsWith("http://127.0.0.1:5001/debug/health")), `a request other than the debug server's: ${curls.join("\n")}`);
    });

    it("once DNS is in place, the same stubs see the TLS check (which these stubs fail)", () => {
        const stubs = hostStubs();
        const { tls } = input;
        const { script, stdin } = rendered(stubs, { ...tls, awaitingDnsFor: undefined } as DeploymentInput["tls"]);
        const result = stubs.run(script.replace(/health_timeout=[0-9]+/, "health_timeout=1"), { stdin });
        assert.notEqual(result.status, 0);
        assert.ok(stubs.calls().some((c) => c.startsWith("curl ") && c.endsWith("https://registry.example.com/v2/")));
    });
});

describe("unattended security updates", () => {
    const aptStub = `mkdir -p "$(dirname "$0")/installed"; touch "$(dirname "$0")/installed/unattended-upgrade"
cat > "$(dirname "$0")/unattended-upgrade" <<'EOF2'
#!/bin/sh
EOF2
chmod +x "$(dirname "$0")/unattended-upgrade"`;

    it("passes shellcheck, installs the package where the image lacks it, and holds reboots for the quiet hour", () => {
        const stubs = new StubPath({ "apt-get": aptStub });
        const confDir = join(stubs.dir, "apt.conf.d");
        const script = renderHostUpdatesScript(confDir);
        assert.equal(shellcheck(script).status, 0, shellcheck(script).output);
        const result = stubs.run(script);
        assert.equal(result.status, 0, result.stderr);
        assert.match(stubs.calls()[0], /^apt-get -o DPkg::Lock::Timeout=600 install -y -q unattended-upgrades$/);
        const config = readFileSync(join(confDir, "52private-registry-updates"), "utf8");
        assert.match(config, /^APT::Periodic::Unattended-Upgrade "1";$/m);
        assert.match(config, /^Unattended-Upgrade::Automatic-Reboot "true";$/m);
        assert.match(config, /^Unattended-Upgrade::Automatic-Reboot-Time "04:30";$/m);
        // Run again (the next deploy): nothing to install, the same config.
        const again = stubs.run(script);
        assert.equal(again.status, 0, again.stderr);
        assert.equal(stubs.calls().filter((c) => c.startsWith("apt-get")).length, 1);
        assert.equal(readFileSync(join(confDir, "52private-registry-updates"), "utf8"), config);
    });

    it("refuses a reboot time that is not HH:MM", () => {
        assert.throws(() => renderHostUpdatesScript("/etc/apt/apt.conf.d", "4:30am"), /HH:MM/);
    });
});
