/**
 * A blob GET through the registry with the baseline's own client (Node streams to a file and
 * hashes, like the raw S3 GET), following the registry's 307 to a presigned S3 URL. Comparing it
 * with the raw GET isolates what the registry adds to a pull from what skopeo adds.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface BlobGetOptions {
    ca: string;
    username: string;
    password: string;
}

/** A GET on a connection of its own (no agent), resolved with the response once headers arrive. */
export function get(url: string, options: https.RequestOptions): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
        const mod = url.startsWith("https:") ? https : http;
        const req = mod.get(url, { ...options, agent: false }, resolve);
        req.on("error", reject);
    });
}

/** GETs `url` (following one redirect), writes the body to `file`; returns `sha256:<hex>`. */
export async function getBlobThroughRegistry(url: string, file: string, o: BlobGetOptions): Promise<{ digest: string; redirected: boolean }> {
    const auth = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`;
    let res = await get(url, { ca: o.ca, headers: { Authorization: auth } });
    let redirected = false;
    if (res.statusCode === 307 || res.statusCode === 302) {
        const location = res.headers.location;
        res.resume();
        if (!location) {
            throw new Error(`${url}: ${res.statusCode} without a Location`);
        }
        // The presigned URL carries its own credentials; no Authorization header.
        res = await get(new URL(location, url).toString(), { ca: o.ca });
        redirected = true;
    }
    if (res.statusCode !== 200) {
        res.resume();
        throw new Error(`${url}: HTTP ${res.statusCode}`);
    }
    return { digest: await hashInto(res, file), redirected };
}

/** Streams `body` into `file`, hashing it on the way; returns `sha256:<hex>`. */
export async function hashInto(body: Readable, file: string): Promise<string> {
    const hash = createHash("sha256");
    const hashing = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            callback(null, chunk);
        },
    });
    await pipeline(body, hashing, createWriteStream(file));
    return `sha256:${hash.digest("hex")}`;
}
