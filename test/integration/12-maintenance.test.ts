/**
 * Check 12: day two on real binaries. The program's start script, over SSH with podman as the
 * engine, installs the maintenance job; the job runs as systemd would run it: regbot applies the
 * retention rules, `registry garbage-collect --delete-untagged --dry-run` plans while pushes are
 * still taken, the registry is restarted read-only, the plan's candidates are sized and the
 * collection runs, the registry comes back read-write. Kept tags
 * pull intact, deleted ones 404, the bucket shrinks by what the job reports plus what it cannot
 * size; a push into the read-only window fails cleanly, collected layers can be pushed again,
 * and a deploy waits for the job's lock.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { renderDeployment, sslipHostname, type DeploymentInput } from "../../components/render/deployment";
import { DEFAULT_GC_SCHEDULE } from "../../components/render/maintenance";
import type { RetentionRules } from "../../components/render/retention";
import { hostLibDir, hostLockFile, renderStartScript } from "../../components/render/scripts";
import { shellQuote } from "../../components/render/shell";
import { REGBOT_IMAGE } from "../../components/versions";
import { describeRun, dockerRef, generateLogin, generateTestCertificates, LOOPBACK, makeTempDir, ociRef, ProcessTracker, programDeploymentInput } from "../harness";
import { readAndVerifyOciImage, request, S3Server, Skopeo, waitUntil, type OciImage, type TempDir, type TestCertificates } from "../harness";
import { addTag, buildImageCreatedAt, daysAgo } from "../harness/datedImages";
import { bundleWithDropletValues, dropletRetentionConfig, rehearseOnHost, withDropletValues, type HostRehearsal } from "../harness/host";
import type { DockerShim } from "../harness/podman";
import { startPodmanHost, type PodmanHost } from "../harness/podmanHost";
import { buildRegbotImage, scriptMessages } from "../harness/regbot";
import type { SshServer } from "../harness/sshd";
import { decodeBundleFiles } from "../support/bundle";
import { bucketChange, byOperation, engineSteps, LINK_BYTES, parseJobLog, requestsBySteps } from "./maintenance";
import { assertFailedWith, assertSameImage, assertSucceeded, MB } from "./support";

const BUCKET = "rehearsal-maintenance";
/** The private CA's certificate names the droplet's IP and its sslip.io name; here the IP is loopback. */
const SSLIP = sslipHostname(LOOPBACK);
const RULES: RetentionRules = { keepNewest: 2, protectPatterns: ["latest", "v%d+%.%d+%.%d+"] };
/** team/app: tag -> days since its image was created. `latest` is pushed three times, an hour apart, after these. */
const APP: [string, number][] = [["d1", 1], ["d2", 3], ["d3", 20], ["d4", 60], ["d5", 200], ["v1.2.3", 400]];
const TOOL: [string, number][] = [["t1", 2], ["t2", 5]];
// latest is the newest (#1) and protected, d1 #2; v1.2.3 and v0.9.0 (d4's image again) are protected;
// t3 is app's v1.2.3 image under a tag no rule keeps; w1 is pushed in the read-only test.
const KEPT: Record<string, string[]> = { "team/app": ["d1", "latest", "v0.9.0", "v1.2.3"], "team/tool": ["t1", "t2"], "team/window": ["w1"] };
const DELETED: Record<string, string[]> = { "team/app": ["d2", "d3", "d4", "d5"], "team/tool": ["t3"] };

describe("the maintenance job over real SSH: retention, a read-only window and garbage collection", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let s3: S3Server;
    let certs: TestCertificates;
    let ssh: SshServer;
    let shim: DockerShim;
    let skopeo: Skopeo;
    let input: DeploymentInput;
    let host: HostRehearsal;
    let lib: string;
    let registry: string;
    let droplet: PodmanHost;
    let containerName: string;
    const login = generateLogin();
    const images = new Map<string, OciImage>();
    /** The images garbage collection should take: untagged by retention or by a re-pushed latest. */
    const collected: OciImage[] = [];

    const push = (image: OciImage, repo: string, tag: string) =>
        skopeo.copy(ociRef(image.layoutDir, image.tag), dockerRef(registry, repo, tag), { destCreds: login, destCertDir: certs.certDir });
    const pushChecked = async (image: OciImage, repo: string, tag: string) => assertSucceeded(await push(image, repo, tag), `push ${repo}:${tag}`, { secrets: [login.password] });
    async function pullVerified(repo: string, tag: string, expected: OciImage): Promise<void> {
        const dir = tmp.join("pulled", `${repo.replace("/", "_")}-${tag}-${randomBytes(3).toString("hex")}`);
        const pull = await skopeo.copy(dockerRef(registry, repo, tag), ociRef(dir, tag), { srcCreds: login, srcCertDir: certs.certDir });
        assertSucceeded(pull, `pull ${repo}:${tag}`, { secrets: [login.password] });
        assertSameImage(readAndVerifyOciImage(dir, tag), expected, `${repo}:${tag}`);
    }
    const get = (path: string, method = "GET") =>
        request(`https://${registry}${path}`, { method, ca: certs.caCertPem, basicAuth: login, headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
    const tagsOf = async (repo: string) => ((await get(`/v2/${repo}/tags/list`)).json<{ tags: string[] | null }>().tags ?? []).sort();
    /**
     * As systemd runs ExecStart: a clean environment with a plain PATH (the docker shim first),
     * and a private TMPDIR (like PrivateTmp=) so the job's scratch files stay in this test's dir.
     */
    function asSystemd(program: string): string {
        fs.mkdirSync(tmp.join("host", "tmp"), { recursive: true, mode: 0o700 });
        return `exec env -i PATH=${shellQuote(droplet.remotePath)} TMPDIR=${shellQuote(tmp.join("host", "tmp"))} ${shellQuote(program)}`;
    }

    before(async () => {
        tmp = makeTempDir("rehearsal-maintenance");
        s3 = await S3Server.start(tracker, { dir: tmp.join("s3") });
        await s3.createBucket(BUCKET);
        certs = await generateTestCertificates(tracker, tmp.join("tls"), { hosts: [LOOPBACK, "localhost", SSLIP] });
        skopeo = new Skopeo(tracker, tmp.join("skopeo"));
        droplet = await startPodmanHost(tracker, { dir: tmp.path, namePrefix: "registry-maintenance", marks: s3.accessLogFile });
        ({ ssh, shim, containerName } = droplet);
        const regbot = await buildRegbotImage(tracker, { image: REGBOT_IMAGE, workDir: tmp.path });
        tracker.addCleanup("rehearsal regbot image", regbot.cleanup, regbot.cleanupSync);
        // Clients, regbot and the job's size queries reach the registry through its front.
        registry = `${LOOPBACK}:${droplet.ports.frontPort}`;
        // The program's input with retention rules and its default schedule. Blob pulls are not
        // redirected (redirectPullsToS3=false, a program setting): regbot refuses a redirect from
        // the https registry to the plain-http S3 stand-in. On AWS the redirect is https.
        const s3Target = { endpoint: "", region: s3.region, bucket: BUCKET, accessKey: s3.accessKey, secretKey: s3.secretKey };
        input = { ...programDeploymentInput({ s3: s3Target, login, httpSecret: randomBytes(36).toString("base64url"), certs, redirect: false }), gcSchedule: DEFAULT_GC_SCHEDULE, retention: RULES };
        host = rehearseOnHost(input, {
            containerName,
            frontContainerName: droplet.frontContainerName,
            image: droplet.image,
            root: tmp.join("host"),
            ...droplet.ports,
            s3Endpoint: s3.endpoint,
            healthTimeoutSeconds: 60,
        });
        lib = hostLibDir(host.start.configDir);
    });

    after(async () => {
        try {
            await tracker.dispose();
        } finally {
            tmp?.remove();
        }
    });

    test("12a) the start script (the program's but for loopback values) installs the job with retention, and the registry serves", async () => {
        const program = renderDeployment(input);
        assert.equal(renderStartScript(withDropletValues(host.start, input)), program.startScript, "the rehearsal's start input drifted from components/render/deployment.ts");
        const theirs = decodeBundleFiles(program.stdin);
        assert.equal(dropletRetentionConfig(input), theirs["retention.yml"], "the rehearsal's retention part drifted from deployment.ts");
        // retention.yml names the registry on the rehearsal's port instead of 443; nothing else differs.
        assert.equal(host.files["retention.yml"].split(`${SSLIP}:${registry.split(":")[1]}`).join(SSLIP), theirs["retention.yml"]);
        assert.deepEqual(bundleWithDropletValues(host, input), theirs, "the rehearsal's bundle differs from the program's by more than the swaps");

        const start = await ssh.exec(renderStartScript(host.start), { stdin: host.stdin, timeoutMs: 120_000 });
        assert.equal(start.code, 0, `the start script failed: ${describeRun(start)}`);
        assert.match(start.stdout, /registry is serving/, describeRun(start));
        for (const file of ["retention.yml", "retention-password", "config-readonly.yml", "bin/maintenance", "bin/run-registry", "bin/run-front", "bin/wait-serving"]) {
            assert.equal(fs.statSync(`${host.start.configDir}/${file}`).mode & 0o077, 0, `${file} is readable by group/others`);
        }
    });

    test("12b) a data set: dated tags in two repositories, an alias, one image under two repositories, latest pushed three times", async () => {
        const now = Date.now();
        const layout = (repo: string) => tmp.join("layouts", repo.replace("/", "_"));
        for (const [tag, age] of APP) {
            images.set(`team/app:${tag}`, await buildImageCreatedAt(layout("team/app"), tag, daysAgo(age, now), MB));
        }
        images.set("team/app:v0.9.0", addTag(images.get("team/app:d4")!, "v0.9.0"));
        for (const [tag, age] of TOOL) {
            images.set(`team/tool:${tag}`, await buildImageCreatedAt(layout("team/tool"), tag, daysAgo(age, now), MB));
        }
        images.set("team/tool:t3", images.get("team/app:v1.2.3")!);
        for (const [key, image] of images) {
            const [repo, tag] = key.split(":");
            await pushChecked(image, repo, tag);
        }
        // Each push of latest leaves the previous manifest untagged, with its own config and layer.
        for (const hoursAgo of [3, 2, 1]) {
            const image = await buildImageCreatedAt(layout("team/app"), "latest", daysAgo(hoursAgo / 24, now), MB);
            await pushChecked(image, "team/app", "latest");
            images.set("team/app:latest", image);
            collected.push(image);
        }
        collected.pop();
        collected.push(...["d2", "d3", "d5"].map((t) => images.get(`team/app:${t}`)!));
        assert.deepEqual(await tagsOf("team/app"), ["d1", "d2", "d3", "d4", "d5", "latest", "v0.9.0", "v1.2.3"]);
        assert.deepEqual(await tagsOf("team/tool"), ["t1", "t2", "t3"]);
    });

    test("12c) a push into the read-only window fails with the registry's 405 and leaves nothing; after the window it succeeds", async () => {
        const window = await buildImageCreatedAt(tmp.join("layouts", "window"), "w1", daysAgo(1), MB);
        const readOnly = await ssh.exec(`${shellQuote(`${lib}/run-registry`)} readonly && ${shellQuote(`${lib}/wait-serving`)}`, { timeoutMs: 120_000 });
        assert.equal(readOnly.code, 0, describeRun(readOnly));
        // Distribution v3.1.2 registers no write methods when read-only: its router answers 405.
        const post = await get("/v2/team/window/blobs/uploads/", "POST");
        assert.equal(post.status, 405, `POST an upload while read-only: HTTP ${post.status} ${post.text()}`);
        const refused = await push(window, "team/window", "w1");
        assertFailedWith(refused, /405|method not allowed/i, "a push into the read-only window");
        process.stdout.write(`# read-only: POST an upload -> HTTP ${post.status} ${JSON.stringify(post.text().trim())}; skopeo: ${refused.stderr.trim().split("\n").pop()}\n`);
        assert.equal((await get("/v2/team/window/manifests/w1")).status, 404, "the refused push left a tag");
        assert.deepEqual([...(await s3.listObjects(BUCKET)).keys()].filter((k) => k.includes("/_uploads/") || k.includes("team/window")), [], "the refused push left objects");
        await pullVerified("team/app", "d1", images.get("team/app:d1")!); // pulls go on
        const readWrite = await ssh.exec(`${shellQuote(`${lib}/run-registry`)} readwrite && ${shellQuote(`${lib}/wait-serving`)}`, { timeoutMs: 120_000 });
        assert.equal(readWrite.code, 0, describeRun(readWrite));
        await pushChecked(window, "team/window", "w1");
        images.set("team/window:w1", window);
        await pullVerified("team/window", "w1", window);
    });

    test("12d) the job as systemd runs it: the rules untag, GC collects while read-only, the bucket shrinks by what it reports plus what it cannot size", async () => {
        const objectsBefore = await s3.listObjects(BUCKET);
        const [callsBefore, marksBefore] = [shim.calls().length, shim.marks().length];
        const job = await ssh.exec(asSystemd(`${lib}/maintenance`), { timeoutMs: 300_000 });
        const accessLines = fs.readFileSync(s3.accessLogFile, "utf8").split("\n").length;
        assert.equal(job.code, 0, `the maintenance job failed: ${describeRun(job)}`);
        assert.deepEqual(fs.readdirSync(tmp.join("host", "tmp")), [], "the job left its scratch files");
        for (const secret of [login.password, s3.secretKey]) {
            assert.ok(!(job.stdout + job.stderr).includes(secret), "the job's output holds a secret");
        }
        assert.match(job.stdout, /^maintenance: retention: applying the tag rules$/m);
        assert.ok(scriptMessages(job.stderr).includes("retention: summary: 3 repositories, 12 tags, 7 kept, deleted 5, 0 left as changed, 0 failures"), scriptMessages(job.stderr).join("\n"));
        assert.match(job.stdout, /^maintenance: restarting the registry read-only: pulls go on, pushes are refused until the end$/m);
        const windowLine = /^maintenance: read-write again: pushes were refused for (\d+)s$/m.exec(job.stdout);
        assert.ok(windowLine !== null && Number(windowLine[1]) <= Math.ceil(job.durationMs / 1000), job.stdout);

        // The engine was asked for exactly these steps, in this order: GC only while read-only.
        const steps = engineSteps(shim.calls().slice(callsBefore), containerName);
        assert.deepEqual(
            steps,
            ["retention", "gc plan", "drain registry", "remove registry", "registry read-only", "gc", "drain registry", "remove registry", "registry read-write"],
            shim.calls().slice(callsBefore).join("\n"),
        );

        // What it says it deleted: the five collected images, each manifest, config and layer sized.
        const log = parseJobLog(job.stdout);
        const sizedExpected = new Map(collected.flatMap((image) => [image.manifest, image.config, ...image.layers]).map((d) => [d.digest, d.size]));
        assert.deepEqual(log.manifests.sort(), collected.map((image) => image.manifest.digest).sort(), job.stdout);
        assert.deepEqual(new Map([...log.sized].sort()), new Map([...sizedExpected].sort()), job.stdout);
        assert.deepEqual(log.unsized, [], job.stdout);
        const freed = [...sizedExpected.values()].reduce((a, b) => a + b, 0);
        assert.deepEqual({ ...log.done, seconds: 0 }, { seconds: 0, manifests: 5, blobs: 15, bytes: freed, unknown: 0 }, job.stdout);

        // The bucket: exactly those blobs went, they add up to what the job reported, and the
        // rest of the drop is what it does not size: the 71-byte link files.
        const objectsAfter = await s3.listObjects(BUCKET);
        const change = bucketChange(objectsBefore, objectsAfter);
        assert.deepEqual(change.other, new Map(), "objects other than blobs and links changed");
        // Retention: 5 tags x (current, index entry); GC: 5 revisions, 10 layer links, latest's 2 old index entries.
        assert.equal(change.links, 5 * 2 + 5 + 10 + 2, "link objects removed");
        assert.deepEqual([...change.blobs.keys()].sort(), [...sizedExpected.keys()].sort(), "the blobs that left the bucket");
        assert.equal([...sizedExpected.keys()].reduce((sum, d) => sum + change.blobs.get(d)!, 0), log.done?.bytes, "the sized blobs' bytes in S3");
        assert.equal(change.droppedBytes, freed + LINK_BYTES * change.links, "the bucket's drop, accounted");

        const phases = requestsBySteps(s3.accessLogFile, shim.marks().slice(marksBefore), accessLines);
        const all = phases.flatMap((p) => p.operations);
        const gc = phases.find((p) => p.call.includes("garbage-collect") && !p.call.includes("--dry-run"));
        const plan = phases.find((p) => p.call.includes("--dry-run"));
        const retention = phases.find((p) => p.call.includes(REGBOT_IMAGE));
        const total = (objects: Map<string, number>) => [...objects.values()].reduce((a, b) => a + b, 0);
        process.stdout.write(
            `# job: ${job.durationMs} ms (it says ${log.done?.seconds} s, read-only ${windowLine[1]} s); bucket ${total(objectsBefore)} -> ${total(objectsAfter)} bytes in ${objectsBefore.size} -> ${objectsAfter.size} objects\n` +
                `# freed ${freed} bytes reported; the bucket dropped ${change.droppedBytes}: + ${change.links} links of ${LINK_BYTES} bytes\n` +
                `# registry S3 requests in the job: ${all.length} (${byOperation(all)})\n` +
                `# retention (regbot): ${retention?.ms} ms, ${retention?.operations.length} registry S3 requests; gc plan (read-write): ${plan?.ms} ms, ${plan?.operations.length} requests (${byOperation(plan?.operations ?? [])}); gc: ${gc?.ms} ms, ${gc?.operations.length} requests (${byOperation(gc?.operations ?? [])})\n`,
        );
    });

    test("12e) afterwards: kept tags pull intact, deleted ones 404, collected manifests are gone, and the registry takes pushes again", async () => {
        for (const [repo, tags] of Object.entries(KEPT)) {
            assert.deepEqual(await tagsOf(repo), [...tags].sort(), `tags of ${repo}`);
            for (const tag of tags) {
                await pullVerified(repo, tag, images.get(`${repo}:${tag}`)!);
            }
        }
        for (const [repo, tags] of Object.entries(DELETED)) {
            for (const tag of tags) {
                assert.equal((await get(`/v2/${repo}/manifests/${tag}`)).status, 404, `${repo}:${tag} still answers`);
            }
        }
        for (const image of collected) {
            assert.equal((await get(`/v2/team/app/manifests/${image.manifest.digest}`)).status, 404, `collected manifest ${image.manifest.digest}`);
        }
        assert.equal((await get(`/v2/team/app/manifests/${images.get("team/app:d4")!.manifest.digest}`)).status, 200, "d4's manifest, still tagged v0.9.0");
        const fresh = await buildImageCreatedAt(tmp.join("layouts", "after"), "v1", daysAgo(0), MB);
        await pushChecked(fresh, "team/after", "v1");
        await pullVerified("team/after", "v1", fresh);
    });

    test("12f) a layer GC deleted can be pushed again and pulled: the restart emptied the blob-descriptor cache", async () => {
        const d3 = images.get("team/app:d3")!;
        const layer = d3.layers[0].digest;
        assert.equal((await get(`/v2/team/app/blobs/${layer}`, "HEAD")).status, 404, "the collected layer still answers");
        await pushChecked(d3, "team/app", "d3");
        assert.ok((await s3.listObjects(BUCKET)).has(`docker/registry/v2/blobs/sha256/${layer.slice(7, 9)}/${layer.slice(7)}/data`), "the re-push did not upload the layer");
        await pullVerified("team/app", "d3", d3);
    });

    test("12g) a deploy waits for the lock the job holds", async () => {
        const [held, released] = [tmp.join("lock-held"), tmp.join("lock-released")];
        const holder = ssh.exec(`flock ${shellQuote(hostLockFile(host.start.configDir))} sh -c 'touch ${held}; sleep 5; date +%s%3N > ${released}'`, { timeoutMs: 60_000 });
        await waitUntil(async () => (fs.existsSync(held) ? { done: true, value: undefined } : { done: false, seen: "not yet" }), { description: "the lock holder", timeoutMs: 15_000 });
        const marksBefore = shim.marks().length;
        const start = await ssh.exec(renderStartScript(host.start), { stdin: host.stdin, timeoutMs: 120_000 });
        assert.equal((await holder).code, 0);
        assert.equal(start.code, 0, describeRun(start));
        const firstCall = shim.marks()[marksBefore];
        assert.ok(firstCall.atMs >= Number(fs.readFileSync(released, "utf8")), `the start script called docker (${firstCall.call}) while the lock was held`);
    });
});
