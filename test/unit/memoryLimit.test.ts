import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FRONT_MANIFEST_REQUESTS_MAX, FRONT_UPLOAD_REQUESTS_DEFAULT, FRONT_TIMEOUTS, FRONT_UPSTREAM_WAIT_SECONDS, renderFrontConfig } from "../../components/render/front";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";
import { FRONT_MEMORY_LIMIT_BYTES, renderRunFrontScript } from "../../components/render/frontRun";
import { goMemoryLimitBytes, REGISTRY_MEMORY_LIMIT_BYTES, renderRunRegistryScript, type RegistryRunInput } from "../../components/render/registryRun";
import { REGISTRY_CONTAINER_ENV } from "../../components/render/scripts";

/**
 * The containers' memory limits on the default droplet, and the front's cap on requests in
 * flight that bench/twin/manifests.ts proposes. What the limits do under load: that bench.
 */

const MIB = 1024 ** 2;
const registryInput: RegistryRunInput = {
    containerName: "registry",
    image: "docker.io/library/registry:3.1.2",
    configDir: "/etc/private-registry",
    mounts: { htpasswd: "/etc/distribution/htpasswd" },
    env: REGISTRY_CONTAINER_ENV,
};

describe("the containers' memory limits", () => {
    it("reads Go's memory limit syntax (runtime/debug), and refuses what Go would not take", () => {
        assert.equal(goMemoryLimitBytes("150MiB"), 150 * MIB);
        assert.equal(goMemoryLimitBytes("1GiB"), 1024 * MIB);
        assert.equal(goMemoryLimitBytes("4096"), 4096);
        assert.equal(goMemoryLimitBytes("512KiB"), 512 * 1024);
        assert.equal(goMemoryLimitBytes("off"), undefined);
        assert.equal(goMemoryLimitBytes(undefined), undefined);
        // Go's suffixes are binary only: "MB" is not one.
        assert.throws(() => goMemoryLimitBytes("150MB"), /GOMEMLIMIT must be/);
    });

    it("keeps the registry's GOMEMLIMIT below its container's limit, and refuses one at or above it", () => {
        const soft = goMemoryLimitBytes(REGISTRY_CONTAINER_ENV.GOMEMLIMIT);
        assert.ok(soft !== undefined && soft < REGISTRY_MEMORY_LIMIT_BYTES, `${REGISTRY_CONTAINER_ENV.GOMEMLIMIT} < ${REGISTRY_MEMORY_LIMIT_BYTES}`);
        assert.match(renderRunRegistryScript(registryInput), new RegExp(`--memory ${REGISTRY_MEMORY_LIMIT_BYTES} --memory-swap ${REGISTRY_MEMORY_LIMIT_BYTES} `));
        const atLimit = { ...registryInput, env: { ...REGISTRY_CONTAINER_ENV, GOMEMLIMIT: `${REGISTRY_MEMORY_LIMIT_BYTES / MIB}MiB` } };
        assert.throws(() => renderRunRegistryScript(atLimit), /must be below its container's memory limit/);
    });

    it("gives the front a limit of its own, with no swap besides", () => {
        const script = renderRunFrontScript({ containerName: "registry-front", image: "caddy:2.11.9", configDir: "/etc/f", configMount: "/etc/caddy", dataDir: "/var/lib/f", logDir: "/var/log/f" });
        assert.match(script, new RegExp(`--memory ${FRONT_MEMORY_LIMIT_BYTES} --memory-swap ${FRONT_MEMORY_LIMIT_BYTES} `));
    });

    it("leaves the default droplet's host its share: both limits together within 1 GiB less the host's", () => {
        // s-1vcpu-1gb: the kernel keeps about 100 MiB of the 1 GiB; bench/twin/memory.ts measured
        // the host's processes (dockerd, containerd, fail2ban, systemd, sshd) at about 180 MiB
        // idle and 250 MiB during the weekly job, whose garbage collection runs beside both.
        const host = 100 * MIB + 250 * MIB;
        assert.ok(REGISTRY_MEMORY_LIMIT_BYTES + FRONT_MEMORY_LIMIT_BYTES <= 1024 * MIB - host, `${(REGISTRY_MEMORY_LIMIT_BYTES + FRONT_MEMORY_LIMIT_BYTES) / MIB} MiB`);
    });
});

const caddy = join(__dirname, "..", "..", ".cache", "bin", "caddy");
const skip = !existsSync(caddy) && process.env.CI === undefined ? "caddy is not built: run `bash scripts/install-rehearsal-tools.sh`" : false;
const dir = mkdtempSync(join(tmpdir(), "memory-limit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the bound on manifest requests in flight to the registry", { skip }, () => {
    it("is on the manifests' reverse_proxy alone, with an upstream of its own, as Caddy adapts it", () => {
        const hash = renderFrontPasswordHash({ password: "a".repeat(32), salt: "b".repeat(22) });
        const caddyfile = renderFrontConfig({
            listen: ":443",
            tls: { kind: "files", hostname: "203.0.113.7", certificate: "/etc/caddy/tls.crt", key: "/etc/caddy/tls.key" },
            users: [{ name: "ci", role: "push", passwordHash: hash }],
            realm: "private-registry",
            upstream: "127.0.0.1:5002",
            upstreamAuthorization: "Basic ZnJvbnQ6dGVzdA==",
            accessLogFile: "/var/log/front-access.log",
            refusedLogFile: "/var/log/front-refused.log",
            adminSocket: "/data/admin.sock",
        });
        const file = join(dir, "Caddyfile");
        writeFileSync(file, caddyfile);
        const result = spawnSync(caddy, ["adapt", "--config", file, "--adapter", "caddyfile"], { encoding: "utf8", env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir } });
        assert.equal(result.status, 0, result.stderr);
        const proxies: { upstreams?: { dial?: string }[]; health_checks?: { passive?: { unhealthy_request_count?: number } }; load_balancing?: { try_duration?: number } }[] = [];
        JSON.stringify(JSON.parse(result.stdout), (_key, value: unknown) => {
            if (value !== null && typeof value === "object" && (value as { handler?: string }).handler === "reverse_proxy") {
                proxies.push(value as (typeof proxies)[number]);
            }
            return value;
        });
        // reverseproxy.go Provision copies the count into each upstream's MaxRequests; the
        // durations are nanoseconds in Caddy's JSON.
        const seconds = (ns: number | undefined) => (ns ?? 0) / 1e9;
        const bounds = proxies.map((proxy) => [proxy.upstreams?.map((upstream) => upstream.dial).join(","), proxy.health_checks?.passive?.unhealthy_request_count ?? "none", seconds(proxy.load_balancing?.try_duration)]);
        assert.deepEqual(
            bounds.sort(),
            [
                ["127.0.0.1:5002", "none", FRONT_UPSTREAM_WAIT_SECONDS],
                ["127.0.0.1:5002", "none", FRONT_UPSTREAM_WAIT_SECONDS],
                ["[::ffff:127.0.0.1]:5002", FRONT_MANIFEST_REQUESTS_MAX, FRONT_TIMEOUTS.readBodyIdleSeconds - 5],
                ["[::ffff:127.0.0.1]:5002", FRONT_MANIFEST_REQUESTS_MAX, FRONT_UPSTREAM_WAIT_SECONDS],
                ["[::ffff:7f00:1]:5002", FRONT_UPLOAD_REQUESTS_DEFAULT, FRONT_TIMEOUTS.readBodyIdleSeconds - 5],
                ["[::ffff:7f00:1]:5002", FRONT_UPLOAD_REQUESTS_DEFAULT, FRONT_TIMEOUTS.readBodyIdleSeconds - 5],
                ["unix//data/upload-starts-0.sock", "none", 0],
            ],
            "the anonymous `/`, the manifest PUTs, the other manifest requests, the uploads, the upload starts the inner site passes on (in the uploads' count), the push user's counted starts and the rest of the logged-in route",
        );
    });
});
