/**
 * The one-line-per-step report. Each line is either `ok   STEP: DETAIL` or `FAIL STEP: REASON`
 * (`ok` padded so the step names line up in a CI log), squeezed onto one line and cut to a
 * readable length, with every secret replaced: server error bodies are quoted in reasons, and a
 * registry could echo anything back.
 */

export const STEPS = ["outputs", "tls", "auth", "storage", "push", "pull", "roles", "delete"] as const;
export type StepName = (typeof STEPS)[number];

export interface StepResult {
    step: StepName;
    ok: boolean;
    detail: string;
    /** What the step cost, e.g. `3 requests, 40 ms`: kept when a long detail is cut. */
    cost?: string;
}

/** Long enough for a registry error and its S3 cause, short enough to read in a log. */
export const MAX_DETAIL_CHARS = 400;

export function redact(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const secret of secrets) {
        if (secret.length > 0) {
            out = out.split(secret).join("***");
        }
    }
    return out;
}

export function formatStepLine(result: StepResult, secrets: readonly string[] = []): string {
    // Redact before cutting: a cut through a secret would leave a prefix no longer matching it.
    let detail = redact(result.detail, secrets).replace(/\s+/g, " ").trim();
    if (detail.length > MAX_DETAIL_CHARS) {
        detail = `${detail.slice(0, MAX_DETAIL_CHARS - 1)}…`;
    }
    const cost = result.cost === undefined ? "" : ` (${result.cost})`;
    return `${result.ok ? "ok  " : "FAIL"} ${result.step}: ${detail}${cost}`;
}

/** Parses a line back (for tests and wrappers); undefined for anything that is not a step line. */
export function parseStepLine(line: string): StepResult | undefined {
    const match = /^(ok {3}|FAIL )([a-z]+): (.*)$/.exec(line);
    if (match === null || !(STEPS as readonly string[]).includes(match[2])) {
        return undefined;
    }
    // The cost, when present, stays part of the detail: a detail may itself end in parentheses.
    return { ok: match[1] === "ok   ", step: match[2] as StepName, detail: match[3] };
}
