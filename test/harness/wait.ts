/** Polling helpers with failure messages that say what was awaited and what was last seen. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
    /** What is awaited, for the error message ("registry /v2/ to answer 401"). */
    description: string;
    timeoutMs: number;
    intervalMs?: number;
    /** Called on every attempt; throw to abort early (e.g. the process died). */
    abortIf?: () => string | undefined;
}

/**
 * Calls `probe` until it returns `{ done: true }` or the timeout passes. `probe` reports what it
 * saw (`seen`), which the timeout error includes.
 */
export async function waitUntil<T>(
    probe: () => Promise<{ done: true; value: T } | { done: false; seen: string }>,
    options: WaitOptions,
): Promise<T> {
    const deadline = Date.now() + options.timeoutMs;
    let lastSeen = "nothing yet";
    for (;;) {
        const abort = options.abortIf?.();
        if (abort !== undefined) {
            throw new Error(`gave up waiting for ${options.description}: ${abort} (last seen: ${lastSeen})`);
        }
        try {
            const result = await probe();
            if (result.done) {
                return result.value;
            }
            lastSeen = result.seen;
        } catch (error) {
            lastSeen = error instanceof Error ? error.message : String(error);
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.description} (last seen: ${lastSeen})`);
        }
        await sleep(options.intervalMs ?? 200);
    }
}
