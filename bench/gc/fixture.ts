import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * A collection fixture, written straight into a bucket's directory (versitygw's posix backend
 * serves a bucket's files as its objects) in distribution's storage layout
 * (registry/storage/paths.go), so a thousand manifests take a second, not a thousand pushes.
 *
 * One repository with `manifests` manifests and `tags` tags. Every tag names an OCI index; the
 * indexes share out the other kept manifests as their platform images, so every kept manifest
 * is reachable and each one costs `garbage-collect --delete-untagged` a full tag lookup (it reads
 * every tag's link for every manifest: registry/storage/garbagecollect.go:72,
 * registry/storage/tagstore.go:148-188). `untagged` of the manifests are the week's garbage:
 * images no tag or index reaches, each with its own config and layer, which the collection
 * deletes.
 */
export interface FixtureShape {
    manifests: number;
    tags: number;
    untagged: number;
}

export interface FixtureCounts {
    /** Manifests the collection deletes. */
    manifests: number;
    /** Blobs the collection deletes: each garbage image's manifest, config and layer. */
    blobs: number;
    /** Blobs it marks: every kept manifest's, config's and layer's. */
    marked: number;
}

export const REPOSITORY = "bench/app";
const ROOT = "docker/registry/v2";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** What a correct collection of this fixture deletes and marks; a run that disagrees measured something else. */
export function expectedCounts(shape: FixtureShape): FixtureCounts {
    const kept = shape.manifests - shape.untagged;
    const images = kept - shape.tags;
    return { manifests: shape.untagged, blobs: 3 * shape.untagged, marked: shape.tags + 3 * images };
}

/** Refuses a shape the layout cannot hold: each tag's index needs at least one image. */
export function fixtureProblem(shape: FixtureShape): string | undefined {
    const values = [shape.manifests, shape.tags, shape.untagged];
    if (!values.every((v) => Number.isInteger(v) && v >= 0) || shape.tags < 1) {
        return "manifests, tags and untagged must be whole numbers, tags at least 1";
    }
    if (shape.manifests - shape.untagged < 2 * shape.tags) {
        return `${shape.manifests} manifests leave fewer than two per tag once ${shape.untagged} are garbage: each tag's index needs an image`;
    }
    return undefined;
}

interface Descriptor {
    mediaType: string;
    digest: string;
    size: number;
}

/** Writes the fixture under `bucketDir` (replacing any earlier one) and returns what a collection should do. */
export function writeFixture(bucketDir: string, shape: FixtureShape): FixtureCounts {
    const problem = fixtureProblem(shape);
    if (problem !== undefined) {
        throw new Error(problem);
    }
    fs.rmSync(path.join(bucketDir, "docker"), { recursive: true, force: true });
    const repo = path.join(bucketDir, ROOT, "repositories", REPOSITORY);
    const write = (file: string, content: string | Buffer) => {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
    };
    const blob = (mediaType: string, content: string | Buffer): Descriptor => {
        const hex = createHash("sha256").update(content).digest("hex");
        write(path.join(bucketDir, ROOT, "blobs", "sha256", hex.slice(0, 2), hex, "data"), content);
        return { mediaType, digest: `sha256:${hex}`, size: Buffer.byteLength(content) };
    };
    const link = (dir: string, digest: string) => write(path.join(dir, "sha256", digest.slice(7), "link"), digest);
    // A manifest as a push leaves it: its blob, a revision link, and layer links for what it references.
    const image = (n: number): Descriptor => {
        const config = blob("application/vnd.oci.image.config.v1+json", JSON.stringify({ architecture: "amd64", os: "linux", bench: n, salt: randomBytes(8).toString("hex") }));
        const layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", randomBytes(64));
        for (const d of [config, layer]) {
            link(path.join(repo, "_layers"), d.digest);
        }
        const manifest = blob(OCI_MANIFEST, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
        link(path.join(repo, "_manifests", "revisions"), manifest.digest);
        return manifest;
    };

    const images = shape.manifests - shape.untagged - shape.tags;
    const children: Descriptor[][] = Array.from({ length: shape.tags }, () => []);
    for (let i = 0; i < images; i++) {
        children[i % shape.tags].push(image(i));
    }
    for (let t = 0; t < shape.tags; t++) {
        const manifests = children[t].map((d, i) => ({ ...d, platform: { architecture: `arch${i}`, os: "linux" } }));
        const index = blob(OCI_INDEX, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
        link(path.join(repo, "_manifests", "revisions"), index.digest);
        const tagDir = path.join(repo, "_manifests", "tags", `v${t}`);
        write(path.join(tagDir, "current", "link"), index.digest);
        link(path.join(tagDir, "index"), index.digest);
    }
    for (let u = 0; u < shape.untagged; u++) {
        image(images + u);
    }
    return expectedCounts(shape);
}
