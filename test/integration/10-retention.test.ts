/**
 * Check 10: tag retention with the pinned regbot and the rendered config, against the real
 * registry behind the real front, as the droplet's job reaches it. Two repositories of dated images: with no rules nothing happens; a dry run prints
 * the plan and deletes nothing (also from a container, with the container's paths); the real run
 * leaves exactly the tags some rule keeps, the others answer 404, and the kept ones pull intact.
 * Then fallback tags (cosign's `sha256-<hex>.sig` and the like, pushed with regctl) in a dry run:
 * they follow the image they name and take no place among the newest (check 18 takes them
 * through the whole job with oras).
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { renderRetention, renderRetentionContainer, type RetentionInput, type RetentionRules } from "../../components/render/retention";
import { dockerRef, makeTempDir, ociRef, readAndVerifyOciImage, REGISTRY_S3_USER_AGENT, startStack, systemBinary } from "../harness";
import type { OciImage, Stack, TempDir } from "../harness";
import { ArtifactClients, fallbackTag, GO_ZERO_TIME } from "../harness/artifacts";
import { addTag, buildImageCreatedAt, daysAgo } from "../harness/datedImages";
import { buildRegbotImage, regbotBinary, runRegbot, type RegbotRun } from "../harness/regbot";
import { assertManifestServed, assertSameImage, assertSucceeded } from "./support";

/** Tag -> days since the image was created; null: no `created`; "epoch": a reproducible build's 1970. */
const APP: Record<string, number | null | "epoch"> = {
    a1: 1, a2: 3, a3: 10, a4: 20, a5: 45, a6: 90, a7: 200, a8: 400,
    latest: 500, "v1.0.0": 600, "v1.0.0-rc1": 700, undated: null, epoch: "epoch",
};
const OLD: Record<string, number> = { o1: 100, o2: 150, o3: 300 };
/** Second tags on an existing image: [repository, new tag, the tag it repeats]. */
const ALIASES: [string, string, string][] = [["team/app", "v0.9.0", "a8"], ["team/old", "o1b", "o1"]];

const RULES: RetentionRules = { keepNewest: 2, keepYoungerThanDays: 30, protectPatterns: ["^latest$", "^v%d+%.%d+%.%d+$"] };
// a1-a4 are younger than 30 days; a1, a2 and o1 (with o1b, the same image) are the newest two;
// latest, v1.0.0 and v0.9.0 are protected; undated and epoch have no usable age.
const KEPT: Record<string, string[]> = {
    "team/app": ["a1", "a2", "a3", "a4", "epoch", "latest", "undated", "v0.9.0", "v1.0.0"],
    "team/old": ["o1", "o1b"],
};
const DELETED: Record<string, string[]> = { "team/app": ["a5", "a6", "a7", "a8", "v1.0.0-rc1"], "team/old": ["o2", "o3"] };
const ALL_TAGS = (repo: string) => [...KEPT[repo], ...DELETED[repo]].sort();

describe("tag retention with regbot against the rehearsal registry", () => {
    let stack: Stack;
    let work: TempDir;
    const images = new Map<string, OciImage>();
    let passwordFile: string;

    const input = (rules: RetentionRules, dryRun: boolean, configName: string): RetentionInput => ({
        registryHost: stack.registry.host,
        username: stack.registry.login.username,
        files: { config: work.join(configName), password: passwordFile },
        rules,
        tls: { caFile: stack.certs.caCertFile },
        dryRun,
    });

    /**
     * Writes the rendered config, runs the pinned binary with the rendered arguments, counts the
     * registry requests it made: in the front's two logs, the access log for its logged-in
     * requests and the refusal log for the ones the front answers itself (the unauthenticated
     * first request). The logs hold no request headers, so not regbot's User-Agent either: every
     * line of the run counts, since nothing else talks to the registry while it runs.
     */
    const run = async (rules: RetentionRules, dryRun: boolean): Promise<RegbotRun & { requests: number }> => {
        const rendered = renderRetention(input(rules, dryRun, "retention.yml"));
        fs.writeFileSync(work.join("retention.yml"), rendered.config, { mode: 0o600 });
        const lines = () => stack.front.accessLog().length + stack.front.refusedLog().length;
        const logBefore = lines();
        const s3Before = stack.s3.operationCount();
        const result = await runRegbot(stack.tracker, regbotBinary(), rendered.args);
        assertSucceeded(result, `regbot ${rendered.args.join(" ")}`, { registry: stack.registry });
        const requests = lines() - logBefore;
        const s3 = stack.s3.operations({ since: s3Before, userAgent: REGISTRY_S3_USER_AGENT }).length;
        process.stderr.write(`[retention] ${dryRun ? "dry run" : "run"}: ${result.durationMs} ms, ${requests} registry requests, ${s3} S3 requests by the registry\n`);
        return { ...result, requests };
    };

    const tagsOf = async (repo: string): Promise<string[]> => {
        const res = await stack.registry.get(`/v2/${repo}/tags/list`);
        assert.equal(res.status, 200, `tags/list of ${repo}: HTTP ${res.status}`);
        return (res.json<{ tags: string[] | null }>().tags ?? []).sort();
    };

    before(async () => {
        // The registry streams blobs itself here: regclient refuses the program's redirect to a
        // presigned URL when it goes from https to http, as the plain-HTTP S3 stand-in's would
        // (AWS S3 is https, so on a droplet the redirect stays).
        stack = await startStack({ name: "rehearsal-retention", redirect: false });
        work = makeTempDir("rehearsal-retention-work");
        passwordFile = work.join("registry-password");
        fs.writeFileSync(passwordFile, `${stack.registry.login.password}\n`, { mode: 0o600 });
        const now = Date.now();
        const created = (age: number | null | "epoch") => (age === null ? undefined : age === "epoch" ? "1970-01-01T00:00:00Z" : daysAgo(age, now));
        for (const [repo, ages] of [["team/app", APP], ["team/old", OLD]] as const) {
            for (const [tag, age] of Object.entries(ages)) {
                images.set(`${repo}:${tag}`, await buildImageCreatedAt(work.join("layout", repo), tag, created(age)));
            }
        }
        for (const [repo, tag, of] of ALIASES) {
            images.set(`${repo}:${tag}`, addTag(images.get(`${repo}:${of}`)!, tag));
        }
        const r = stack.registry;
        for (const [key, image] of images) {
            const [repo, tag] = key.split(":");
            await stack.skopeo.copyChecked(ociRef(image.layoutDir, tag), dockerRef(r.host, repo, tag), { destCreds: r.login, destCertDir: stack.certs.certDir });
        }
        assert.deepEqual(await tagsOf("team/app"), ALL_TAGS("team/app"));
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("10a) no rules: every tag stays, and the registry is not even asked", async () => {
        const result = await run({}, false);
        assert.ok(result.messages.some((m) => /no rules set, every tag is kept/.test(m)), result.messages.join("\n"));
        assert.equal(result.requests, 0, "requests with no rules");
        for (const repo of Object.keys(KEPT)) {
            assert.deepEqual(await tagsOf(repo), ALL_TAGS(repo), `tags of ${repo} after a run with no rules`);
        }
    });

    test("10b) dry run: the plan names exactly the tags to delete, and nothing is deleted", async () => {
        const result = await run(RULES, true);
        const planned = result.messages.flatMap((m) => /^retention: would delete [^/]+\/(\S+) \(/.exec(m)?.[1] ?? []);
        const expected = Object.entries(DELETED).flatMap(([repo, tags]) => tags.map((t) => `${repo}:${t}`));
        assert.deepEqual(planned.sort(), expected.sort(), `planned deletions:\n${result.messages.join("\n")}`);
        assert.ok(!/Delete tag/.test(result.stderr), "a dry run called tag.delete");
        for (const repo of Object.keys(KEPT)) {
            assert.deepEqual(await tagsOf(repo), ALL_TAGS(repo), `tags of ${repo} after the dry run`);
        }
        // _catalog (401, one page, the empty page after it), tags/list per repository, manifest + config per tag.
        const tags = images.size;
        assert.equal(result.requests, 3 + 2 + 2 * tags, "registry requests of the dry run");
    });

    test("10c) the same dry run from a container (the rendered docker arguments, podman standing in)", async () => {
        const built = await buildRegbotImage(stack.tracker, { image: "localhost/registry-rehearsal/regbot:retention", workDir: work.path });
        try {
            const rendered = renderRetentionContainer(input(RULES, true, "retention-container.yml"), built.image);
            fs.writeFileSync(work.join("retention-container.yml"), rendered.config, { mode: 0o600 });
            assert.equal(rendered.dockerArgs[0], "run");
            const podmanArgs = ["--runtime", "runc", "run", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096", ...rendered.dockerArgs.slice(1)];
            const result = await runRegbot(stack.tracker, systemBinary("podman"), podmanArgs);
            assertSucceeded(result, "regbot in a container", { registry: stack.registry });
            const deletions = result.messages.filter((m) => m.startsWith("retention: would delete "));
            assert.equal(deletions.length, Object.values(DELETED).flat().length, result.messages.join("\n"));
        } finally {
            await built.cleanup();
        }
    });

    test("10d) the real run: exactly the kept tags remain, the others 404, the kept ones pull intact", async () => {
        const result = await run(RULES, false);
        const deletedCount = Object.values(DELETED).flat().length;
        assert.ok(result.messages.some((m) => m.includes(`deleted ${deletedCount}, 0 left as changed, 0 failures`)), result.messages.join("\n"));
        const r = stack.registry;
        for (const [repo, kept] of Object.entries(KEPT)) {
            assert.deepEqual(await tagsOf(repo), [...kept].sort(), `tags of ${repo} after retention`);
            for (const tag of DELETED[repo]) {
                const res = await r.get(`/v2/${repo}/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
                assert.equal(res.status, 404, `${repo}:${tag} still answers HTTP ${res.status}`);
            }
            for (const tag of kept) {
                const image = images.get(`${repo}:${tag}`)!;
                await assertManifestServed(r, repo, tag, image.manifest.digest);
                const dir = work.join("pulled", repo, tag);
                const pull = await stack.skopeo.copy(dockerRef(r.host, repo, tag), ociRef(dir, tag), { srcCreds: r.login, srcCertDir: stack.certs.certDir });
                assertSucceeded(pull, `pull ${repo}:${tag}`, { registry: r, secrets: [r.login.password] });
                assertSameImage(readAndVerifyOciImage(dir, tag), image, `${repo}:${tag} after retention`);
            }
        }
        // Untagging is all retention does: a8's manifest stays for v0.9.0, and garbage collection takes the rest.
        const a8 = images.get("team/app:a8")!;
        await assertManifestServed(r, "team/app", a8.manifest.digest, a8.manifest.digest);
        // As the dry run, plus a HEAD (is it still the planned manifest?) and a DELETE per deleted tag.
        assert.equal(result.requests, 3 + 2 + 2 * images.size + 2 * deletedCount, "registry requests of the real run");
    });

    test("10e) a second run finds nothing more to delete", async () => {
        const result = await run(RULES, false);
        assert.ok(result.messages.some((m) => m.includes("deleted 0, 0 left as changed, 0 failures")), result.messages.join("\n"));
        for (const [repo, kept] of Object.entries(KEPT)) {
            assert.deepEqual(await tagsOf(repo), [...kept].sort(), `tags of ${repo} after a second run`);
        }
    });

    test("10f) fallback tags follow the image they name: never ranked, kept with it, planned for deletion without it", async () => {
        const repo = "team/attached";
        const r = stack.registry;
        const now = Date.now();
        const pushed = new Map<string, string>();
        for (const [tag, age] of [["x1", 1], ["x2", 400], ["x3", 500]] as const) {
            const image = await buildImageCreatedAt(work.join("layout", repo), tag, daysAgo(age, now));
            await stack.skopeo.copyChecked(ociRef(image.layoutDir, tag), dockerRef(r.host, repo, tag), { destCreds: r.login, destCertDir: stack.certs.certDir });
            pushed.set(tag, image.manifest.digest);
        }
        const [x1, x3] = [pushed.get("x1")!, pushed.get("x3")!];
        const clients = new ArtifactClients(stack.tracker, work.join("clients"), r.host, r.login, stack.certs.caCertFile);
        // Signed just now (cosign --record-creation-timestamp): ranked, it would push x2 out of the newest two.
        await clients.pushCosignStyle(repo, x1, "att", new Date(now).toISOString().replace(/\.\d+Z$/, "Z"));
        await clients.pushCosignStyle(repo, x3, "sig", GO_ZERO_TIME);
        await clients.pushCosignStyle(repo, x3, "sbom", GO_ZERO_TIME);
        const nowhere = `sha256:${randomBytes(32).toString("hex")}`;
        await clients.pushCosignStyle(repo, nowhere, "sig", GO_ZERO_TIME);
        // The name of a fallback tag on the very manifest it names: an image, ranked with x3.
        await stack.skopeo.copyChecked(dockerRef(r.host, repo, "x3"), dockerRef(r.host, repo, fallbackTag(x3)), { srcCreds: r.login, destCreds: r.login, srcCertDir: stack.certs.certDir, destCertDir: stack.certs.certDir });

        const result = await run({ ...RULES, keepYoungerThanDays: undefined, protectPatterns: [...(RULES.protectPatterns ?? []), "sha256%-%x+%.sbom"] }, true);
        const mine = (verb: string) =>
            new Map(result.messages.flatMap((m) => {
                const match = new RegExp(`^retention: ${verb} [^/]+/${repo}:(\\S+) \\((.*)\\)$`).exec(m);
                return match === null ? [] : [[match[1], match[2]] as const];
            }));
        const planned = mine("would delete");
        const keptHere = mine("keep");
        assert.deepEqual([...planned.keys()].sort(), ["x3", fallbackTag(x3), fallbackTag(x3, "sig"), fallbackTag(nowhere, "sig")].sort(), result.messages.join("\n"));
        assert.deepEqual([...keptHere.keys()].sort(), ["x1", "x2", fallbackTag(x1, "att"), fallbackTag(x3, "sbom")].sort(), result.messages.join("\n"));
        assert.match(keptHere.get("x2")!, /^newest #2$/);
        assert.match(keptHere.get(fallbackTag(x1, "att"))!, new RegExp(`^attached to ${x1}, which stays$`));
        assert.match(keptHere.get(fallbackTag(x3, "sbom"))!, /^protected$/);
        assert.match(planned.get(fallbackTag(x3))!, /newest #3$/);
        assert.match(planned.get(fallbackTag(nowhere, "sig"))!, new RegExp(`^attached to ${nowhere}, which no kept tag holds$`));
    });
});
