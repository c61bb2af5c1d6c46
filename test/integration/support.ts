/**
 * Assertion helpers shared by the integration tests (not a test file: the runner's glob is
 * `*.test.ts`). Failure messages carry the command's stderr and the registry's log tail, with
 * secrets redacted, so a red test says why without re-running it. They take the registry as
 * clients reach it (through the front, or the registry process itself).
 */
import * as assert from "node:assert/strict";
import { request } from "../harness/http";
import type { HttpResponse } from "../harness/http";
import { redact, type RunResult } from "../harness/processes";
import type { OciImage } from "../harness/oci";

/** What the helpers need of a registry: its log, and GET with its login. */
interface RegistryLog {
    logTail(lines?: number): string;
}
interface RegistryClient {
    get(pathAndQuery: string, options?: { headers?: Record<string, string>; maxBodyBytes?: number }): Promise<HttpResponse>;
}

/** Asserts a command exited 0; the message has its output and, if given, the registry's log tail. */
export function assertSucceeded(result: RunResult, what: string, context: { registry?: RegistryLog; secrets?: string[] } = {}): void {
    if (result.code === 0) {
        return;
    }
    const why = result.timedOut ? "timed out" : `exited with ${result.code ?? result.signal}`;
    const registryLog = context.registry ? `\n--- registry log tail ---\n${context.registry.logTail(20)}` : "";
    assert.fail(redact(`${what} ${why}:\n${(result.stderr || result.stdout).trim().slice(-3000)}${registryLog}`, context.secrets));
}

/** Asserts a command failed, and that its output matches `pattern` (the reason it should fail for). */
export function assertFailedWith(result: RunResult, pattern: RegExp, what: string): void {
    assert.notEqual(result.code, 0, `${what} was expected to fail but succeeded:\n${result.stdout.slice(-2000)}`);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.match(output, pattern, `${what} failed, but not for the expected reason (${pattern}):\n${output.trim().slice(-3000)}`);
}

/** Asserts two images are digest-for-digest identical: manifest, config and every layer, in order. */
export function assertSameImage(actual: OciImage, expected: OciImage, what: string): void {
    assert.equal(actual.manifest.digest, expected.manifest.digest, `${what}: manifest digest differs`);
    assert.equal(actual.config.digest, expected.config.digest, `${what}: config digest differs`);
    assert.deepEqual(
        actual.layers.map((l) => `${l.digest} ${l.size}`),
        expected.layers.map((l) => `${l.digest} ${l.size}`),
        `${what}: layer digests/sizes differ`,
    );
}

/**
 * Fetches every blob of `image` from the registry and checks nothing corrupt is served: each blob
 * is either absent (404) or its content hashes to its digest. Returns how many were present.
 */
export async function assertNoCorruptBlobs(registry: RegistryClient, repository: string, image: OciImage): Promise<{ present: number; absent: number }> {
    let present = 0;
    let absent = 0;
    for (const digest of [image.config.digest, ...image.layers.map((l) => l.digest)]) {
        let res = await registry.get(`/v2/${repository}/blobs/${digest}`, { maxBodyBytes: 0 });
        if (res.status === 404) {
            absent++;
            continue;
        }
        if (res.status === 307) {
            // Redirected to a presigned S3 URL (the program's default): what the client gets is what S3 serves.
            res = await request(String(res.headers.location), { maxBodyBytes: 0 });
        }
        assert.equal(res.status, 200, `GET blob ${digest} in ${repository}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
        assert.equal(res.digest, digest, `the registry served corrupt content for ${repository}@${digest}: it hashes to ${res.digest}`);
        present++;
    }
    return { present, absent };
}

/** Asserts the registry serves `repository:tag` with the expected manifest digest. */
export async function assertManifestServed(registry: RegistryClient, repository: string, tag: string, digest: string): Promise<void> {
    const res = await registry.get(`/v2/${repository}/manifests/${tag}`, {
        headers: { Accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
    });
    assert.equal(res.status, 200, `GET manifest ${repository}:${tag}: HTTP ${res.status} ${res.text().slice(0, 300)}`);
    assert.equal(res.digest, digest, `manifest ${repository}:${tag} content hashes to ${res.digest}, expected ${digest}`);
    assert.equal(res.headers["docker-content-digest"], digest, `Docker-Content-Digest header for ${repository}:${tag}`);
}

export const MB = 1_000_000;
