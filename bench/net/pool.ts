/**
 * How many layers a push uploads at once, and the pool that keeps that many in flight. Real
 * clients push an image's layers in parallel, so a push measured one layer at a time shows the
 * round trips' worst case, not what users see:
 *
 * - docker: moby's daemon/config/config.go, `DefaultMaxConcurrentUploads = 5` ("maximum number of
 *   uploads that may take place at a time"), the default of dockerd's `max-concurrent-uploads`.
 * - containerd: client.go's Push makes a limiter only `if pushCtx.MaxConcurrentUploadedLayers > 0`;
 *   otherwise every layer is pushed at once (ctr's `--max-concurrent-uploaded-layers` defaults to 0).
 * - skopeo (containers/image copy/copy.go): `maxParallelDownloads = uint(6)` bounds the blobs
 *   copied at once whenever the destination can take blobs in parallel, as a registry can.
 */

/** What the bench measures (b) at: one at a time (the round trips' worst case), 3, and docker's 5. */
export const PUSH_CONCURRENCIES = [1, 3, 5] as const;
export type PushConcurrency = (typeof PUSH_CONCURRENCIES)[number];

/**
 * Runs `work` on every item with at most `limit` in flight, starting them in order; resolves when
 * all have finished, rejects with the first failure (after the ones in flight have settled, so
 * nothing keeps writing after the caller moved on).
 */
export async function inPool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
    if (!Number.isInteger(limit) || limit < 1) {
        throw new Error(`a pool needs a whole number of at least 1 in flight; got ${limit}`);
    }
    let next = 0;
    let failure: { error: unknown } | undefined;
    const lane = async (): Promise<void> => {
        while (failure === undefined && next < items.length) {
            const index = next++;
            try {
                await work(items[index], index);
            } catch (error) {
                failure ??= { error };
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
    if (failure !== undefined) {
        throw failure.error;
    }
}
