import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DOCKER_CONCURRENT_UPLOADS, largestChunkSizeMb, REGISTRY_UPLOAD_MEMORY_BYTES, S3_MIN_CHUNK_SIZE_BYTES, uploadMemoryBytes, uploadsInFlightMax } from "../../components/render/registryMemory";
import { REGISTRY_MEMORY_LIMIT_BYTES } from "../../components/render/registryRun";
import { renderDeployment } from "../../components/render/deployment";
import { exampleDeploymentInput } from "../support/fixtures";

const MIB = 1024 ** 2;

describe("the registry's memory for uploads in flight", () => {
    it("lets in as many uploads as their parts fit in what the manifests' bound leaves", () => {
        assert.equal(uploadsInFlightMax(S3_MIN_CHUNK_SIZE_BYTES), 14);
        assert.equal(uploadsInFlightMax(15 * MIB), 5);
        assert.equal(uploadsInFlightMax(16 * MIB), 4);
        assert.equal(uploadsInFlightMax(80 * MIB), 0, "not even one");
        for (const mb of [5, 8, 10, 15]) {
            const n = uploadsInFlightMax(mb * MIB);
            assert.ok(n * uploadMemoryBytes(mb * MIB) <= REGISTRY_UPLOAD_MEMORY_BYTES, `${n} uploads at ${mb} MiB`);
            assert.ok((n + 1) * uploadMemoryBytes(mb * MIB) > REGISTRY_UPLOAD_MEMORY_BYTES, `room for more than ${n} at ${mb} MiB`);
        }
        assert.ok(REGISTRY_UPLOAD_MEMORY_BYTES > 0 && REGISTRY_UPLOAD_MEMORY_BYTES < REGISTRY_MEMORY_LIMIT_BYTES);
    });

    it("counts an upload as more than the 8 to 9 MiB bench/hostile/uploadMemory.ts measured at 5 MiB parts", () => {
        assert.ok(uploadMemoryBytes(5 * MIB) >= 9 * MIB);
    });

    it("allows chunk sizes up to the largest that lets one docker push's uploads in together", () => {
        const largest = largestChunkSizeMb();
        assert.equal(largest, 15);
        assert.ok(uploadsInFlightMax(largest * MIB) >= DOCKER_CONCURRENT_UPLOADS);
        assert.ok(uploadsInFlightMax((largest + 1) * MIB) < DOCKER_CONCURRENT_UPLOADS);
    });

    it("is the front's bound on the uploads' proxy, following the deployment's chunk size", () => {
        const uploadBound = (chunkSizeMb: number) => /\n\t*reverse_proxy @upload [^\n]+ \{\n(?:\t+[^\n]*\n)*?\t+unhealthy_request_count (\d+)\n/.exec(renderDeployment(exampleDeploymentInput({ chunkSizeMb })).caddyfile)?.[1];
        assert.equal(uploadBound(5), "14");
        assert.equal(uploadBound(10), String(uploadsInFlightMax(10 * MIB)));
    });
});
