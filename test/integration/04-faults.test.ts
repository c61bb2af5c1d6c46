/**
 * Check 4: crashes in the middle of a large push. kill -9 the registry mid-push, restart it,
 * push again; then the same with the S3 server. Each time: the interrupted push fails, nothing
 * corrupt is served, the re-push succeeds and pulls back digest-for-digest, and the images
 * pushed before the crash are intact.
 */
import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildOciImage, dockerRef, makeTempDir, ociRef, readAndVerifyOciImage, REGISTRY_S3_USER_AGENT, sleep, startStack } from "../harness";
import type { OciImage, RunResult, Stack, TempDir } from "../harness";
import { assertManifestServed, assertNoCorruptBlobs, assertSameImage, assertSucceeded, MB } from "./support";

/** The big layer: large enough that a push is still running after a few 10 MiB parts. */
const BIG_LAYER = 160 * MB;
/** Inject the fault after the registry has uploaded this many multipart parts of the push. */
const PARTS_BEFORE_FAULT = 3;

describe("faults in the middle of a large push", () => {
    let stack: Stack;
    let work: TempDir;
    let old: OciImage;

    before(async () => {
        stack = await startStack({ name: "rehearsal-faults" });
        work = makeTempDir("rehearsal-faults-images");
        old = await buildOciImage(work.join("old"), { layerSizes: [8 * MB, 2 * MB], tag: "stable", compression: "gzip" });
        const push = await stack.skopeo.copy(ociRef(old.layoutDir, "stable"), dockerRef(stack.registry.host, "team/old", "stable"), {
            destCreds: stack.registry.login,
            destCertDir: stack.certs.certDir,
        });
        assertSucceeded(push, "push of the pre-existing image", { registry: stack.registry, secrets: [stack.registry.login.password] });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    /**
     * Starts a push and resolves once the registry has uploaded PARTS_BEFORE_FAULT parts of it,
     * the push still running. (The push is wrapped: an async function returning a bare promise
     * would wait for it.)
     */
    async function startPushAndWaitForParts(image: OciImage, repository: string): Promise<{ push: Promise<RunResult> }> {
        const { registry, skopeo, certs, s3 } = stack;
        const since = s3.operationCount();
        let finished = false;
        const push = skopeo
            .copy(ociRef(image.layoutDir, image.tag), dockerRef(registry.host, repository, image.tag), {
                destCreds: registry.login,
                destCertDir: certs.certDir,
                timeoutMs: 180_000,
            })
            .finally(() => {
                finished = true;
            });
        const deadline = Date.now() + 60_000;
        for (;;) {
            const parts = s3.operations({ since, userAgent: REGISTRY_S3_USER_AGENT }).filter((op) => op.operation === "UploadPart").length;
            if (parts >= PARTS_BEFORE_FAULT) {
                break;
            }
            if (finished) {
                const result = await push;
                assert.fail(`the push ended (exit ${result.code}) after only ${parts} uploaded parts, before the fault could be injected; make BIG_LAYER larger\n${result.stderr.slice(-1500)}`);
            }
            assert.ok(Date.now() < deadline, `no ${PARTS_BEFORE_FAULT} UploadPart requests within 60 s (saw ${parts})`);
            await sleep(25);
        }
        assert.equal(finished, false, "the push finished before the fault");
        return { push };
    }

    /** The pre-existing image still pulls back digest-for-digest. */
    async function assertOldImageIntact(label: string): Promise<void> {
        const { registry, skopeo, certs } = stack;
        await assertManifestServed(registry, "team/old", "stable", old.manifest.digest);
        const dir = work.join(`pulled-old-${label}`);
        const pull = await skopeo.copy(dockerRef(registry.host, "team/old", "stable"), ociRef(dir, "stable"), { srcCreds: registry.login, srcCertDir: certs.certDir });
        assertSucceeded(pull, `pull of the pre-existing image after ${label}`, { registry, secrets: [registry.login.password] });
        assertSameImage(readAndVerifyOciImage(dir, "stable"), old, `pre-existing image after ${label}`);
    }

    /** Re-pushes `image` and pulls it back digest-for-digest. */
    async function assertRepushWorks(image: OciImage, repository: string, label: string): Promise<void> {
        const { registry, skopeo, certs } = stack;
        const push = await skopeo.copy(ociRef(image.layoutDir, image.tag), dockerRef(registry.host, repository, image.tag), {
            destCreds: registry.login,
            destCertDir: certs.certDir,
            timeoutMs: 180_000,
        });
        assertSucceeded(push, `re-push after ${label}`, { registry, secrets: [registry.login.password] });
        await assertManifestServed(registry, repository, image.tag, image.manifest.digest);
        const dir = work.join(`pulled-${label}`);
        const pull = await skopeo.copy(dockerRef(registry.host, repository, image.tag), ociRef(dir, image.tag), { srcCreds: registry.login, srcCertDir: certs.certDir });
        assertSucceeded(pull, `pull after the re-push (${label})`, { registry, secrets: [registry.login.password] });
        assertSameImage(readAndVerifyOciImage(dir, image.tag), image, `re-pushed image (${label})`);
    }

    test("4a) kill -9 the registry mid-push, restart it, push again: re-push succeeds, old image intact, nothing corrupt served", async () => {
        const { registry } = stack;
        const image = await buildOciImage(work.join("big-a"), { layerSizes: [BIG_LAYER, 4 * MB], tag: "big" });
        const { push } = await startPushAndWaitForParts(image, "team/big-a");
        await registry.kill();
        assert.equal(registry.process?.exitStatus?.signal, "SIGKILL", "the registry was not killed by SIGKILL");
        const interrupted = await push;
        assert.notEqual(interrupted.code, 0, "the push survived the registry being killed (it should have failed)");

        await registry.restart();
        const served = await registry.get("/v2/team/big-a/manifests/big");
        assert.equal(served.status, 404, `the interrupted push left a servable manifest: HTTP ${served.status}`);
        const blobs = await assertNoCorruptBlobs(registry, "team/big-a", image);
        process.stdout.write(`# after the crash: ${blobs.present} blob(s) of the interrupted image complete, ${blobs.absent} absent; none corrupt\n`);
        await assertOldImageIntact("registry crash");
        await assertRepushWorks(image, "team/big-a", "registry-crash");
    });

    test("4b) kill -9 the S3 server mid-push, restart it, push again: re-push succeeds, old images intact, nothing corrupt served", async () => {
        const { registry, s3 } = stack;
        const image = await buildOciImage(work.join("big-b"), { layerSizes: [BIG_LAYER, 4 * MB], tag: "big" });
        const { push } = await startPushAndWaitForParts(image, "team/big-b");
        await s3.kill();
        assert.equal(s3.process?.exitStatus?.signal, "SIGKILL", "the S3 server was not killed by SIGKILL");
        const interrupted = await push;
        assert.notEqual(interrupted.code, 0, "the push succeeded although the S3 server died in the middle of it");
        assert.ok(registry.running, `the registry died with its S3 server:\n${registry.logTail()}`);
        // While S3 is down, nothing is served from a half-written bucket.
        const during = await registry.get("/v2/team/big-b/manifests/big");
        assert.notEqual(during.status, 200, "a manifest of the interrupted push was served while S3 was down");

        await s3.restart();
        await registry.waitUntilReady();
        const served = await registry.get("/v2/team/big-b/manifests/big");
        assert.equal(served.status, 404, `the interrupted push left a servable manifest: HTTP ${served.status}`);
        const blobs = await assertNoCorruptBlobs(registry, "team/big-b", image);
        process.stdout.write(`# after the S3 crash: ${blobs.present} blob(s) of the interrupted image complete, ${blobs.absent} absent; none corrupt\n`);
        await assertOldImageIntact("S3 crash");
        await assertRepushWorks(image, "team/big-b", "s3-crash");
        // The image re-pushed after the registry crash survived the S3 crash too.
        const earlier = await registry.get("/v2/team/big-a/tags/list");
        assert.deepEqual(earlier.json<{ tags: string[] }>().tags, ["big"], "team/big-a lost its tag in the S3 crash");
    });
});
