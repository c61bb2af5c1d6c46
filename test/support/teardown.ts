import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { createServer } from "node:net";
import { utils } from "ssh2";

/** A loopback port with nothing listening on it: what a destroyed droplet looks like. */
export async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

/**
 * Runs the destroy-time command as `pulumi destroy` would, from `cwd`, against a host that is
 * gone: it must find its script and finish with nothing to remove.
 */
export async function teardownAgainstVanishedHost(command: string, cwd: string): Promise<SpawnSyncReturns<string>> {
    const deployKey = utils.generateKeyPairSync("ed25519");
    const hostKey = utils.generateKeyPairSync("ed25519");
    return spawnSync("sh", ["-c", command], {
        cwd,
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
}
