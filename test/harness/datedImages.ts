import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildOciImage, imageRecord, MEDIA_TYPES, type Descriptor, type OciImage } from "./oci";

/**
 * Images with a chosen config `created` time, for tag retention: {@link buildOciImage} writes a
 * one-layer image, then its config is rewritten with the time (or without the field) and a new
 * manifest names it. Also a second tag for an image already in a layout (same digest).
 */

const REF_NAME = "org.opencontainers.image.ref.name";

interface Index {
    manifests: Descriptor[];
}

function writeJsonBlob(layoutDir: string, value: unknown): { digest: string; size: number } {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    fs.writeFileSync(path.join(layoutDir, "blobs", "sha256", digest.slice("sha256:".length)), bytes);
    return { digest, size: bytes.length };
}

function readIndex(layoutDir: string): Index {
    return JSON.parse(fs.readFileSync(path.join(layoutDir, "index.json"), "utf8")) as Index;
}

function setTag(layoutDir: string, tag: string, manifest: Descriptor): void {
    const index = readIndex(layoutDir);
    index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
    index.manifests.push({ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, annotations: { [REF_NAME]: tag } });
    fs.writeFileSync(path.join(layoutDir, "index.json"), JSON.stringify(index));
}

/**
 * A one-layer image tagged `tag` whose config says `created` (an RFC 3339 string), or has no
 * `created` at all when it is undefined. The layer is random, so every image is distinct.
 */
export async function buildImageCreatedAt(layoutDir: string, tag: string, created: string | undefined, layerBytes = 4096): Promise<OciImage> {
    const base = await buildOciImage(layoutDir, { layerSizes: [layerBytes], tag });
    const configFile = path.join(layoutDir, "blobs", "sha256", base.config.digest.slice("sha256:".length));
    const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as Record<string, unknown>;
    delete config.created;
    const dated = created === undefined ? config : { created, ...config };
    const configBlob = { mediaType: MEDIA_TYPES.config, ...writeJsonBlob(layoutDir, dated) };
    const manifestBlob = {
        mediaType: MEDIA_TYPES.manifest,
        ...writeJsonBlob(layoutDir, {
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.manifest,
            config: configBlob,
            layers: base.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        }),
    };
    setTag(layoutDir, tag, manifestBlob);
    return imageRecord(layoutDir, tag, manifestBlob, configBlob, base.layers);
}

/** Tags an image already in its layout a second time: the same manifest under `tag`. */
export function addTag(image: OciImage, tag: string): OciImage {
    setTag(image.layoutDir, tag, image.manifest);
    return imageRecord(image.layoutDir, tag, image.manifest, image.config, image.layers);
}

/** An RFC 3339 time `days` days before `now` (whole seconds). */
export function daysAgo(days: number, now: number = Date.now()): string {
    return new Date(Math.floor((now - days * 86_400_000) / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
