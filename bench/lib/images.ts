/**
 * Test images for the benchmark, built with the harness's OCI layout builder.
 *
 * The harness builds each image from fresh random layers; the concurrency benchmark needs
 * distinct images that share one base layer, so this helper builds the base once and writes
 * each image's config and manifest (base + its own layer) itself.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

import { buildOciImage, imageRecord, MEDIA_TYPES, type Descriptor, type LayerInfo, type OciImage } from "../../test/harness";

function writeJsonBlob(layoutDir: string, mediaType: string, doc: unknown): Descriptor {
    const bytes = Buffer.from(JSON.stringify(doc));
    const hex = createHash("sha256").update(bytes).digest("hex");
    fs.writeFileSync(path.join(layoutDir, "blobs", "sha256", hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

function tagManifest(layoutDir: string, tag: string, manifest: Descriptor): void {
    const indexFile = path.join(layoutDir, "index.json");
    const index = JSON.parse(fs.readFileSync(indexFile, "utf8")) as { manifests: Descriptor[] };
    index.manifests = index.manifests.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== tag);
    index.manifests.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } });
    fs.writeFileSync(indexFile, JSON.stringify(index));
}

/** An image whose layers are `layers`, in order, tagged `tag` in `layoutDir`. */
function composeImage(layoutDir: string, tag: string, layers: LayerInfo[]): OciImage {
    const config = writeJsonBlob(layoutDir, MEDIA_TYPES.config, {
        architecture: "amd64",
        os: "linux",
        config: { Labels: { "org.opencontainers.image.description": `registry benchmark image ${tag}` } },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: layers.map((_, i) => ({ created_by: `benchmark layer ${i}` })),
    });
    const manifest = writeJsonBlob(layoutDir, MEDIA_TYPES.manifest, {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    });
    tagManifest(layoutDir, tag, manifest);
    return imageRecord(layoutDir, tag, manifest, config, layers);
}

/** Path of a blob inside a layout. */
export function blobFile(layoutDir: string, digest: string): string {
    const [algorithm, hex] = digest.split(":");
    return path.join(layoutDir, "blobs", algorithm, hex);
}

/** One image with one random layer of `bytes`. */
export async function buildSingleLayerImage(layoutDir: string, tag: string, bytes: number): Promise<OciImage> {
    return buildOciImage(layoutDir, { layerSizes: [bytes], tag });
}

/**
 * `count` images in one layout, `img0`..`imgN-1`, each = the shared base layer + its own
 * random layer.
 */
export async function buildImagesSharingBase(layoutDir: string, count: number, baseBytes: number, ownBytes: number): Promise<{ base: LayerInfo; images: OciImage[] }> {
    const baseImage = await buildOciImage(layoutDir, { layerSizes: [baseBytes], tag: "base" });
    const base = baseImage.layers[0];
    const images: OciImage[] = [];
    for (let i = 0; i < count; i++) {
        const own = await buildOciImage(layoutDir, { layerSizes: [ownBytes], tag: `own${i}` });
        images.push(composeImage(layoutDir, `img${i}`, [base, own.layers[0]]));
    }
    return { base, images };
}
