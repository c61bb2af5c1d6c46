import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
// The live check builds its tiny image the same way; one tar writer serves both.
import { tarEnd, tarHeader } from "../../scripts/liveCheck/image";

/**
 * OCI image layouts on disk, written by hand (no Docker): random-content layers (each a tar with
 * one file), an image config listing their diff IDs, a manifest, and `index.json` naming the tag.
 * Every blob is stored under its sha256 digest, so skopeo can push it with --preserve-digests.
 */

export const MEDIA_TYPES = {
    index: "application/vnd.oci.image.index.v1+json",
    manifest: "application/vnd.oci.image.manifest.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
    layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

export interface Descriptor {
    mediaType: string;
    digest: string;
    size: number;
    annotations?: Record<string, string>;
}

export interface LayerInfo extends Descriptor {
    /** sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
    diffId: string;
}

export interface OciImage {
    /** The layout directory (`oci:DIR:TAG` for skopeo). */
    layoutDir: string;
    tag: string;
    manifest: Descriptor;
    config: Descriptor;
    layers: LayerInfo[];
    /** Sum of the layer blob sizes. */
    totalLayerBytes: number;
    /** Every blob digest: manifest, config, layers. */
    allDigests(): string[];
}

export interface BuildImageOptions {
    /** Size in bytes of each layer's random payload, e.g. `[30e6, 15e6, 5e6]` for ~50 MB. */
    layerSizes: number[];
    tag?: string;
    /** gzip layers (level 1: random data does not shrink; it exercises the gzip media type). Default "none". */
    compression?: "gzip" | "none";
}

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

function blobPath(layoutDir: string, digest: string): string {
    const [algorithm, hex] = digest.split(":");
    return path.join(layoutDir, "blobs", algorithm, hex);
}

async function* tarWithRandomFile(name: string, size: number): AsyncGenerator<Buffer> {
    yield tarHeader(name, size);
    const chunk = 1024 * 1024;
    for (let left = size; left > 0; left -= chunk) {
        yield randomBytes(Math.min(chunk, left));
    }
    yield tarEnd(size);
}

class Tap extends Transform {
    readonly hash = createHash("sha256");
    size = 0;
    override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
        this.hash.update(chunk);
        this.size += chunk.length;
        callback(null, chunk);
    }
}

function writeBlob(layoutDir: string, content: Buffer | string): Descriptor & { mediaType: "" } {
    const buffer = Buffer.from(content);
    const digest = sha256(buffer);
    fs.writeFileSync(blobPath(layoutDir, digest), buffer);
    return { mediaType: "", digest, size: buffer.length };
}

/** Writes a random multi-layer image as an OCI layout in `layoutDir` (created; may already hold other images). */
export async function buildOciImage(layoutDir: string, options: BuildImageOptions): Promise<OciImage> {
    const tag = options.tag ?? "latest";
    const gzip = options.compression === "gzip";
    fs.mkdirSync(path.join(layoutDir, "blobs", "sha256"), { recursive: true });
    fs.writeFileSync(path.join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));

    const layers: LayerInfo[] = [];
    for (const [index, size] of options.layerSizes.entries()) {
        const temp = path.join(layoutDir, "blobs", `.layer-${process.pid}-${index}-${randomBytes(4).toString("hex")}`);
        const uncompressed = new Tap();
        const stored = new Tap();
        const stages = [Readable.from(tarWithRandomFile(`data/layer-${index}.bin`, Math.floor(size))), uncompressed];
        if (gzip) {
            stages.push(zlib.createGzip({ level: 1 }) as unknown as Tap);
        }
        await pipeline([...stages, stored, fs.createWriteStream(temp)]);
        const digest = `sha256:${stored.hash.digest("hex")}`;
        fs.renameSync(temp, blobPath(layoutDir, digest));
        layers.push({
            mediaType: gzip ? MEDIA_TYPES.layerGzip : MEDIA_TYPES.layerTar,
            digest,
            size: stored.size,
            diffId: `sha256:${uncompressed.hash.digest("hex")}`,
        });
    }

    const configJson = JSON.stringify({
        created: new Date().toISOString(),
        architecture: "amd64",
        os: "linux",
        config: { Labels: { "org.opencontainers.image.description": `registry rehearsal test image ${tag}` } },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: layers.map((_, i) => ({ created_by: `rehearsal layer ${i}` })),
    });
    const config = { ...writeBlob(layoutDir, configJson), mediaType: MEDIA_TYPES.config };
    const manifestJson = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    });
    const manifest = { ...writeBlob(layoutDir, manifestJson), mediaType: MEDIA_TYPES.manifest };

    // Add (or replace) this tag in index.json.
    const indexFile = path.join(layoutDir, "index.json");
    const index = fs.existsSync(indexFile)
        ? (JSON.parse(fs.readFileSync(indexFile, "utf8")) as { manifests: Descriptor[] })
        : { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [] as Descriptor[] };
    index.manifests = index.manifests.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== tag);
    index.manifests.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } });
    fs.writeFileSync(indexFile, JSON.stringify(index));

    return imageRecord(layoutDir, tag, manifest, config, layers);
}

export function imageRecord(layoutDir: string, tag: string, manifest: Descriptor, config: Descriptor, layers: LayerInfo[]): OciImage {
    return {
        layoutDir,
        tag,
        manifest,
        config,
        layers,
        totalLayerBytes: layers.reduce((sum, l) => sum + l.size, 0),
        allDigests: () => [manifest.digest, config.digest, ...layers.map((l) => l.digest)],
    };
}

/**
 * Reads the image tagged `tag` from a layout (e.g. one skopeo pulled into) and verifies every
 * blob it references: each file's sha256 and size must match its descriptor. Throws with the
 * first mismatch; returns the image on success.
 */
export function readAndVerifyOciImage(layoutDir: string, tag: string): OciImage {
    const index = JSON.parse(fs.readFileSync(path.join(layoutDir, "index.json"), "utf8")) as { manifests: Descriptor[] };
    const entry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
    if (entry === undefined) {
        throw new Error(`${layoutDir} has no image tagged ${tag} (tags: ${index.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).join(", ")})`);
    }
    const verify = (d: Descriptor, what: string): Buffer | undefined => {
        const file = blobPath(layoutDir, d.digest);
        if (!fs.existsSync(file)) {
            throw new Error(`${what} ${d.digest} is missing from ${layoutDir}`);
        }
        const size = fs.statSync(file).size;
        if (size !== d.size) {
            throw new Error(`${what} ${d.digest}: ${size} bytes on disk, descriptor says ${d.size}`);
        }
        const actual = digestOfFile(file);
        if (actual !== d.digest) {
            throw new Error(`${what} content does not match its digest: expected ${d.digest}, content hashes to ${actual}`);
        }
        return size < 10 * 1024 * 1024 ? fs.readFileSync(file) : undefined;
    };
    const manifestBytes = verify(entry, "manifest") as Buffer;
    const manifestDoc = JSON.parse(manifestBytes.toString("utf8")) as { config: Descriptor; layers: Descriptor[] };
    const configBytes = verify(manifestDoc.config, "config") as Buffer;
    const configDoc = JSON.parse(configBytes.toString("utf8")) as { rootfs?: { diff_ids?: string[] } };
    const diffIds = configDoc.rootfs?.diff_ids ?? [];
    const layers = manifestDoc.layers.map((l, i) => {
        verify(l, `layer ${i}`);
        return { ...l, diffId: diffIds[i] ?? "" };
    });
    return imageRecord(layoutDir, tag, { mediaType: entry.mediaType, digest: entry.digest, size: entry.size }, manifestDoc.config, layers);
}

/** `sha256:<hex>` of a file, streamed in chunks. */
export function digestOfFile(file: string): string {
    const hash = createHash("sha256");
    const fd = fs.openSync(file, "r");
    try {
        const buffer = Buffer.alloc(4 * 1024 * 1024);
        let read: number;
        while ((read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0) {
            hash.update(buffer.subarray(0, read));
        }
    } finally {
        fs.closeSync(fd);
    }
    return `sha256:${hash.digest("hex")}`;
}
