/**
 * Abandoned uploads and `_catalog`: what a push user leaves behind by starting uploads it never
 * finishes, and what that does to a catalog listing. The rehearsal's stack (the real front,
 * registry and S3 stand-in, with a proxy recording the registry's S3 requests) on loopback:
 * one image pushed, then `_catalog` timed; then N upload starts (`POST /v2/<name>/blobs/uploads/`)
 * through the front as the push user, C at a time; then `_catalog` timed again, with the S3
 * requests each listing made, and the objects left in the bucket. The front accepts a user's
 * starts up to its budget (uploadStarts.ts, the program's default) and answers the rest 429, so
 * the line of statuses says how many were left behind.
 *
 *   node --import tsx bench/hostile/uploads.ts [--starts 10000] [--concurrency 16]   (npm run setup first)
 *
 * Distribution v3.1.2 lists repositories by walking every object under `repositories/`
 * (registry/storage/catalog.go Repositories; the S3 driver's Walk lists without a delimiter,
 * driver/s3-aws/s3.go doWalk), so each upload's `_uploads/<id>/startedat` object is listed
 * (and skipped) by every `_catalog` call until the upload purge deletes it.
 */
import { performance } from "node:perf_hooks";
import { request } from "../../test/harness/http";
import { buildOciImage } from "../../test/harness/oci";
import { dockerRef, ociRef } from "../../test/harness/skopeo";
import { startStack } from "../../test/harness/stack";
import { makeTempDir } from "../../test/harness/tools";

function flag(name: string, fallback: number): number {
    const at = process.argv.indexOf(name);
    return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

/** Issue 16's goal: after 10,000 upload starts by one user, `_catalog` answers in under 1 s. */
const CATALOG_GOAL_MS = 1000;

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
    const starts = flag("--starts", 10_000);
    const concurrency = flag("--concurrency", 16);
    const log = (line: string) => process.stderr.write(`[uploads] ${line}\n`);
    const stack = await startStack({ name: "bench-uploads", users: [{ name: "ci", role: "push" }, { name: "reader", role: "pull" }], s3Proxy: {} });
    const work = makeTempDir("bench-uploads-image");
    try {
        const ci = stack.users.ci;
        const reader = stack.users.reader;
        const ca = stack.certs.caCertPem;
        const image = await buildOciImage(work.join("source"), { layerSizes: [1000], tag: "v1" });
        const copied = await stack.skopeo.copy(ociRef(image.layoutDir, image.tag), dockerRef(stack.front.host, "team/app", "v1"), { destCreds: ci, destCertDir: stack.certs.certDir });
        if (copied.code !== 0) {
            throw new Error(`the image's push failed: ${copied.stderr}`);
        }
        const proxy = stack.s3Proxy ?? (() => { throw new Error("no S3 proxy"); })();

        /** `_catalog` as the pull user: its time, and the S3 requests it made. */
        const catalog = async () => {
            const since = proxy.count;
            const t0 = performance.now();
            const res = await request(`${stack.front.url}/v2/_catalog`, { ca, basicAuth: reader, timeoutMs: 600_000 });
            const ms = performance.now() - t0;
            if (res.status !== 200) {
                throw new Error(`_catalog answered ${res.status}: ${res.text()}`);
            }
            const s3 = proxy.requests(since);
            return { ms, lists: s3.filter((r) => r.method === "GET" && /[?&]list-type=2/.test(r.url)).length, requests: s3.length, repositories: (res.json<{ repositories: string[] }>().repositories ?? []).length };
        };
        const timed = async (label: string) => {
            const runs = [];
            for (let i = 0; i < 5; i++) {
                runs.push(await catalog());
            }
            const line = `${label}: _catalog median ${median(runs.map((r) => r.ms)).toFixed(0)} ms (min ${Math.min(...runs.map((r) => r.ms)).toFixed(0)}, max ${Math.max(...runs.map((r) => r.ms)).toFixed(0)}), ${runs[0].lists} S3 LISTs and ${runs[0].requests} S3 requests a call, ${runs[0].repositories} repositories`;
            log(line);
            return { line, medianMs: median(runs.map((r) => r.ms)) };
        };
        const before = await timed("before");

        log(`starting ${starts} uploads, ${concurrency} at a time, as the push user`);
        let next = 0;
        let accepted = 0;
        const statuses = new Map<number, number>();
        const t0 = performance.now();
        await Promise.all(
            Array.from({ length: concurrency }, async () => {
                while (next < starts) {
                    next++;
                    const res = await request(`${stack.front.url}/v2/team/app/blobs/uploads/`, { method: "POST", ca, basicAuth: ci, timeoutMs: 60_000 });
                    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
                    accepted += res.status === 202 ? 1 : 0;
                }
            }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const startLine = `${starts} upload starts in ${seconds.toFixed(1)} s (${(starts / seconds).toFixed(0)} a second): ${[...statuses].map(([s, n]) => `${n}x ${s}`).join(", ")}`;
        log(startLine);
        const after = await timed(`after ${accepted} abandoned uploads`);
        const objects = (await stack.s3.listObjects(stack.s3Target.bucket)).size;
        const verdict = `goal: _catalog under ${CATALOG_GOAL_MS} ms after ${starts} starts by one user: ${after.medianMs < CATALOG_GOAL_MS ? "met" : "missed"} (median ${after.medianMs.toFixed(0)} ms)`;
        process.stdout.write(`${before.line}\n${startLine}\n${after.line}\nobjects in the bucket: ${objects}\n${verdict}\n`);
    } finally {
        work.remove();
        await stack.stop();
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
