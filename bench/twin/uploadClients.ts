/**
 * The clients of bench/twin/uploads.ts, run inside the client namespace (`ip netns exec`), where
 * the twin's address is reachable: N layer uploads at once through the front, each as the OCI
 * distribution-spec's chunked push makes it (a POST, PATCHes of one chunk each with its
 * Content-Range, the PUT with the digest), then a HEAD of every committed blob and a GET of a few.
 * The job, login included, comes as JSON on stdin so that no password is in argv; the result
 * goes to stdout as JSON.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";

export interface UploadJob {
    /** The twin's address; the front listens on 443. */
    host: string;
    /** The stack's CA, which signed the front's certificate. */
    ca: string;
    /** The S3 stand-in's CA, for a GET the registry redirects to storage. */
    s3Ca: string;
    username: string;
    password: string;
    /** Upload i goes to `${repositoryPrefix}-${i}`. */
    repositoryPrefix: string;
    uploads: number;
    sizeBytes: number;
    chunkBytes: number;
    /** Makes each phase's blobs new to the registry, so every upload is a real one. */
    seed: string;
    /** A request that takes longer (waiting for a slot included) is abandoned and counted as a failure. */
    requestTimeoutMs: number;
    /** Committed blobs read back whole with GET and hashed; every committed blob gets a HEAD. */
    verifyGets: number;
}

export interface UploadOutcome {
    /** "committed", "HTTP 503 on PATCH", "failed on PATCH: ECONNRESET", ... */
    result: string;
    digest: string;
    durationMs: number;
}

export interface UploadReport {
    outcomes: UploadOutcome[];
    /** Every answer of every request, by status ("503") or failure ("failed: ECONNRESET"). */
    answers: Record<string, number>;
    /** Of the committed blobs: how many a HEAD found with the right digest and size, and how many a GET read back whole. */
    headsRight: number;
    headsWrong: string[];
    /** Read-backs the registry answered with a redirect to storage. */
    redirects: number;
    getsRight: number;
    getsWrong: string[];
    durationMs: number;
}

interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    /** sha256 and length of the body, for a blob GET. */
    digest: string;
    length: number;
    text: string;
}

/** A request failure with no answer: a reset, a refused connection, a timeout. */
class Failed extends Error {}

function request(job: UploadJob, method: string, url: URL, options: { body?: Buffer; headers?: http.OutgoingHttpHeaders; authorize?: boolean; ca?: string } = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
        let settled = false;
        const headers: http.OutgoingHttpHeaders = { ...options.headers };
        if (options.authorize ?? true) {
            headers.Authorization = `Basic ${Buffer.from(`${job.username}:${job.password}`).toString("base64")}`;
        }
        if (options.body !== undefined) {
            headers["Content-Length"] = options.body.length;
        } else if (method === "PUT" || method === "POST") {
            headers["Content-Length"] = 0;
        }
        // A connection per request, as manifests.ts's curl makes them: no answer is lost to a
        // keep-alive connection the front closed meanwhile.
        const req = https.request(url, { method, headers, agent: false, ca: options.ca ?? job.ca, timeout: job.requestTimeoutMs }, (res) => {
            const hash = createHash("sha256");
            let length = 0;
            const text: Buffer[] = [];
            res.on("data", (chunk: Buffer) => {
                hash.update(chunk);
                length += chunk.length;
                if (length <= 64 * 1024) {
                    text.push(chunk);
                }
            });
            res.on("end", () => {
                settled = true;
                resolve({ status: res.statusCode ?? 0, headers: res.headers, digest: `sha256:${hash.digest("hex")}`, length, text: Buffer.concat(text).toString("utf8").slice(0, 300) });
            });
            res.on("error", (e) => {
                if (!settled) {
                    settled = true;
                    reject(new Failed((e as NodeJS.ErrnoException).code ?? e.message));
                }
            });
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        // An answer that came before the body was all sent (a 503 to a PATCH that waited for a
        // slot) is what the client got; an error writing the rest of the body after it is not.
        req.on("error", (e) => {
            if (!settled) {
                settled = true;
                reject(new Failed((e as NodeJS.ErrnoException).code ?? e.message));
            }
        });
        req.end(options.body);
    });
}

/**
 * Upload i's blob: the shared random bytes, with the last 64 replaced by bytes of its own, so
 * that every upload has its own digest while the hash of the shared part is computed once.
 */
class Blob {
    readonly digest: string;

    constructor(
        private readonly shared: Buffer,
        private readonly tail: Buffer,
        sharedHash: Hash,
    ) {
        this.digest = `sha256:${sharedHash.copy().update(tail).digest("hex")}`;
    }

    get size(): number {
        return this.shared.length;
    }

    slice(start: number, end: number): Buffer {
        const own = this.shared.length - this.tail.length;
        if (end <= own) {
            return this.shared.subarray(start, end);
        }
        return Buffer.concat([this.shared.subarray(start, own), this.tail.subarray(Math.max(0, start - own), end - own)]);
    }
}

async function upload(job: UploadJob, index: number, blob: Blob, count: (key: string) => void): Promise<UploadOutcome> {
    const started = Date.now();
    const base = `https://${job.host}`;
    let step = "POST";
    const send = async (method: string, url: URL, body?: Buffer, headers?: http.OutgoingHttpHeaders): Promise<Answer> => {
        try {
            const answer = await request(job, method, url, { body, headers });
            count(String(answer.status));
            return answer;
        } catch (e) {
            count(`failed: ${e instanceof Error ? e.message : String(e)}`);
            throw e;
        }
    };
    const outcome = (result: string): UploadOutcome => ({ result, digest: blob.digest, durationMs: Date.now() - started });
    try {
        const start = await send("POST", new URL(`/v2/${job.repositoryPrefix}-${index}/blobs/uploads/`, base));
        if (start.status !== 202 || start.headers.location === undefined) {
            return outcome(`HTTP ${start.status} on POST`);
        }
        let location = new URL(start.headers.location, base);
        for (let offset = 0, chunk = 0; offset < blob.size; offset += job.chunkBytes, chunk++) {
            const end = Math.min(offset + job.chunkBytes, blob.size);
            step = `PATCH ${chunk + 1}`;
            const patch = await send("PATCH", location, blob.slice(offset, end), { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${end - 1}` });
            if (patch.status !== 202 || patch.headers.location === undefined) {
                return outcome(`HTTP ${patch.status} on PATCH`);
            }
            location = new URL(patch.headers.location, base);
        }
        step = "PUT";
        location.searchParams.set("digest", blob.digest);
        const put = await send("PUT", location);
        return outcome(put.status === 201 ? "committed" : `HTTP ${put.status} on PUT`);
    } catch (e) {
        if (e instanceof Failed) {
            return outcome(`failed on ${step.replace(/ \d+$/, "")}: ${e.message}`);
        }
        throw e;
    }
}

/** A committed blob read back: HEAD for its digest and size, or GET (following a redirect to storage) for its bytes. */
async function readBack(job: UploadJob, repository: string, digest: string, size: number, method: "HEAD" | "GET"): Promise<{ wrong?: string; redirected: boolean }> {
    let redirected = false;
    try {
        const first = await request(job, method, new URL(`/v2/${repository}/blobs/${digest}`, `https://${job.host}`));
        let answer = first;
        redirected = first.status === 307;
        if (first.status === 307 && typeof first.headers.location === "string") {
            // A presigned URL: storage checks its signature, not the registry's login.
            answer = await request(job, method, new URL(first.headers.location), { authorize: false, ca: job.s3Ca });
        }
        if (answer.status !== 200) {
            return { wrong: `${method} ${digest}: HTTP ${answer.status} ${answer.text}`, redirected };
        }
        if (method === "HEAD") {
            // The registry names the digest when it answers itself; a redirect to storage
            // (the stack's default) names none, and storage answers with the size alone, as a
            // client checking whether a layer exists sees it. The GETs hash the bytes.
            const named = first.headers["docker-content-digest"] ?? answer.headers["docker-content-digest"];
            const length = Number(answer.headers["content-length"]);
            return { wrong: (named === undefined || named === digest) && length === size ? undefined : `HEAD ${digest}: Docker-Content-Digest ${String(named)}, Content-Length ${length}`, redirected };
        }
        return { wrong: answer.digest === digest && answer.length === size ? undefined : `GET ${digest}: read ${answer.length} bytes hashing to ${answer.digest}`, redirected };
    } catch (e) {
        return { wrong: `${method} ${digest}: ${e instanceof Error ? e.message : String(e)}`, redirected };
    }
}

async function run(job: UploadJob): Promise<UploadReport> {
    const shared = randomBytes(job.sizeBytes);
    const sharedHash = createHash("sha256").update(shared.subarray(0, job.sizeBytes - 64));
    const blobs = Array.from({ length: job.uploads }, (_, i) => new Blob(shared, Buffer.alloc(64, `${job.seed}-${i}-`), sharedHash));
    const answers: Record<string, number> = {};
    const count = (key: string) => {
        answers[key] = (answers[key] ?? 0) + 1;
    };
    const started = Date.now();
    const outcomes = await Promise.all(blobs.map((blob, i) => upload(job, i, blob, count)));
    const durationMs = Date.now() - started;
    const committed = outcomes.map((o, i) => ({ ...o, repository: `${job.repositoryPrefix}-${i}` })).filter((o) => o.result === "committed");
    const headsWrong: string[] = [];
    let redirects = 0;
    for (const c of committed) {
        const { wrong, redirected } = await readBack(job, c.repository, c.digest, job.sizeBytes, "HEAD");
        redirects += redirected ? 1 : 0;
        if (wrong !== undefined) {
            headsWrong.push(wrong);
        }
    }
    const getsWrong: string[] = [];
    const gets = committed.slice(0, job.verifyGets);
    for (const c of gets) {
        const { wrong, redirected } = await readBack(job, c.repository, c.digest, job.sizeBytes, "GET");
        redirects += redirected ? 1 : 0;
        if (wrong !== undefined) {
            getsWrong.push(wrong);
        }
    }
    return { outcomes, answers, headsRight: committed.length - headsWrong.length, headsWrong, redirects, getsRight: gets.length - getsWrong.length, getsWrong, durationMs };
}

async function readStdin(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) {
        chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString("utf8");
}

if (require.main === module) {
    readStdin()
        .then((text) => run(JSON.parse(text) as UploadJob))
        .then((report) => process.stdout.write(`${JSON.stringify(report)}\n`))
        .catch((error: unknown) => {
            process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
            process.exit(1);
        });
}
