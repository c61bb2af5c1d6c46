/**
 * Check 3: the registry keeps nothing that matters outside the bucket. Stop it, start a brand-new
 * registry process behind a new front (new directory, new ports, new login) on the same bucket,
 * and everything pushed before pulls back intact.
 */
import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildOciImage, dockerRef, makeTempDir, ociRef, readAndVerifyOciImage, startFrontedRegistry, startStack } from "../harness";
import type { OciImage, Stack, TempDir } from "../harness";
import { assertManifestServed, assertSameImage, assertSucceeded, MB } from "./support";

describe("persistence across registry processes", () => {
    let stack: Stack;
    let work: TempDir;
    const images: { repository: string; tag: string; image: OciImage }[] = [];

    before(async () => {
        stack = await startStack({ name: "rehearsal-persistence" });
        work = makeTempDir("rehearsal-persistence-images");
        const layout = work.join("source");
        images.push({ repository: "team/api", tag: "1.0", image: await buildOciImage(layout, { layerSizes: [12 * MB, 3 * MB], tag: "1.0", compression: "gzip" }) });
        images.push({ repository: "team/api", tag: "1.1", image: await buildOciImage(layout, { layerSizes: [6 * MB], tag: "1.1" }) });
        images.push({ repository: "team/web", tag: "latest", image: await buildOciImage(layout, { layerSizes: [8 * MB, 1 * MB, 1 * MB], tag: "latest" }) });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("3) stop the registry, start a new process on the same bucket: every image pulls back intact", async () => {
        const { skopeo, certs, registry: first } = stack;
        for (const { repository, tag, image } of images) {
            const push = await skopeo.copy(ociRef(image.layoutDir, tag), dockerRef(first.host, repository, tag), { destCreds: first.login, destCertDir: certs.certDir });
            assertSucceeded(push, `push ${repository}:${tag}`, { registry: first, secrets: [first.login.password] });
        }
        await first.stop();
        assert.equal(first.running, false, "the first registry did not stop");
        const exit = first.process?.exitStatus;
        assert.ok(exit?.code === 0 || exit?.signal === "SIGTERM", `the first registry did not stop cleanly: ${JSON.stringify(exit)}\n${first.logTail()}`);

        // A new process that shares nothing with the first but the bucket (and the http secret, as replicas must).
        const second = await startFrontedRegistry(stack.tracker, {
            dir: stack.tmp.join("second"),
            s3: stack.s3Target,
            certs,
            users: [{ name: "second-login", role: "push" }],
            httpSecret: first.httpSecret,
        });
        assert.notEqual(second.port, first.port);
        assert.notEqual(second.backend.port, first.backend.port);

        const catalog = await second.get("/v2/_catalog");
        assert.equal(catalog.status, 200, `_catalog on the new process: HTTP ${catalog.status}`);
        assert.deepEqual(catalog.json<{ repositories: string[] }>().repositories, ["team/api", "team/web"], "_catalog on the new process");
        const apiTags = await second.get("/v2/team/api/tags/list");
        assert.deepEqual(apiTags.json<{ tags: string[] }>().tags.sort(), ["1.0", "1.1"], "tags of team/api on the new process");

        for (const { repository, tag, image } of images) {
            await assertManifestServed(second, repository, tag, image.manifest.digest);
            const dir = work.join("pulled", repository.replace("/", "_"));
            const pull = await skopeo.copy(dockerRef(second.host, repository, tag), ociRef(dir, tag), { srcCreds: second.login, srcCertDir: certs.certDir });
            assertSucceeded(pull, `pull ${repository}:${tag} from the new process`, { registry: second, secrets: [second.login.password] });
            assertSameImage(readAndVerifyOciImage(dir, tag), image, `${repository}:${tag} after the restart`);
        }
        // The old login is gone with the old htpasswd and Caddyfile: the state that persisted is the bucket only.
        const oldLogin = await second.get("/v2/", { auth: first.login });
        assert.equal(oldLogin.status, 401, "the first process's login still works on the second");
        // Nor does the registry itself know it: behind the front it checks logins with its own htpasswd.
        const oldLoginBehind = await second.backend.get("/v2/", { auth: first.login });
        assert.equal(oldLoginBehind.status, 401, "the first process's login still works on the second registry itself");
    });
});
