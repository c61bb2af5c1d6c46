import { createHash, randomBytes } from "node:crypto";

/**
 * A tiny, valid OCI image made in memory: one uncompressed tar layer holding a small random file
 * (random so every run pushes new blobs and really reaches storage, instead of finding them
 * already there), a config listing the layer's diff ID, and a manifest. A real tar keeps the image
 * pullable by Docker, should someone look at one a failed run left behind.
 */

export const MEDIA_TYPES = {
    manifest: "application/vnd.oci.image.manifest.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

export interface Blob {
    mediaType: string;
    digest: string;
    size: number;
    bytes: Buffer;
}

export interface TinyImage {
    layer: Blob;
    config: Blob;
    manifest: Blob;
    /** The blobs the manifest references (layer, config): pushed before it, deleted after it. */
    blobs: Blob[];
}

export function sha256Digest(data: Buffer | string): string {
    return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function blob(mediaType: string, bytes: Buffer): Blob {
    return { mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes };
}

/** A 512-byte ustar header for a regular file (mode 0644, owned by root, a fixed mtime). */
export function tarHeader(name: string, size: number): Buffer {
    const header = Buffer.alloc(512, 0);
    const field = (value: string, offset: number, length: number) => header.write(value, offset, length, "ascii");
    const octal = (value: number, length: number) => `${value.toString(8).padStart(length - 1, "0")}\0`;
    field(name, 0, 100);
    field(octal(0o644, 8), 100, 8);
    field(octal(0, 8), 108, 8);
    field(octal(0, 8), 116, 8);
    field(octal(size, 12), 124, 12);
    field(octal(1_700_000_000, 12), 136, 12);
    field("        ", 148, 8); // the checksum counts its own field as spaces
    field("0", 156, 1);
    field("ustar\0", 257, 6);
    field("00", 263, 2);
    const sum = header.reduce((total, byte) => total + byte, 0);
    field(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
    return header;
}

/** What follows a file of `size` bytes to end a one-file archive: padding to a block, two zero blocks. */
export function tarEnd(size: number): Buffer {
    return Buffer.alloc(((512 - (size % 512)) % 512) + 1024, 0);
}

/** A tar archive with one file: header, content padded to a block, two zero blocks. */
export function tarWithFile(name: string, content: Buffer): Buffer {
    return Buffer.concat([tarHeader(name, content.length), content, tarEnd(content.length)]);
}

/** Builds the image; `payload` defaults to 1 KiB of random bytes. */
export function generateTinyImage(options: { payload?: Buffer; label?: string } = {}): TinyImage {
    const payload = options.payload ?? randomBytes(1024);
    const layer = blob(MEDIA_TYPES.layerTar, tarWithFile("live-check/payload.bin", payload));
    const configJson = JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Labels: { "org.opencontainers.image.description": options.label ?? "registry live check (deleted after the check)" } },
        rootfs: { type: "layers", diff_ids: [layer.digest] }, // uncompressed: the diff ID is the blob's digest
    });
    const config = blob(MEDIA_TYPES.config, Buffer.from(configJson));
    const manifestJson = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    });
    const manifest = blob(MEDIA_TYPES.manifest, Buffer.from(manifestJson));
    return { layer, config, manifest, blobs: [layer, config] };
}
