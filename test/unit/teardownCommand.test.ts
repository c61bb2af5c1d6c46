import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { describe, it } from "node:test";
import { utils } from "ssh2";
import { TEARDOWN_COMMAND } from "../../components/registryService";

/** A loopback port with nothing listening on it: what a destroyed droplet looks like. */
async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

describe("the destroy-time command", () => {
    it("names the script by an absolute path that exists", () => {
        const path = /^node '(.*)'$/.exec(TEARDOWN_COMMAND)?.[1];
        assert.ok(path !== undefined && isAbsolute(path) && existsSync(path), TEARDOWN_COMMAND);
    });

    it("runs from another project's directory, as `pulumi destroy` there would run it", async () => {
        const elsewhere = mkdtempSync(join(tmpdir(), "consumer-project-"));
        const deployKey = utils.generateKeyPairSync("ed25519");
        const hostKey = utils.generateKeyPairSync("ed25519");
        const result = spawnSync("sh", ["-c", TEARDOWN_COMMAND], {
            cwd: elsewhere,
            encoding: "utf8",
            timeout: 60_000,
            env: {
                PATH: process.env.PATH,
                REGISTRY_SSH_HOST: "127.0.0.1",
                REGISTRY_SSH_PORT: String(await closedPort()),
                REGISTRY_SSH_PRIVATE_KEY: deployKey.private,
                REGISTRY_SSH_HOST_KEY: hostKey.public,
                REGISTRY_STOP_SCRIPT: "true",
                REGISTRY_SSH_ATTEMPTS: "1",
            },
        });
        // Exit 0: the host is gone, so there is nothing to remove. A path relative to the
        // working directory would fail here with "Cannot find module".
        assert.equal(result.status, 0, result.stderr);
        assert.doesNotMatch(result.stderr, /Cannot find module/);
    });
});
