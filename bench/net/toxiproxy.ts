import * as fs from "node:fs";
import * as path from "node:path";
import type { ProcessTracker } from "../../test/harness/processes";
import { freePort } from "../../test/harness/ports";
import { CACHE_BIN } from "../../test/harness/tools";
import { waitUntil } from "../../test/harness/wait";
import type { Role } from "./profiles";
import type { NetworkRig, RigLink } from "./rig";
import { toxicArgs } from "./shaping";

/**
 * The rig's delay: one toxiproxy server in each namespace that serves over a link (droplet,
 * s3), its API on that namespace's own loopback, driven with toxiproxy-cli run inside it.
 */

const API = "http://127.0.0.1:8474";

export function toxiproxyBinary(name: "toxiproxy-server" | "toxiproxy-cli"): string {
    const file = path.join(CACHE_BIN, name);
    if (!fs.existsSync(file)) {
        throw new Error(`${file} is missing: run scripts/install-rehearsal-tools.sh first`);
    }
    return file;
}

/**
 * One toxiproxy on this machine's loopback in front of `upstreamPort`, adding `rttMs` of round
 * trip: the droplet-S3 link for a bench that runs the registry alone. Returns the port to dial.
 */
export async function startLoopbackDelay(tracker: ProcessTracker, options: { name: string; upstreamPort: number; rttMs: number; logFile: string }): Promise<number> {
    const [apiPort, proxyPort] = [await freePort(), await freePort()];
    const api = `http://127.0.0.1:${apiPort}`;
    const cli = (args: string[]) => tracker.runChecked(toxiproxyBinary("toxiproxy-cli"), ["--host", api, ...args], { timeoutMs: 15_000 });
    const server = tracker.start("toxiproxy", toxiproxyBinary("toxiproxy-server"), ["-host", "127.0.0.1", "-port", String(apiPort)], { logFile: options.logFile });
    await waitUntil(async () => (await cli(["list"]), { done: true, value: undefined }), { description: "toxiproxy's API", timeoutMs: 15_000, abortIf: () => (server.running ? undefined : server.logTail()) });
    await cli(["create", "--listen", `127.0.0.1:${proxyPort}`, "--upstream", `127.0.0.1:${options.upstreamPort}`, options.name]);
    for (const args of toxicArgs(api, options.name, options.rttMs)) {
        await tracker.runChecked(toxiproxyBinary("toxiproxy-cli"), args, { timeoutMs: 15_000 });
    }
    return proxyPort;
}

export class ToxiproxyServers {
    constructor(
        private readonly rig: NetworkRig,
        private readonly tracker: ProcessTracker,
    ) {}

    private servingRoles(): Role[] {
        return [...new Set(Object.values(this.rig.layout.links).map((l) => l.to))];
    }

    private cli(role: Role, args: string[]) {
        return this.rig.run(role, toxiproxyBinary("toxiproxy-cli"), ["--host", API, ...args], { timeoutMs: 15_000 });
    }

    /** Starts a server in each serving namespace and waits until its API answers. */
    async start(): Promise<void> {
        for (const role of this.servingRoles()) {
            const [head, ...rest] = this.rig.prefix(role);
            const logFile = this.rig.logFile(`toxiproxy-${role}.log`);
            const proc = this.tracker.start(`toxiproxy-${role}`, head, [...rest, toxiproxyBinary("toxiproxy-server"), "-host", "127.0.0.1", "-port", "8474"], { logFile });
            await waitUntil(
                async () => {
                    await this.cli(role, ["list"]);
                    return { done: true, value: undefined };
                },
                { description: `toxiproxy's API in ${role}`, timeoutMs: 15_000, abortIf: () => (proc.running ? undefined : `toxiproxy exited:\n${proc.logTail()}`) },
            );
        }
    }

    /** A proxy for `port` on `link`: listens on the link's proxy address, forwards to the service, delays both ways. */
    async addProxy(link: RigLink, port: number): Promise<void> {
        const name = `${link.name}-${port}`;
        const upstream = `${this.rig.address(link.to)}:${port}`;
        await this.cli(link.to, ["create", "--listen", `${link.proxyAddress}:${port}`, "--upstream", upstream, name]);
        for (const args of toxicArgs(API, name, this.rig.profile.links[link.name].rttMs.value)) {
            await this.rig.run(link.to, toxiproxyBinary("toxiproxy-cli"), args, { timeoutMs: 15_000 });
        }
    }
}
