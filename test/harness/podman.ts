import * as fs from "node:fs";
import * as path from "node:path";
import { FRONT_CONFIG_MOUNT } from "../../components/render/deployment";
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
 *   (crun and the default limits fail here). A container that names no network gets the host's,
 *   like the registry and the front that name it: the S3 stand-in listens on the host's
 *   127.0.0.1, which the registry and the garbage collection share one config to reach (on the
 *   droplet the collection's container reaches AWS through Docker's bridge). Like Docker's
 *   client, it passes no open descriptor beyond stdio on to what outlives it.
 * - {@link ensureRegistryImage} and {@link ensureFrontImage} pre-load the locally built static
 *   registry and Caddy binaries as FROM-scratch images under the pinned image names, so the
 *   start script finds them and pulls nothing.
 */

/** Label recording which registry binary an image was built from. */
export const IMAGE_BINARY_LABEL = "org.example.rehearsal.binary-sha256";

export interface DockerShim {
    /** Directory to put first on PATH. */
    binDir: string;
    /** Every `docker` invocation, one line each (argv joined by spaces). */
    callLog: string;
    /** The invocations so far. */
    calls(): string[];
    /** With `marks`: each invocation's time and the marked file's line count then, to split a log by step. */
    marks(): DockerCallMark[];
}

export interface DockerCallMark {
    atMs: number;
    /** Lines the marked file (e.g. the S3 server's access log) had when the call began. */
    lines: number;
    call: string;
}

export function writeDockerShim(dir: string, options: { marks?: string } = {}): DockerShim {
    const binDir = path.join(dir, "bin");
    const callLog = path.join(dir, "docker-calls.log");
    const markLog = path.join(dir, "docker-marks.log");
    const mark = options.marks === undefined ? "" : `printf '%s %s %s\\n' "$(date +%s%3N)" "$(wc -l < '${options.marks}' 2>/dev/null || echo 0)" "$*" >> '${markLog}'\n`;
    fs.mkdirSync(binDir, { recursive: true });
    const podman = systemBinary("podman");
    const script = `#!/bin/sh
# docker -> podman, for the registry rehearsal only (test/harness/podman.ts).
printf '%s\\n' "$*" >> '${callLog}'
${mark}# Docker's CLI is only a client: the containers it starts descend from the daemon and inherit
# none of the caller's descriptors. Podman forks conmon and slirp4netns from the caller, which
# would hold the caller's open files (the maintenance lock, fd 9) for the container's life.
exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
limits="--ulimit nofile=20000:20000 --ulimit nproc=4096:4096"
case "\${1:-}" in
  run|create)
    sub=$1
    shift
    # A container that names its own network keeps it: podman refuses two network modes.
    network="--network host"
    for arg in "$@"; do
      case "$arg" in --network|--network=*|--net|--net=*) network="" ;; esac
    done
    # shellcheck disable=SC2086
    exec '${podman}' --runtime runc "$sub" $network $limits "$@"
    ;;
  rm)
    # Docker's \`rm -f\` kills the container at once (SIGKILL); podman's stops it first, with
    # SIGTERM and a 10 s grace, which would drain the registry where Docker does not.
    shift
    for arg in "$@"; do
      case "$arg" in -f|--force|-f*|-*f) exec '${podman}' --runtime runc rm --time 0 "$@" ;; esac
    done
    exec '${podman}' --runtime runc rm "$@"
    ;;
esac
exec '${podman}' --runtime runc "$@"
`;
    fs.writeFileSync(path.join(binDir, "docker"), script, { mode: 0o755 });
    fs.writeFileSync(callLog, "");
    fs.writeFileSync(markLog, "");
    const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
    return {
        binDir,
        callLog,
        calls: () => lines(callLog),
        marks: () =>
            lines(markLog).map((line) => {
                const [atMs, count, ...call] = line.split(" ");
                return { atMs: Number(atMs), lines: Number(count), call: call.join(" ") };
            }),
    };
}

export interface RehearsalImage {
    image: string;
    built: boolean;
    cleanup: () => Promise<void>;
    cleanupSync: () => void;
}

/**
 * Builds `image` FROM scratch with `binary` at `target` and the given Containerfile lines after
 * the COPY, unless an image built from the same binary is already there. If a different image
 * (a real pulled one) carried the name, its tag is restored by `cleanup()`.
 */
async function ensureBinaryImage(
    tracker: ProcessTracker,
    options: { image: string; binary: string; workDir: string; target: string; lines: string[] },
): Promise<RehearsalImage> {
    const podman = systemBinary("podman");
    const sha = digestOfFile(options.binary).replace("sha256:", "");
    const inspect = await tracker.run(podman, ["image", "inspect", "--format", `{{.Id}} {{index .Labels "${IMAGE_BINARY_LABEL}"}}`, options.image]);
    const [existingId, existingSha] = inspect.code === 0 ? inspect.stdout.trim().split(" ") : [undefined, undefined];
    const foreignId = existingId !== undefined && existingSha !== sha && (existingSha ?? "").length !== 64 ? existingId : undefined;

    let built = false;
    if (existingSha !== sha) {
        const context = path.join(options.workDir, `image-context-${path.basename(options.target)}`);
        fs.mkdirSync(context, { recursive: true });
        fs.copyFileSync(options.binary, path.join(context, "binary"));
        fs.chmodSync(path.join(context, "binary"), 0o755);
        fs.writeFileSync(
            path.join(context, "Containerfile"),
            ["FROM scratch", `COPY binary ${options.target}`, ...options.lines, `LABEL ${IMAGE_BINARY_LABEL}=${sha}`, ""].join("\n"),
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

/** The registry image's settings as Dockerfile instructions (a Containerfile's, or `docker import --change`'s). */
export const REGISTRY_IMAGE_INSTRUCTIONS = ["ENV OTEL_TRACES_EXPORTER=none", "EXPOSE 5000", 'ENTRYPOINT ["/bin/registry"]', `CMD ["serve", "${REGISTRY_CONFIG_PATH}"]`];

/** The front image's settings, as the official image has them (see ensureFrontImage). */
export const FRONT_IMAGE_INSTRUCTIONS = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV HOME=/root",
    "ENV XDG_CONFIG_HOME=/config",
    "ENV XDG_DATA_HOME=/data",
    "EXPOSE 80 443",
    `CMD ["caddy", "run", "--config", "${FRONT_CONFIG_MOUNT}/Caddyfile", "--adapter", "caddyfile"]`,
];

/**
 * The registry's image (e.g. docker.io/library/registry:3.1.2) from the static registry binary:
 * it runs `registry serve /etc/distribution/config.yml`, like the official one.
 */
export function ensureRegistryImage(tracker: ProcessTracker, options: { image: string; binary: string; workDir: string }): Promise<RehearsalImage> {
    return ensureBinaryImage(tracker, {
        ...options,
        target: "/bin/registry",
        lines: REGISTRY_IMAGE_INSTRUCTIONS,
    });
}

/**
 * The front's image (CADDY_IMAGE) from the static Caddy binary, laid out like the official one
 * (caddyserver/caddy-docker `2.11/alpine/Dockerfile`): /usr/bin/caddy, Caddy's data and config
 * under /data and /config (XDG_DATA_HOME, XDG_CONFIG_HOME), and its CMD. PATH lets `docker exec
 * NAME caddy reload` find the binary, as the official image's Alpine PATH does; HOME is root's,
 * which Docker sets from the official image's /etc/passwd (a scratch image has none).
 */
export function ensureFrontImage(tracker: ProcessTracker, options: { image: string; binary: string; workDir: string }): Promise<RehearsalImage> {
    return ensureBinaryImage(tracker, {
        ...options,
        target: "/usr/bin/caddy",
        lines: FRONT_IMAGE_INSTRUCTIONS,
    });
}

/** Removes a container by name, ignoring "no such container". */
export async function removeContainer(tracker: ProcessTracker, name: string): Promise<void> {
    await tracker.run(systemBinary("podman"), ["--runtime", "runc", "rm", "-f", "-t", "0", name]);
}

/** Synchronous variant for exit handlers. */
export function removeContainerSync(name: string): void {
    runSyncQuietly(systemBinary("podman"), ["--runtime", "runc", "rm", "-f", "-t", "0", name]);
}
