import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { CADDY_IMAGE, registryImageReference, REGISTRY_VERSION } from "../../components/versions";
import { caddyBinary } from "./front";
import { ensureFrontImage, ensureRegistryImage, removeContainer, removeContainerSync, writeDockerShim, type DockerShim } from "./podman";
import { freePorts } from "./ports";
import type { ProcessTracker } from "./processes";
import { SshServer } from "./sshd";
import { cachedBinary } from "./tools";

/**
 * The droplet's host as the SSH tests drive it: a real sshd on 127.0.0.1 whose remote PATH
 * puts the `docker` -> podman shim first, the pinned registry and front images pre-loaded from
 * the locally built binaries (so the start script pulls nothing), container names of this run's
 * own, and free loopback ports for the registry, its debug server and the front. Everything is
 * registered with the tracker: on dispose the containers go first, then the images (LIFO), and
 * removing an image also removes any container a killed script left behind.
 */
export interface PodmanHost {
    ssh: SshServer;
    shim: DockerShim;
    /** PATH of the remote commands: the shim's directory first, then a Debian login's usual ones. */
    remotePath: string;
    /** The registry image's name, as the program pins it. */
    image: string;
    containerName: string;
    frontContainerName: string;
    /** The registry's loopback port, its debug server's and the front's, as {@link HostSwaps} takes them. */
    ports: { port: number; debugPort: number; frontPort: number };
}

export interface PodmanHostOptions {
    /** Directory for the images' build contexts, the shim and sshd (created). */
    dir: string;
    /** Prefix of the container names; a random suffix keeps runs apart. */
    namePrefix: string;
    /** Passed to the shim: a file whose line count each `docker` call records (e.g. the S3 access log). */
    marks?: string;
}

export async function startPodmanHost(tracker: ProcessTracker, options: PodmanHostOptions): Promise<PodmanHost> {
    const containerName = `${options.namePrefix}-${randomBytes(4).toString("hex")}`;
    const frontContainerName = `${containerName}-front`;
    const registryImage = await ensureRegistryImage(tracker, { image: registryImageReference(REGISTRY_VERSION), binary: cachedBinary("registry"), workDir: options.dir });
    tracker.addCleanup("rehearsal registry image", registryImage.cleanup, registryImage.cleanupSync);
    const frontImage = await ensureFrontImage(tracker, { image: CADDY_IMAGE, binary: caddyBinary(), workDir: options.dir });
    tracker.addCleanup("rehearsal front image", frontImage.cleanup, frontImage.cleanupSync);
    for (const name of [containerName, frontContainerName]) {
        tracker.addCleanup(`container ${name}`, () => removeContainer(tracker, name), () => removeContainerSync(name));
    }
    const shim = writeDockerShim(path.join(options.dir, "shim"), { marks: options.marks });
    const remotePath = `${shim.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
    const ssh = await SshServer.start(tracker, { dir: path.join(options.dir, "ssh"), remotePath });
    const [port, debugPort, frontPort] = await freePorts(3);
    const ports = { port, debugPort, frontPort };
    return { ssh, shim, remotePath, image: registryImage.image, containerName, frontContainerName, ports };
}
