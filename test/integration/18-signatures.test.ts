/**
 * Check 18: signatures and attestations through the maintenance job. Distribution v3.1.2 has no
 * referrers API, so clients keep their artefacts under fallback tags: `oras attach` the
 * referrers tag schema's index `sha256-<hex>` (and the artefact, untagged, with a `subject`),
 * cosign `sha256-<hex>.sig` / `.att` (pushed here with regctl in cosign's layout). The job runs as
 * systemd runs it on the droplet: retention with the rendered rules in the regbot container,
 * then `garbage-collect --delete-untagged` in the read-only window. Afterwards every artefact of
 * a kept image (one tagged by an alias, a platform of a kept index, an artefact of an artefact)
 * is still found by oras and pulls; every artefact of a deleted image is gone; and a fallback
 * tag, signed just now, took no place among the newest.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { sslipHostname } from "../../components/render/deployment";
import { DEFAULT_GC_SCHEDULE } from "../../components/render/maintenance";
import type { RetentionRules } from "../../components/render/retention";
import { hostLibDir, renderStartScript } from "../../components/render/scripts";
import { shellQuote } from "../../components/render/shell";
import { REGBOT_IMAGE } from "../../components/versions";
import { describeRun, dockerRef, generateLogin, generateTestCertificates, LOOPBACK, makeTempDir, ociRef, ProcessTracker, programDeploymentInput } from "../harness";
import { request, S3Server, Skopeo, type OciImage, type TempDir, type TestCertificates } from "../harness";
import { ArtifactClients, buildPlatformIndex, fallbackTag, GO_ZERO_TIME, type PlatformIndex } from "../harness/artifacts";
import { buildImageCreatedAt, daysAgo } from "../harness/datedImages";
import { rehearseOnHost, type HostRehearsal } from "../harness/host";
import { startPodmanHost, type PodmanHost } from "../harness/podmanHost";
import { buildRegbotImage, scriptMessages } from "../harness/regbot";
import { parseJobLog } from "./maintenance";
import { assertSucceeded } from "./support";

const BUCKET = "rehearsal-signatures";
const REPO = "team/signed";
const SSLIP = sslipHostname(LOOPBACK);
const RULES: RetentionRules = { keepNewest: 3, protectPatterns: ["v%d+"] };
const MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

describe("signatures and attestations through retention and garbage collection", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let s3: S3Server;
    let certs: TestCertificates;
    let droplet: PodmanHost;
    let host: HostRehearsal;
    let skopeo: Skopeo;
    let clients: ArtifactClients;
    let registry: string;
    const login = generateLogin();
    const images = new Map<string, OciImage>();
    let multi: PlatformIndex;
    /** Artefact manifests by name; the tags and what retention and collection must do with each. */
    const art = new Map<string, string>();
    const kept: string[] = [];
    const deleted: string[] = [];
    /** Manifest digests garbage collection must take, and those it must leave. */
    const collected = new Map<string, string>();
    const surviving = new Map<string, string>();

    const get = (path: string, method = "GET") => request(`https://${registry}${path}`, { method, ca: certs.caCertPem, basicAuth: login, headers: { Accept: MANIFEST_TYPES } });
    const tagsOf = async () => ((await get(`/v2/${REPO}/tags/list`)).json<{ tags: string[] | null }>().tags ?? []).sort();
    const push = async (layoutDir: string, tag: string, all = false) =>
        assertSucceeded(
            await skopeo.copy(ociRef(layoutDir, tag), dockerRef(registry, REPO, tag), { destCreds: login, destCertDir: certs.certDir, extraArgs: all ? ["--all"] : [] }),
            `push ${REPO}:${tag}`,
            { secrets: [login.password] },
        );
    const digestOf = (name: string) => images.get(name)?.manifest.digest ?? (name === "multi" ? multi.index.digest : art.get(name)!);

    before(async () => {
        tmp = makeTempDir("rehearsal-signatures");
        s3 = await S3Server.start(tracker, { dir: tmp.join("s3") });
        await s3.createBucket(BUCKET);
        certs = await generateTestCertificates(tracker, tmp.join("tls"), { hosts: [LOOPBACK, "localhost", SSLIP] });
        skopeo = new Skopeo(tracker, tmp.join("skopeo"));
        droplet = await startPodmanHost(tracker, { dir: tmp.path, namePrefix: "registry-signatures" });
        const regbot = await buildRegbotImage(tracker, { image: REGBOT_IMAGE, workDir: tmp.path });
        tracker.addCleanup("rehearsal regbot image", regbot.cleanup, regbot.cleanupSync);
        registry = `${LOOPBACK}:${droplet.ports.frontPort}`;
        // Not redirected: regbot refuses the https registry's redirect to the plain-http S3 stand-in.
        const s3Target = { endpoint: "", region: s3.region, bucket: BUCKET, accessKey: s3.accessKey, secretKey: s3.secretKey };
        const input = { ...programDeploymentInput({ s3: s3Target, login, httpSecret: randomBytes(36).toString("base64url"), certs, redirect: false }), gcSchedule: DEFAULT_GC_SCHEDULE, retention: RULES };
        host = rehearseOnHost(input, {
            containerName: droplet.containerName,
            frontContainerName: droplet.frontContainerName,
            image: droplet.image,
            root: tmp.join("host"),
            ...droplet.ports,
            s3Endpoint: s3.endpoint,
            healthTimeoutSeconds: 60,
        });
        const start = await droplet.ssh.exec(renderStartScript(host.start), { stdin: host.stdin, timeoutMs: 120_000 });
        assert.equal(start.code, 0, `the start script failed: ${describeRun(start)}`);
        clients = new ArtifactClients(tracker, tmp.join("clients"), registry, login, certs.caCertFile);
    });

    after(async () => {
        try {
            await tracker.dispose();
        } finally {
            tmp?.remove();
        }
    });

    test("18a) images, and artefacts attached by oras (tag schema) and cosign-style tags (regctl)", async () => {
        const now = Date.now();
        const layout = tmp.join("layouts", "signed");
        // keepNewest 3 keeps new, multi and mid; v1 and v2 are protected; old and rc1 fall out.
        for (const [tag, age] of [["new", 1], ["mid", 5], ["old", 100], ["rc1", 200], ["v1", 300]] as const) {
            images.set(tag, await buildImageCreatedAt(layout, tag, daysAgo(age, now)));
            await push(layout, tag);
        }
        // v2 is rc1's image again: the digest keeps a kept tag.
        assertSucceeded(await skopeo.copy(dockerRef(registry, REPO, "rc1"), dockerRef(registry, REPO, "v2"), { srcCreds: login, destCreds: login, srcCertDir: certs.certDir, destCertDir: certs.certDir }), "tag v2", { secrets: [login.password] });
        multi = await buildPlatformIndex(tmp.join("layouts", "multi"), "multi", daysAgo(3, now), ["linux/amd64", "linux/arm64"]);
        await push(multi.layoutDir, "multi", true);

        const v1 = digestOf("v1");
        const old = digestOf("old");
        art.set("v1 sbom", await clients.attach(`${REPO}:v1`, "application/spdx+json", "sbom of v1"));
        const firstIndex = (await get(`/v2/${REPO}/manifests/${fallbackTag(v1)}`)).headers["docker-content-digest"] as string;
        art.set("v1 provenance", await clients.attach(`${REPO}:v1`, "application/vnd.in-toto+json", "provenance of v1"));
        art.set("v1 sbom signature", await clients.attach(`${REPO}@${art.get("v1 sbom")}`, "application/vnd.cncf.notary.signature", "signature of v1's sbom"));
        art.set("v1 by api", await clients.attach(`${REPO}:v1`, "application/vnd.example.note", "no fallback tag", { api: true }));
        art.set("v1 .sig", await clients.pushCosignStyle(REPO, v1, "sig", GO_ZERO_TIME));
        // cosign --record-creation-timestamp: created now, newer than every image.
        art.set("new .att", await clients.pushCosignStyle(REPO, digestOf("new"), "att", new Date(now).toISOString().replace(/\.\d+Z$/, "Z")));
        art.set("rc1 .sig", await clients.pushCosignStyle(REPO, digestOf("rc1"), "sig", GO_ZERO_TIME));
        art.set("multi .sig", await clients.pushCosignStyle(REPO, multi.index.digest, "sig", GO_ZERO_TIME));
        art.set("multi arm64 sbom", await clients.attach(`${REPO}:multi`, "application/spdx+json", "sbom of multi on arm64", { platform: "linux/arm64" }));
        art.set("old sbom", await clients.attach(`${REPO}:old`, "application/spdx+json", "sbom of old"));
        art.set("old sbom signature", await clients.attach(`${REPO}@${art.get("old sbom")}`, "application/vnd.cncf.notary.signature", "signature of old's sbom"));
        art.set("old .sig", await clients.pushCosignStyle(REPO, old, "sig", GO_ZERO_TIME));

        const arm64 = multi.images["linux/arm64"].manifest.digest;
        kept.push("mid", "multi", "new", "v1", "v2", fallbackTag(v1), fallbackTag(v1, "sig"), fallbackTag(art.get("v1 sbom")!), fallbackTag(digestOf("new"), "att"));
        kept.push(fallbackTag(digestOf("rc1"), "sig"), fallbackTag(multi.index.digest, "sig"), fallbackTag(arm64));
        deleted.push("old", "rc1", fallbackTag(old), fallbackTag(old, "sig"), fallbackTag(art.get("old sbom")!));
        assert.deepEqual(await tagsOf(), [...kept, ...deleted].sort(), "the tags pushed");

        const indexOf = async (tag: string) => (await get(`/v2/${REPO}/manifests/${tag}`)).headers["docker-content-digest"] as string;
        // The superseded index: oras leaves it untagged (SkipReferrersGC), collection takes it.
        collected.set("v1's first referrers index", firstIndex);
        collected.set("v1 by api (a subject, no fallback tag)", art.get("v1 by api")!);
        for (const name of ["old", "old sbom", "old sbom signature", "old .sig"]) {
            collected.set(name, digestOf(name));
        }
        collected.set("old's referrers index", await indexOf(fallbackTag(old)));
        collected.set("old sbom's referrers index", await indexOf(fallbackTag(art.get("old sbom")!)));
        for (const name of ["new", "mid", "v1", "rc1", "multi", ...[...art.keys()].filter((n) => !n.startsWith("old") && n !== "v1 by api")]) {
            surviving.set(name, digestOf(name));
        }
        for (const platform of Object.keys(multi.images)) {
            surviving.set(`multi ${platform}`, multi.images[platform].manifest.digest);
        }
        for (const tag of [fallbackTag(v1), fallbackTag(art.get("v1 sbom")!), fallbackTag(arm64)]) {
            surviving.set(`index ${tag}`, await indexOf(tag));
        }
        assert.notEqual(firstIndex, surviving.get(`index ${fallbackTag(v1)}`), "the second attach left v1's referrers index as it was");
    });

    test("18b) the maintenance job: artefact tags follow the image they name, then collection takes what no tag holds", async () => {
        const lib = hostLibDir(host.start.configDir);
        fs.mkdirSync(tmp.join("host", "tmp"), { recursive: true, mode: 0o700 });
        const job = await droplet.ssh.exec(`exec env -i PATH=${shellQuote(droplet.remotePath)} TMPDIR=${shellQuote(tmp.join("host", "tmp"))} ${shellQuote(`${lib}/maintenance`)}`, { timeoutMs: 300_000 });
        assert.equal(job.code, 0, `the maintenance job failed: ${describeRun(job)}`);
        const messages = scriptMessages(job.stderr);
        process.stdout.write(`# retention:\n${messages.map((m) => `#   ${m}`).join("\n")}\n`);
        assert.deepEqual(await tagsOf(), [...kept].sort(), `the tags after the job\n${messages.join("\n")}`);
        assert.ok(messages.includes(`retention: summary: 1 repositories, ${kept.length + deleted.length} tags, ${kept.length} kept, deleted ${deleted.length}, 0 left as changed, 0 failures`), messages.join("\n"));
        const log = parseJobLog(job.stdout);
        assert.deepEqual(log.manifests.sort(), [...collected.values()].sort(), `the manifests collected\n${job.stdout}`);
    });

    test("18c) afterwards: every artefact of a kept image is found and pulls, those of a deleted image answer 404", async () => {
        for (const [name, digest] of surviving) {
            assert.equal((await get(`/v2/${REPO}/manifests/${digest}`)).status, 200, `${name} (${digest}) was collected`);
        }
        for (const [name, digest] of collected) {
            assert.equal((await get(`/v2/${REPO}/manifests/${digest}`)).status, 404, `${name} (${digest}) survived the collection`);
        }
        const found = (await clients.discover(`${REPO}:v1`)).map((r) => r.digest).sort();
        assert.deepEqual(found, [art.get("v1 sbom")!, art.get("v1 provenance")!].sort(), "oras discover v1");
        const arm64 = multi.images["linux/arm64"].manifest.digest;
        assert.deepEqual((await clients.discover(`${REPO}@${arm64}`)).map((r) => r.digest), [art.get("multi arm64 sbom")!], "oras discover multi's arm64 image");
        const files = await clients.pull(`${REPO}@${art.get("v1 sbom signature")}`, tmp.join("pulled"));
        assert.deepEqual(Object.values(files), ["signature of v1's sbom"], "the pulled signature of v1's sbom");
    });
});
