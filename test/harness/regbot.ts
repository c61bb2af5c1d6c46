import * as fs from "node:fs";
import * as path from "node:path";
import { runSyncQuietly, type ProcessTracker, type RunResult } from "./processes";
import { digestOfFile } from "./oci";
import { CACHE_BIN, systemBinary } from "./tools";

/**
 * regclient's regbot as the rehearsal runs it: the binary the install script builds at the
 * pinned version (REGCLIENT_VERSION), its script messages, the registry requests it made (from
 * the registry's access log), and a FROM-scratch image of the same binary for podman.
 */

export function regbotBinary(): string {
    const file = path.join(CACHE_BIN, "regbot");
    if (!fs.existsSync(file)) {
        throw new Error(`${file} is missing: run scripts/install-rehearsal-tools.sh first`);
    }
    return file;
}

export interface RegbotRun extends RunResult {
    /** What the script logged with `log()`, in order. */
    messages: string[];
}

/** The `message` values of regbot's "User script message" lines (slog text, Go-quoted). */
export function scriptMessages(stderr: string): string[] {
    const messages: string[] = [];
    for (const line of stderr.split("\n")) {
        const match = /msg="User script message" .*?\bmessage=("(?:[^"\\]|\\.)*"|\S+)/.exec(line);
        if (match !== null) {
            messages.push(match[1].startsWith('"') ? (JSON.parse(match[1]) as string) : match[1]);
        }
    }
    return messages;
}

/** Runs `command args` (the regbot binary, or podman with the rendered docker arguments) and collects the script's messages. */
export async function runRegbot(tracker: ProcessTracker, command: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<RegbotRun> {
    const result = await tracker.run(command, args, { timeoutMs: options.timeoutMs ?? 120_000 });
    return { ...result, messages: scriptMessages(result.stderr) };
}

export interface AccessLogRequest {
    method: string;
    path: string;
    status: number;
    userAgent: string;
}

/** Requests in the registry's access log (combined log format lines), optionally by user agent. */
export function accessLogRequests(log: string, userAgent?: RegExp): AccessLogRequest[] {
    const requests: AccessLogRequest[] = [];
    for (const line of log.split("\n")) {
        const match = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"$/.exec(line);
        if (match !== null && (userAgent === undefined || userAgent.test(match[4]))) {
            requests.push({ method: match[1], path: match[2], status: Number(match[3]), userAgent: match[4] });
        }
    }
    return requests;
}

/** regbot's image settings as Dockerfile instructions: uid 1000 and `/regbot` as entrypoint, like regclient's scratch image. */
export const REGBOT_IMAGE_INSTRUCTIONS = ["USER 1000:1000", 'ENTRYPOINT ["/regbot"]'];

/**
 * A FROM-scratch image of the static regbot binary, laid out like the official scratch image
 * (`/regbot` as entrypoint, uid 1000), under `image` (a local name, or the pinned REGBOT_IMAGE
 * so that the rendered docker arguments find it). `cleanup()` removes it and gives a real image
 * it shadowed its name back.
 */
export async function buildRegbotImage(
    tracker: ProcessTracker,
    options: { image: string; workDir: string },
): Promise<{ image: string; cleanup: () => Promise<void>; cleanupSync: () => void }> {
    const podman = systemBinary("podman");
    const context = path.join(options.workDir, "regbot-image");
    fs.mkdirSync(context, { recursive: true });
    fs.copyFileSync(regbotBinary(), path.join(context, "regbot"));
    fs.chmodSync(path.join(context, "regbot"), 0o755);
    const sha = digestOfFile(path.join(context, "regbot")).replace("sha256:", "");
    const label = "org.example.rehearsal.binary-sha256";
    const inspect = await tracker.run(podman, ["image", "inspect", "--format", `{{.Id}} {{index .Labels "${label}"}}`, options.image]);
    const [existingId, existingSha] = inspect.code === 0 ? inspect.stdout.trim().split(" ") : [undefined, undefined];
    const foreignId = existingId !== undefined && (existingSha ?? "").length !== 64 ? existingId : undefined;
    fs.writeFileSync(
        path.join(context, "Containerfile"),
        ["FROM scratch", "COPY regbot /regbot", `LABEL ${label}=${sha}`, ...REGBOT_IMAGE_INSTRUCTIONS, ""].join("\n"),
    );
    await tracker.runChecked(podman, ["--runtime", "runc", "build", "--quiet", "-t", options.image, "-f", path.join(context, "Containerfile"), context], { timeoutMs: 120_000 });
    const steps = [["rmi", "-f", options.image], ...(foreignId !== undefined ? [["tag", foreignId, options.image]] : [])];
    return {
        image: options.image,
        cleanup: async () => {
            for (const step of steps) {
                await tracker.run(podman, step);
            }
        },
        cleanupSync: () => steps.forEach((step) => runSyncQuietly(podman, step)),
    };
}
