import { randomBytes } from "node:crypto";
import { generateTinyImage, type TinyImage } from "./image";
import { secretsOf, type LiveCheckTarget } from "./outputs";
import { RegistryClient } from "./registryClient";
import { formatStepLine, type StepName, type StepResult } from "./report";
import { deleteStep, pullStep, pushStep, rolesStep, type Pushed } from "./imageSteps";
import { authStep, storageStep, tlsStep } from "./serverSteps";

/**
 * The step runner: tls, auth, storage, push, pull, roles (with pull users), delete, in that
 * order, one line each as it finishes. A failed tls, auth or storage step ends the run (nothing after it can work); a failed
 * pull still lets delete run, so a broken pull does not leave the image behind.
 */

export interface LiveCheckOptions {
    /** Fail the TLS step when the certificate expires in fewer days. */
    minDays: number;
    /** Per request and per handshake. */
    timeoutMs: number;
    /** Scratch repository; default `live-check/<random>` so concurrent runs never share one. */
    repository?: string;
    tag?: string;
}

/** What a step returns: its verdict and one-line detail (the runner adds the cost). */
export interface StepOutcome {
    ok: boolean;
    detail: string;
}

export interface StepContext {
    target: LiveCheckTarget;
    options: LiveCheckOptions;
    client: RegistryClient;
    repository: string;
    tag: string;
    image: TinyImage;
}

export interface LiveCheckRun {
    ok: boolean;
    results: StepResult[];
    /** HTTP requests sent in all (registry and redirect targets); the TLS probe is not one. */
    requests: number;
    durationMs: number;
}

export const DEFAULT_MIN_DAYS = 14;
export const DEFAULT_TIMEOUT_MS = 30_000;

export async function runLiveCheck(target: LiveCheckTarget, options: LiveCheckOptions, print: (line: string) => void): Promise<LiveCheckRun> {
    const started = Date.now();
    const client = new RegistryClient({ baseUrl: target.registryUrl, username: target.username, password: target.password, ca: target.caCertificate, timeoutMs: options.timeoutMs });
    const context: StepContext = {
        target,
        options,
        client,
        repository: options.repository ?? `live-check/${randomBytes(6).toString("hex")}`,
        tag: options.tag ?? "probe",
        image: generateTinyImage(),
    };
    const secrets = secretsOf(target);
    const results: StepResult[] = [];
    // The pull users' own clients, so their requests count too.
    const userClients: RegistryClient[] = [];
    const requestCount = () => userClients.reduce((sum, c) => sum + c.requestCount, client.requestCount);
    const step = async (name: StepName, run: () => Promise<StepOutcome>): Promise<boolean> => {
        const requestsBefore = requestCount();
        const stepStarted = Date.now();
        let outcome: StepOutcome;
        try {
            outcome = await run();
        } catch (error) {
            outcome = { ok: false, detail: explainError(error, target) };
        }
        const requests = requestCount() - requestsBefore;
        // The TLS probe is a bare handshake (none in tunnel mode), not an HTTP request.
        const what = name === "tls" ? (target.tunnel ? undefined : "1 handshake") : `${requests} request${requests === 1 ? "" : "s"}`;
        const result: StepResult = { step: name, ok: outcome.ok, detail: outcome.detail, cost: what === undefined ? undefined : `${what}, ${Date.now() - stepStarted} ms` };
        results.push(result);
        print(formatStepLine(result, secrets));
        return outcome.ok;
    };
    try {
        const reachable = (await step("tls", () => tlsStep(context))) && (await step("auth", () => authStep(context))) && (await step("storage", () => storageStep(context)));
        if (reachable) {
            const pushed: Pushed = { blobs: [] };
            const pushOk = await step("push", () => pushStep(context, pushed));
            if (pushOk) {
                await step("pull", () => pullStep(context));
                if (target.pullUsers.length > 0) {
                    const clientFor = (login: { username: string; password: string }) => {
                        const userClient = new RegistryClient({ baseUrl: target.registryUrl, ...login, ca: target.caCertificate, timeoutMs: options.timeoutMs });
                        userClients.push(userClient);
                        return userClient;
                    };
                    await step("roles", () => rolesStep(context, clientFor));
                }
            }
            // Whatever pull found, take away what push left (a failed push may have left blobs).
            if (pushed.manifestDigest !== undefined || pushed.blobs.length > 0) {
                await step("delete", () => deleteStep(context, pushed));
            }
        }
    } finally {
        client.close();
    }
    return { ok: results.every((r) => r.ok), results, requests: requestCount(), durationMs: Date.now() - started };
}

/** A thrown error as a reason: Node's code (ECONNREFUSED, CERT_HAS_EXPIRED, ...) and message, with a hint where one helps. */
export function explainError(error: unknown, target: Pick<LiveCheckTarget, "tunnel">): string {
    const e = error as NodeJS.ErrnoException;
    const message = e instanceof Error ? e.message : String(error);
    const code = typeof e?.code === "string" && !message.includes(e.code) ? `${e.code}: ` : "";
    const refused = /ECONNREFUSED/.test(`${e?.code ?? ""} ${message}`);
    const hint = refused && target.tunnel ? " (is the SSH tunnel open? run the sshTunnelCommand output first)" : "";
    return `${code}${message}${hint}`;
}
