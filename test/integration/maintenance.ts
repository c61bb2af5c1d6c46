/**
 * Reading what the maintenance job did (not a test file: the runner's glob is `*.test.ts`): its
 * log lines, the bucket's objects before and after, and the S3 requests of each of its steps.
 */
import * as fs from "node:fs";
import { parseAccessLog, REGISTRY_S3_USER_AGENT, type S3Operation } from "../harness/s3";
import type { DockerCallMark } from "../harness/podman";
import { REGBOT_IMAGE } from "../../components/versions";

export interface JobLog {
    /** Digests from `deleting manifest {REPO DIGEST [TAGS]}` (garbage-collect's own formatting). */
    manifests: string[];
    /** Blobs the job sized through the registry: digest -> bytes. */
    sized: Map<string, number>;
    /** Blobs no repository links (manifests): their size is not known to the job. */
    unsized: string[];
    done: { seconds: number; manifests: number; blobs: number; bytes: number; unknown: number } | undefined;
}

export function parseJobLog(stdout: string): JobLog {
    const log: JobLog = { manifests: [], sized: new Map(), unsized: [], done: undefined };
    for (const line of stdout.split("\n")) {
        const manifest = /^maintenance: deleting manifest \{\S+ (sha256:[0-9a-f]{64}) /.exec(line);
        const sized = /^maintenance: deleting blob (sha256:[0-9a-f]{64}) \((\d+) bytes, last in \S+\)$/.exec(line);
        const unsized = /^maintenance: deleting blob (sha256:[0-9a-f]{64}) \(size not known/.exec(line);
        const done = /^maintenance: done in (\d+)s: deleted (\d+) manifests and (\d+) blobs, freeing (\d+) bytes \(plus (\d+) blobs of unknown size\)$/.exec(line);
        if (manifest !== null) {
            log.manifests.push(manifest[1]);
        } else if (sized !== null) {
            log.sized.set(sized[1], Number(sized[2]));
        } else if (unsized !== null) {
            log.unsized.push(unsized[1]);
        } else if (done !== null) {
            const [seconds, manifests, blobs, bytes, unknown] = done.slice(1).map(Number);
            log.done = { seconds, manifests, blobs, bytes, unknown };
        }
    }
    return log;
}

const BLOB_DATA = /^docker\/registry\/v2\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/;
/** A link file: `sha256:` and 64 hex digits, no newline. */
export const LINK_BYTES = 71;

export interface BucketChange {
    /** Total bytes before minus after. */
    droppedBytes: number;
    /** Blob data objects that went: digest -> size. */
    blobs: Map<string, number>;
    /** Link objects that went (tags, revisions, layer links). */
    links: number;
    /** Anything else that went or came, key -> size (should be empty). */
    other: Map<string, number>;
}

/** What changed between two listings of the bucket (key -> size). */
export function bucketChange(before: Map<string, number>, after: Map<string, number>): BucketChange {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const change: BucketChange = { droppedBytes: sum(before) - sum(after), blobs: new Map(), links: 0, other: new Map() };
    for (const [key, size] of before) {
        if (after.has(key)) {
            continue;
        }
        const blob = BLOB_DATA.exec(key);
        if (blob !== null) {
            change.blobs.set(`sha256:${blob[1]}`, size);
        } else if (key.endsWith("/link") && size === LINK_BYTES) {
            change.links++;
        } else if (size > 0) {
            change.other.set(key, size);
        }
    }
    for (const [key, size] of after) {
        if (!before.has(key) && size > 0) {
            change.other.set(`(new) ${key}`, size);
        }
    }
    return change;
}

/** The registry driver's S3 requests in each step the docker calls start, from the marked access log. */
export function requestsBySteps(accessLogFile: string, marks: DockerCallMark[], endLines: number): { call: string; operations: S3Operation[]; ms: number }[] {
    const lines = fs.readFileSync(accessLogFile, "utf8").split("\n");
    const endMs = Date.now();
    return marks.map((mark, i) => {
        const next = marks[i + 1];
        const text = lines.slice(mark.lines, next?.lines ?? endLines).join("\n");
        const operations = parseAccessLog(text).filter((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent));
        return { call: mark.call, operations, ms: (next?.atMs ?? endMs) - mark.atMs };
    });
}

/** `ListObjectsV2 12, HeadObject 3`: requests by S3 operation, most first. */
export function byOperation(operations: S3Operation[]): string {
    const counts = new Map<string, number>();
    operations.forEach((op) => counts.set(op.operation, (counts.get(op.operation) ?? 0) + 1));
    return [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${n}`).join(", ") || "none";
}

/** The `docker` calls that change what runs, named: the registry's drain and removal, which config it runs, which collection, regbot. */
export function engineSteps(calls: string[], containerName: string): string[] {
    const steps: string[] = [];
    for (const call of calls) {
        if (call.includes(` ${REGBOT_IMAGE} `)) {
            steps.push("retention");
        } else if (call.startsWith(`stop -t `) && call.endsWith(` ${containerName}`)) {
            steps.push("drain registry");
        } else if (call.startsWith(`rm -f -v ${containerName}`)) {
            steps.push("remove registry");
        } else if (call.startsWith(`run -d --name ${containerName} `)) {
            steps.push(call.includes("/config-readonly.yml:") ? "registry read-only" : "registry read-write");
        } else if (call.includes(" garbage-collect --delete-untagged")) {
            steps.push(call.includes("--dry-run") ? "gc plan" : "gc");
        }
    }
    return steps;
}
