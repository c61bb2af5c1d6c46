import { REGISTRY_MEMORY_LIMIT_BYTES } from "./registryRun";

/**
 * How the registry's memory is shared among the requests the front lets in. Pure.
 *
 * The registry's container has REGISTRY_MEMORY_LIMIT_BYTES (registryRun.ts), and two kinds of
 * request hold memory in proportion to their count: manifests (FRONT_MANIFEST_REQUESTS_MAX,
 * front.ts) and layer uploads. Distribution v3.1.2's S3 writer gathers each upload's next part in
 * a bytes.Buffer (registry/storage/driver/s3-aws/s3.go newWriter and Write: `w.buf`), sends it
 * once it holds `chunksize` bytes, and keeps gathering meanwhile; the buffer grows by doubling
 * (Go's bytes.Buffer), so an upload in flight holds up to about twice a part.
 */

const MIB = 1024 ** 2;

/** S3's least part size but the last (5 MiB, AWS S3 multipart upload limits), the driver's least `chunksize` and the program's default. */
export const S3_MIN_CHUNK_SIZE_BYTES = 5 * MIB;

/**
 * What the registry may spend on uploads in flight: its limit, less the peak of the manifests'
 * bound (181 MiB, 200 requests at once for a manifest near distribution's 4 MiB limit,
 * bench/twin/manifests.ts) and a margin for the rest of the process.
 */
export const REGISTRY_UPLOAD_MEMORY_BYTES = REGISTRY_MEMORY_LIMIT_BYTES - 181 * MIB - 43 * MIB;

/** What one upload in flight holds: about two parts, and its share of the request's own buffers. */
export function uploadMemoryBytes(chunkSizeBytes: number): number {
    return 2 * chunkSizeBytes + MIB;
}

/** Uploads the front lets into the registry at once for this chunk size; 0 when not even one fits. */
export function uploadsInFlightMax(chunkSizeBytes: number): number {
    return Math.floor(REGISTRY_UPLOAD_MEMORY_BYTES / uploadMemoryBytes(chunkSizeBytes));
}

/**
 * Layers one `docker push` sends at once (moby's `max-concurrent-uploads` default, 5,
 * daemon/config/config.go DefaultMaxConcurrentUploads): a chunk size that lets fewer in at once
 * would make a single push wait on itself.
 */
export const DOCKER_CONCURRENT_UPLOADS = 5;

/** The largest chunk size, in whole MiB, that still lets {@link DOCKER_CONCURRENT_UPLOADS} uploads in at once. */
export function largestChunkSizeMb(): number {
    let mb = S3_MIN_CHUNK_SIZE_BYTES / MIB;
    while (uploadsInFlightMax((mb + 1) * MIB) >= DOCKER_CONCURRENT_UPLOADS) {
        mb++;
    }
    return mb;
}
