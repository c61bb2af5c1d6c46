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
 * An ed25519 key pair that ssh2 can read back. ssh2 1.17.0's keygen strips leading zero bytes
 * from the public key, so about one pair in 256 fails its own parseKey ("Malformed OpenSSH
 * private key"): mscdex/ssh2 issues #1390 and #1513. The program's keys come from @pulumi/tls.
 */
function parsableKeyPair(): { private: string; public: string } {
    for (;;) {
        const pair = utils.generateKeyPairSync("ed25519");
        if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) {
            return pair;
        }
    }
}

/**
 * Runs the destroy-time command as `pulumi destroy` would, from `cwd`, against a host that is
 * gone: it must find its script and finish with nothing to remove.
 */
export async function teardownAgainstVanishedHost(command: string, cwd: string): Promise<SpawnSyncReturns<string>> {
    const deployKey = parsableKeyPair();
    const hostKey = parsableKeyPair();
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
