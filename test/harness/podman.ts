import * as fs from "node:fs";
import * as path from "node:path";
import { REGISTRY_CONFIG_PATH } from "../../components/render/registryConfig";
import type { ProcessTracker } from "./processes";
import { runSyncQuietly } from "./processes";
import { digestOfFile } from "./oci";
import { systemBinary } from "./tools";

/**
 * Podman standing in for the droplet's Docker engine.
 *
 * - {@link writeDockerShim} writes a `docker` executable (into a test's temp dir only) that runs
 *   podman the way it works on this machine: `--runtime runc` and explicit nofile/nproc ulimits
 *   (crun and the default limits fail here), and for `run`/`create` slirp4netns networking with
 *   `allow_host_loopback`, so the container reaches the host's 127.0.0.1 (where the S3 server
 *   listens) as 10.0.2.2 while `-p 127.0.0.1:H:C` publishing works as with Docker.
 * - {@link ensureRegistryImage} pre-loads the locally built static registry binary as a
 *   FROM-scratch image under the pinned image name, so the start script finds it and pulls nothing.
 */

/** The address of the host's loopback as seen from a container on the shim's network. */
export const CONTAINER_HOST_LOOPBACK = "10.0.2.2";

/** Label recording which registry binary an image was built from. */
export const IMAGE_BINARY_LABEL = "org.example.rehearsal.binary-sha256";

export interface DockerShim {
    /** Directory to put first on PATH. */
    binDir: string;
    /** Every `docker` invocation, one line each (argv joined by spaces). */
    callLog: string;
    /** The invocations so far. */
    calls(): string[];
}

export function writeDockerShim(dir: string): DockerShim {
    const binDir = path.join(dir, "bin");
    const callLog = path.join(dir, "docker-calls.log");
    fs.mkdirSync(binDir, { recursive: true });
    const podman = systemBinary("podman");
    const script = `#!/bin/sh
# docker -> podman, for the registry rehearsal only (test/harness/podman.ts).
printf '%s\\n' "$*" >> '${callLog}'
limits="--ulimit nofile=20000:20000 --ulimit nproc=4096:4096"
case "\${1:-}" in
  run|create)
    sub=$1
    shift
    # shellcheck disable=SC2086
    exec '${podman}' --runtime runc "$sub" --network slirp4netns:allow_host_loopback=true $limits "$@"
    ;;
esac
exec '${podman}' --runtime runc "$@"
`;
    fs.writeFileSync(path.join(binDir, "docker"), script, { mode: 0o755 });
    fs.writeFileSync(callLog, "");
    return {
        binDir,
        callLog,
        calls: () => fs.readFileSync(callLog, "utf8").split("\n").filter((l) => l !== ""),
    };
}

/**
 * Builds `image` (e.g. docker.io/library/registry:3.1.2) from the static registry binary unless
 * an image built from the same binary is already there. The image runs
 * `registry serve /etc/distribution/config.yml`, like the official one. If a different image
 * (a real pulled one) carried the name, its tag is restored by `cleanup()`.
 */
export async function ensureRegistryImage(
    tracker: ProcessTracker,
    options: { image: string; binary: string; workDir: string },
): Promise<{ image: string; built: boolean; cleanup: () => Promise<void>; cleanupSync: () => void }> {
    const podman = systemBinary("podman");
    const sha = digestOfFile(options.binary).replace("sha256:", "");
    const inspect = await tracker.run(podman, ["image", "inspect", "--format", `{{.Id}} {{index .Labels "${IMAGE_BINARY_LABEL}"}}`, options.image]);
    const [existingId, existingSha] = inspect.code === 0 ? inspect.stdout.trim().split(" ") : [undefined, undefined];
    const foreignId = existingId !== undefined && existingSha !== sha && (existingSha ?? "").length !== 64 ? existingId : undefined;

    let built = false;
    if (existingSha !== sha) {
        const context = path.join(options.workDir, "image-context");
        fs.mkdirSync(context, { recursive: true });
        fs.copyFileSync(options.binary, path.join(context, "registry"));
        fs.chmodSync(path.join(context, "registry"), 0o755);
        fs.writeFileSync(
            path.join(context, "Containerfile"),
            [
                "FROM scratch",
                "COPY registry /bin/registry",
                "ENV OTEL_TRACES_EXPORTER=none",
                "EXPOSE 5000",
                `LABEL ${IMAGE_BINARY_LABEL}=${sha}`,
                'ENTRYPOINT ["/bin/registry"]',
                `CMD ["serve", "${REGISTRY_CONFIG_PATH}"]`,
                "",
            ].join("\n"),
        );
        await tracker.runChecked(podman, ["--runtime", "runc", "build", "--quiet", "-t", options.image, "-f", path.join(context, "Containerfile"), context], {
            timeoutMs: 120_000,
        });
        built = true;
    }
    // Leave no rehearsal image under the official name, and give a shadowed real image its tag back.
    const cleanupSteps = [["rmi", "-f", options.image], ...(foreignId !== undefined ? [["tag", foreignId, options.image]] : [])];
    return {
        image: options.image,
        built,
        cleanup: async () => {
            for (const step of cleanupSteps) {
                await tracker.run(podman, step);
            }
        },
        cleanupSync: () => cleanupSteps.forEach((step) => runSyncQuietly(podman, step)),
    };
}

/** Removes a container by name, ignoring "no such container". */
export async function removeContainer(tracker: ProcessTracker, name: string): Promise<void> {
    await tracker.run(systemBinary("podman"), ["--runtime", "runc", "rm", "-f", "-t", "0", name]);
}

/** Synchronous variant for exit handlers. */
export function removeContainerSync(name: string): void {
    runSyncQuietly(systemBinary("podman"), ["--runtime", "runc", "rm", "-f", "-t", "0", name]);
}
