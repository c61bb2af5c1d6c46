/**
 * Check 21: replicas behind the balancer, on droplet twins deployed as `pulumi up` deploys them
 * (test/harness/twinLab.ts with `replicas`): the program planned with replicas=3 and the private
 * CA, a twin for each replica host, and Debian's haproxy standing in for DigitalOcean's load
 * balancer (test/harness/balancer.ts: TCP on 443, round robin, PROXY v1 on every connection and
 * health check, the program's health check numbers). Every request below is a real client's, in a
 * client namespace, through haproxy.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { BALANCER_HEALTH_CHECK, balancerDetectionSeconds, balancerDrain, replicaName } from "../../components/render/balancer";
import { CONTAINER_NAME, FRONT_ACCESS_LOG, FRONT_REFUSED_LOG, HOST_CONFIG_DIR } from "../../components/render/deployment";
import { GC_CONTAINER_NAME, MAINTENANCE_SERVICE } from "../../components/render/maintenance";
import { CONFIG_FILE_FOR_MODE } from "../../components/render/registryRun";
import { DRAIN_MARKER_FILE, hostLibDir, hostLockFile, SHUTDOWN_DRAIN_SERVICE } from "../../components/render/scripts";
import { FAIL2BAN_DEFAULTS, FAIL2BAN_JAIL_NAME } from "../../components/render/fail2ban";
import { buildOciImage, readAndVerifyOciImage, type Descriptor, type OciImage } from "../harness/oci";
import type { RunResult } from "../harness/processes";
import { dockerRef, ociRef } from "../harness/skopeo";
import { systemBinary } from "../harness/tools";
import { REPLICA_HOST, replicaRole, TwinLab } from "../harness/twinLab";
import { PullLoop, PushLoop, registryStatus, scanTcp } from "../harness/twinProbe";
import { sleep, waitUntil } from "../harness/wait";
import { assertSameImage, assertSucceeded, MB } from "./support";

/**
 * Three replicas: a collection must hold more than one other replica still, and a rolling
 * upgrade must keep two in the pool while the third is out. TWIN_REPLICAS=2 runs a shorter check
 * (each twin adds its boot, its images, its deploy and its turn in the upgrade).
 */
const REPLICAS = Number(process.env.TWIN_REPLICAS ?? 3);

/**
 * How long check g holds the other replicas from joining the window before it freezes the first:
 * a collection of the lab's few blobs takes a second or two.
 */
const COLLECTOR_HELD_MS = 10_000;

/**
 * From power-on to the balancer's pool: the boot (about 10 s here, check 16) and the healthy
 * threshold's checks, with room for a loaded CI machine.
 */
const REJOIN_BOUND_MS = 120_000;

interface Login {
    username: string;
    password: string;
    role: string;
}

/** One line of a front's access log (Caddy's JSON, with the fields front.ts keeps). */
interface AccessLine {
    request: { remote_ip: string; client_ip: string; method: string; uri: string };
    status: number;
}

interface CurlAnswer {
    status: number;
    location?: string;
    result: RunResult;
}

describe("replicas behind the stand-in balancer, on droplet twins deployed as pulumi up deploys them", () => {
    let lab: TwinLab;
    let users: Record<string, Login>;
    let registry: string;
    let caFile: string;

    before(async () => {
        lab = await TwinLab.start({
            name: "twin-21",
            replicas: REPLICAS,
            extraClients: ["client-2"],
            log: (line) => process.stderr.write(`${line}\n`),
        });
        await lab.deploy();
        users = lab.plan.outputs.registryUsers as Record<string, Login>;
        registry = String(lab.plan.outputs.registryHost);
        caFile = path.join(lab.skopeoIn("client").certDir, "ca.crt");
    });

    after(async () => {
        await lab?.dispose();
    });

    function pushUser(): Login {
        const found = Object.values(users).find((u) => u.role === "push");
        assert.ok(found !== undefined, "the stack has a push user");
        return found;
    }

    /** Each replica's access log (or refusal log), parsed, in replica order. */
    function accessLogs(log: string = FRONT_ACCESS_LOG): AccessLine[][] {
        return lab.twins.map((twin) => {
            const file = twin.file(log);
            const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
            return text
                .split("\n")
                .filter((line) => line.trim() !== "")
                .map((line) => JSON.parse(line) as AccessLine);
        });
    }

    /**
     * One request on a connection of its own (curl exits after it), from `role`'s namespace, with
     * the login on curl's stdin: the balancer's round robin gives each the next replica.
     */
    async function curl(role: string, method: string, url: string, options: { login?: Login; body?: string; headers?: string[]; extra?: string[] } = {}): Promise<CurlAnswer> {
        const headersFile = lab.tmp.join(`curl-headers-${role}`);
        const args = ["-sS", "--http1.1", "-K", "-", "--cacert", caFile, "--max-time", "60", "-D", headersFile, "-o", "/dev/null", "-w", "%{http_code}", "-X", method];
        for (const header of options.headers ?? []) args.push("-H", header);
        if (options.body !== undefined) args.push("--data-binary", `@${options.body}`);
        args.push(...(options.extra ?? []), url);
        const login = options.login;
        const result = await lab.trackerIn(role).run(systemBinary("curl"), args, {
            input: login === undefined ? "" : `user = "${login.username}:${login.password}"\n`,
            timeoutMs: 90_000,
            secrets: login === undefined ? [] : [login.password],
        });
        const headers = fs.existsSync(headersFile) ? fs.readFileSync(headersFile, "utf8") : "";
        fs.rmSync(headersFile, { force: true });
        const location = /^location:\s*(\S+)/im.exec(headers)?.[1];
        return { status: Number(result.stdout.trim()) || 0, location: location === undefined ? undefined : new URL(location, url).toString(), result };
    }

    /**
     * A blob pushed as a client pushes it, each request on a new connection: POST, a PATCH per
     * chunk with its Content-Range, then the PUT with the digest. Returns the upload's id.
     */
    async function uploadAcrossConnections(repository: string, blob: Descriptor, layoutDir: string, chunks: number): Promise<string> {
        const file = path.join(layoutDir, "blobs", ...blob.digest.split(":"));
        const bytes = fs.readFileSync(file);
        const started = await curl("client", "POST", `https://${registry}/v2/${repository}/blobs/uploads/`, { login: pushUser() });
        assert.equal(started.status, 202, `the upload's POST: HTTP ${started.status} ${started.result.stderr}`);
        let location = started.location;
        assert.ok(location !== undefined, "the POST gave the upload's Location");
        const id = /\/blobs\/uploads\/([^/?]+)/.exec(location)?.[1];
        assert.ok(id !== undefined, `an upload id in ${location}`);
        const size = Math.ceil(bytes.length / chunks);
        for (let start = 0; start < bytes.length; start += size) {
            const piece = bytes.subarray(start, Math.min(bytes.length, start + size));
            const chunkFile = lab.tmp.join("chunk");
            fs.writeFileSync(chunkFile, piece);
            const patched = await curl("client", "PATCH", location, {
                login: pushUser(),
                body: chunkFile,
                headers: ["Content-Type: application/octet-stream", `Content-Range: ${start}-${start + piece.length - 1}`],
            });
            assert.equal(patched.status, 202, `PATCH of bytes ${start}-${start + piece.length - 1}: HTTP ${patched.status} ${patched.result.stderr}`);
            location = patched.location;
            assert.ok(location !== undefined, "the PATCH gave the next Location");
        }
        const target = new URL(location);
        target.searchParams.set("digest", blob.digest);
        const done = await curl("client", "PUT", target.toString(), { login: pushUser(), headers: ["Content-Length: 0"] });
        assert.equal(done.status, 201, `the upload's PUT: HTTP ${done.status} ${done.result.stderr}`);
        return id;
    }

    test("clients reach the replicas only through the balancer: the cloud firewall admits it alone on 443", async () => {
        for (let index = 0; index < REPLICAS; index++) {
            const open = await scanTcp(lab.trackerIn("client"), lab.twins[index].address, [22, 443]);
            assert.deepEqual(open, [], `ports of ${replicaName(REPLICA_HOST, index)} answering a client directly`);
        }
        const balancer = await scanTcp(lab.trackerIn("client"), registry, [22, 443]);
        assert.deepEqual(balancer, [443], "ports the balancer answers");
    });

    test("a. an upload whose requests land on different replicas completes, and the image pulls back identical", async () => {
        assert.equal(registry, lab.net.hosts.balancer.address, "the registry's address is the balancer's");
        const image = await buildOciImage(lab.tmp.join("image-a"), { layerSizes: [3 * MB, 2 * MB], tag: "split" });
        const repository = "team/split";
        const ids: string[] = [];
        for (const blob of [image.config, ...image.layers]) {
            ids.push(await uploadAcrossConnections(repository, blob, image.layoutDir, blob.size > MB ? 3 : 1));
        }
        const manifestFile = path.join(image.layoutDir, "blobs", ...image.manifest.digest.split(":"));
        const tagged = await curl("client", "PUT", `https://${registry}/v2/${repository}/manifests/split`, {
            login: pushUser(),
            body: manifestFile,
            headers: [`Content-Type: ${image.manifest.mediaType}`],
        });
        assert.equal(tagged.status, 201, `the manifest's PUT: HTTP ${tagged.status} ${tagged.result.stderr}`);

        // An upload's id is in the path of its PATCHes and its PUT (the POST made it): each upload
        // was carried on by more than one replica, and every replica took part.
        const logs = accessLogs();
        for (const id of ids) {
            const servedBy = logs.map((lines) => lines.filter((l) => l.request.uri.includes(id)).map((l) => `${l.request.method} ${l.status}`));
            assert.ok(
                servedBy.filter((requests) => requests.length > 0).length >= 2,
                `upload ${id} was served by ${servedBy.map((r, i) => `${replicaName(REPLICA_HOST, i)}: ${r.join(", ") || "nothing"}`).join("; ")}`,
            );
        }
        const idle = logs.map((lines, i) => (lines.some((l) => ids.some((id) => l.request.uri.includes(id))) ? undefined : replicaName(REPLICA_HOST, i))).filter((name) => name !== undefined);
        assert.deepEqual(idle, [], "replicas that served no part of the uploads");
        const posts = logs.map((lines) => lines.filter((l) => l.request.method === "POST" && l.request.uri.startsWith(`/v2/${repository}/blobs/uploads/`)).length);
        process.stderr.write(`[replicas] ${ids.length} uploads across connections: POSTs per replica ${posts.join(", ")}\n`);

        const { skopeo, certDir } = lab.skopeoIn("client");
        const pulled = lab.tmp.join("pulled-a");
        assertSucceeded(await skopeo.copy(dockerRef(registry, repository, "split"), ociRef(pulled, "split"), { srcCreds: pushUser(), srcCertDir: certDir, timeoutMs: 180_000 }), "the pull");
        assertSameImage(readAndVerifyOciImage(pulled, "split"), image, "pulled after a split upload");
    });

    test("c. each front's access log records the client's own address, from the PROXY header, not the balancer's, whose own requests are its passing health checks", () => {
        const logs = accessLogs();
        const client = lab.net.hosts.client.address;
        for (const [index, lines] of logs.entries()) {
            // The deploy's own checks log in over the droplet's loopback; the client's requests are step a's.
            const clients = lines.filter((l) => l.request.uri.startsWith("/v2/team/split/"));
            assert.ok(clients.length > 0, `${replicaName(REPLICA_HOST, index)} logged step a's requests`);
            const addresses = [...new Set(clients.flatMap((l) => [l.request.remote_ip, l.request.client_ip]))];
            assert.deepEqual(addresses, [client], `addresses in ${replicaName(REPLICA_HOST, index)}'s access log (the balancer is ${lab.net.hosts.balancer.address})`);
            const balancer = lines.filter((l) => l.request.remote_ip === lab.net.hosts.balancer.address);
            assert.deepEqual(balancer, [], `${replicaName(REPLICA_HOST, index)} logged requests as the balancer's`);
        }
        // The balancer's own requests are its health checks, through PROXY too: served, and no failed login for fail2ban.
        for (const [index, lines] of accessLogs(FRONT_REFUSED_LOG).entries()) {
            const checks = lines.filter((l) => l.request.remote_ip === lab.net.hosts.balancer.address);
            assert.ok(checks.length > 0, `${replicaName(REPLICA_HOST, index)} logged the balancer's health checks`);
            const other = checks.filter((l) => !(l.request.method === "GET" && l.request.uri === "/" && l.status === 200)).map((l) => `${l.request.method} ${l.request.uri} ${l.status}`);
            assert.deepEqual(other, [], `${replicaName(REPLICA_HOST, index)}'s answers to the balancer other than its health check's 200`);
        }
    });

    test("d. the balancer's network may connect without a header and is served as itself; a header from outside it is refused", async () => {
        // A lab-only opening in the cloud firewall, for what the front does with peers the
        // firewall lets through: the program's own firewall admits the balancer alone.
        const twin = lab.twins[0];
        const peers = [lab.net.hosts["vpc-peer"].address, lab.net.hosts["client-2"].address].map((a) => `${a}/32`);
        lab.net.applyCloudFirewall(replicaRole(0), [...lab.cloudFirewallRules(0), { protocol: "tcp", portRange: "443", sourceAddresses: peers }]);
        try {
            // The certificate names the balancer's address; the peers connect to the twin's.
            const resolve = ["--connect-to", `${registry}:443:${twin.address}:443`];
            const url = `https://${registry}/v2/`;
            const plain = await curl("vpc-peer", "GET", url, { login: pushUser(), extra: resolve });
            assert.equal(plain.status, 200, `a header-less request from the balancer's network: ${plain.result.stderr}`);
            const logged = accessLogs()[0].filter((l) => l.request.remote_ip === lab.net.hosts["vpc-peer"].address);
            assert.ok(logged.length > 0, "the front logged the peer as itself");

            const claimed = await curl("client-2", "GET", url, { login: pushUser(), extra: [...resolve, "--haproxy-protocol"] });
            assert.equal(claimed.status, 0, `a PROXY header from outside the balancer's network was answered: HTTP ${claimed.status}`);
            const unclaimed = await curl("client-2", "GET", url, { login: pushUser(), extra: resolve });
            assert.equal(unclaimed.status, 200, `the same peer without a header: ${unclaimed.result.stderr}`);
        } finally {
            lab.applyCloudFirewalls();
        }
    });

    test("e. a client guessing passwords through the balancer is refused by every replica, and its neighbour is not", async () => {
        const wrong = { ...pushUser(), password: "not-the-password" };
        const url = `https://${registry}/v2/`;
        // Each replica counts only the failures the balancer sent it: round robin gives each its
        // jail's count after maxRetry × replicas failures.
        const failures = FAIL2BAN_DEFAULTS.maxRetry * REPLICAS;
        for (let i = 0; i < failures; i++) {
            const answer = await curl("client-2", "GET", url, { login: wrong });
            assert.equal(answer.status, 401, `wrong login ${i + 1}: HTTP ${answer.status}`);
        }
        const guesser = lab.net.hosts["client-2"].address;
        const jails = async () => {
            const states = await Promise.all(lab.twins.map(async (twin) => `${(await twin.exec(`fail2ban-client status ${FAIL2BAN_JAIL_NAME}; iptables -w -S f2b-${FAIL2BAN_JAIL_NAME}`)).stdout}`));
            return states.map((state, i) => {
                const number = (label: string) => new RegExp(`${label}:\\s+(\\d+)`).exec(state)?.[1] ?? "?";
                return `${replicaName(REPLICA_HOST, i)}: ${number("Total failed")} failures counted, ${state.includes(guesser) ? "the guesser banned" : "the guesser not banned"}`;
            });
        };
        // One request for each replica in turn: every one of them must refuse the guesser.
        await waitUntil(
            async () => {
                const answers: number[] = [];
                for (let i = 0; i < REPLICAS; i++) answers.push((await curl("client-2", "GET", url, { login: pushUser() })).status);
                return answers.every((status) => status === 0) ? { done: true, value: undefined } : { done: false, seen: `HTTP ${answers.join(", ")}; ${(await jails()).join("; ")}` };
            },
            { description: "every replica to refuse the guessing client", timeoutMs: 20_000, intervalMs: 500 },
        );
        process.stderr.write(`[replicas] after ${failures} wrong logins through the balancer: ${(await jails()).join("; ")}\n`);
        for (let i = 0; i < REPLICAS; i++) {
            assert.equal((await curl("client", "GET", url, { login: pushUser() })).status, 200, `the neighbour logs in (request ${i + 1})`);
        }
    });

    /** Lines of each replica's access log from `from` on (the lengths an earlier accessLogs() gave). */
    function linesSince(from: number[]): AccessLine[][] {
        return accessLogs().map((lines, i) => lines.slice(from[i] ?? 0));
    }

    test("f. a blob deleted through one replica is gone through the other: no replica answers from a descriptor it cached before the delete", async () => {
        const { skopeo, certDir } = lab.skopeoIn("client");
        const image = await buildOciImage(lab.tmp.join("image-f"), { layerSizes: [MB, MB / 2], tag: "gone" });
        const repository = "team/gone";
        assertSucceeded(await skopeo.copy(ociRef(image.layoutDir, "gone"), dockerRef(registry, repository, "gone"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 }), "the push");
        const blobs = [image.config, ...image.layers];
        const blobUrl = (digest: string) => `https://${registry}/v2/${repository}/blobs/${digest}`;
        // A blob that is there: 200, or with pulls redirected to the bucket, 307 to it (HEAD too).
        const present = [200, 307];
        const replicasServing = (lines: AccessLine[][], method: string, digest: string) =>
            lines.map((log) => log.some((l) => l.request.method === method && l.request.uri === `/v2/${repository}/blobs/${digest}` && present.includes(l.status)));

        // Each blob's descriptor asked of every replica, each HEAD on a connection of its own: a
        // replica with a descriptor cache now holds every one of them.
        const beforeHeads = accessLogs().map((lines) => lines.length);
        for (const blob of blobs) {
            const refused = await waitUntil<string | undefined>(
                async () => {
                    const answer = await curl("client", "HEAD", blobUrl(blob.digest), { login: pushUser(), extra: ["--head"] });
                    if (!present.includes(answer.status)) {
                        return { done: true, value: `HTTP ${answer.status} ${answer.result.stderr}` };
                    }
                    const served = replicasServing(linesSince(beforeHeads), "HEAD", blob.digest);
                    return served.every(Boolean) ? { done: true, value: undefined } : { done: false, seen: `replicas that answered a HEAD: ${served.join(", ")}` };
                },
                { description: `every replica to answer a HEAD of ${blob.digest}`, timeoutMs: 30_000, intervalMs: 0 },
            );
            assert.equal(refused, undefined, `a HEAD of ${blob.digest} before the delete`);
        }

        // The manifest and every blob deleted on one keep-alive connection: one replica serves all.
        const deletes = [`https://${registry}/v2/${repository}/manifests/${image.manifest.digest}`, ...blobs.map((b) => blobUrl(b.digest))];
        const beforeDelete = accessLogs().map((lines) => lines.length);
        const deleted = await lab.trackerIn("client").run(
            systemBinary("curl"),
            ["-sS", "--http1.1", "-K", "-", "--cacert", caFile, "--max-time", "60", "-X", "DELETE", "-w", "%{http_code} %{num_connects}\\n", ...deletes.flatMap((url) => ["-o", "/dev/null", url])],
            { input: `user = "${pushUser().username}:${pushUser().password}"\n`, timeoutMs: 90_000, secrets: [pushUser().password] },
        );
        const answers = deleted.stdout.trim().split("\n");
        assert.deepEqual(answers.map((a) => a.split(" ")[0]), deletes.map(() => "202"), `the deletes' answers: ${deleted.stdout} ${deleted.stderr}`);
        assert.equal(answers.map((a) => Number(a.split(" ")[1])).reduce((a, b) => a + b, 0), 1, `the deletes shared one connection: ${deleted.stdout}`);
        const deleter = await waitUntil(
            async () => {
                const served = linesSince(beforeDelete).map((lines) => lines.filter((l) => l.request.method === "DELETE").length);
                const at = served.findIndex((n) => n === deletes.length);
                return at >= 0 ? { done: true, value: at } : { done: false, seen: `DELETEs logged per replica: ${served.join(", ")}` };
            },
            { description: "one replica's access log to hold every DELETE", timeoutMs: 10_000, intervalMs: 100 },
        );
        process.stderr.write(`[replicas] the manifest and ${blobs.length} blobs deleted through ${replicaName(REPLICA_HOST, deleter)}\n`);

        // HEAD then GET of the deleted layer through every replica, each on a connection of its own.
        const layer = image.layers[0];
        const beforeProbe = accessLogs().map((lines) => lines.length);
        for (const method of ["HEAD", "GET"]) {
            const found = await waitUntil<string | undefined>(
                async () => {
                    const answer = await curl("client", method, blobUrl(layer.digest), { login: pushUser(), extra: method === "HEAD" ? ["--head"] : [] });
                    const probes = linesSince(beforeProbe).map((lines, i) =>
                        lines.filter((l) => l.request.method === method && l.request.uri === `/v2/${repository}/blobs/${layer.digest}`).map((l) => `${replicaName(REPLICA_HOST, i)}: ${l.status}`),
                    );
                    if (answer.status !== 404) {
                        return { done: true, value: `HTTP ${answer.status}${answer.location === undefined ? "" : ` to ${answer.location.replace(/\?.*/, "?...")}`} (logged: ${probes.flat().join(", ")})` };
                    }
                    return probes.every((p) => p.length > 0) ? { done: true, value: undefined } : { done: false, seen: `${method}s logged: ${probes.flat().join(", ") || "none"}` };
                },
                { description: `every replica to answer a ${method} of the deleted layer`, timeoutMs: 30_000, intervalMs: 0 },
            );
            assert.equal(found, undefined, `${method} of the layer deleted through ${replicaName(REPLICA_HOST, deleter)}, through the balancer`);
        }
        const stale = linesSince(beforeProbe).flatMap((lines, i) => lines.filter((l) => l.request.uri.includes(layer.digest) && l.status !== 404).map((l) => `${replicaName(REPLICA_HOST, i)} ${l.request.method} ${l.status}`));
        assert.deepEqual(stale, [], "answers other than 404 for the deleted layer");
    });

    /** Whether `twin`'s registry runs on the read-only config: a collection's window is open there. */
    async function readOnly(index: number): Promise<boolean> {
        const mounts = await lab.twins[index].exec(`docker inspect -f '{{range .Mounts}}{{.Source}} {{end}}' ${CONTAINER_NAME}`, { timeoutMs: 10_000 });
        return mounts.stdout.includes(CONFIG_FILE_FOR_MODE.readonly);
    }

    async function journal(index: number): Promise<string> {
        return (await lab.twins[index].exec(`journalctl -u ${MAINTENANCE_SERVICE} --no-pager -o cat`, { timeoutMs: 20_000 })).stdout;
    }

    test("g. the weekly collection: the first replica collects only once every replica refuses pushes, then every replica takes them again", async () => {
        const { skopeo, certDir } = lab.skopeoIn("client");
        const kept = await buildOciImage(lab.tmp.join("image-h-kept"), { layerSizes: [MB], tag: "kept" });
        const dropped = await buildOciImage(lab.tmp.join("image-h-dropped"), { layerSizes: [MB], tag: "dropped" });
        assertSucceeded(await skopeo.copy(ociRef(kept.layoutDir, "kept"), dockerRef(registry, "team/kept", "kept"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 }), "the kept image's push");
        assertSucceeded(await skopeo.copy(ociRef(dropped.layoutDir, "dropped"), dockerRef(registry, "team/dropped", "dropped"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 }), "the dropped image's push");
        const untagged = await curl("client", "DELETE", `https://${registry}/v2/team/dropped/manifests/${dropped.manifest.digest}`, { login: pushUser() });
        assert.equal(untagged.status, 202, `the dropped image's manifest deleted: ${untagged.result.stderr}`);

        // Each follower's lock held as a deploy there holds it, so the collector waits at the
        // joins, read-only; it is frozen there, and the followers let go, so the window is held
        // open with every replica read-only for as long as the probes take.
        const lock = hostLockFile(HOST_CONFIG_DIR);
        const followers = lab.twins.map((_, i) => i).slice(1);
        for (const i of followers) {
            await lab.twins[i].execChecked(`systemd-run --unit=hold-maintenance-lock --collect flock ${lock} sleep 600 >/dev/null 2>&1`);
            await lab.twins[i].execChecked(`systemctl start --no-block ${MAINTENANCE_SERVICE}`);
        }
        const windowStarted = Date.now();
        await lab.twins[0].execChecked(`systemctl start --no-block ${MAINTENANCE_SERVICE}`);
        const frozen = "systemctl kill --signal=SIGSTOP --kill-who=main " + MAINTENANCE_SERVICE;
        await waitUntil(
            async () => ((await readOnly(0)) && (await journal(0)).includes("announced window") ? { done: true, value: undefined } : { done: false, seen: (await journal(0)).trim().split("\n").pop() ?? "" }),
            { description: "the first replica's window announced, its registry read-only", timeoutMs: 120_000, intervalMs: 200 },
        );
        // When a container started, as each twin's engine recorded it (the twins share this machine's clock).
        const since = Math.floor(windowStarted / 1000) - 1;
        const starts = async (index: number, container: string) =>
            (await lab.twins[index].execChecked(`docker events --since ${since} --until "$(date +%s)" --filter type=container --filter container=${container} --filter event=start --format '{{.TimeNano}}'`)).stdout
                .trim()
                .split("\n")
                .filter((line) => line !== "")
                .map(Number);
        const refused: number[] = [];
        const pulled: number[] = [];
        let beforeProbes: number[] = [];
        try {
            // Long enough for a collector that did not wait for the others to have collected.
            await sleep(COLLECTOR_HELD_MS);
            assert.deepEqual(await starts(0, GC_CONTAINER_NAME), [], `the first replica collected while the others took pushes:\n${await journal(0)}`);
            await lab.twins[0].execChecked(frozen);
            for (const i of followers) await lab.twins[i].execChecked("systemctl stop hold-maintenance-lock");
            await waitUntil(
                async () => {
                    const states = await Promise.all(lab.twins.map((_, i) => readOnly(i)));
                    return states.every(Boolean) ? { done: true, value: undefined } : { done: false, seen: `read-only: ${states.join(", ")}` };
                },
                { description: "every replica read-only", timeoutMs: 60_000, intervalMs: 200 },
            );
            beforeProbes = accessLogs().map((lines) => lines.length);
            // In runs of their own, so that round robin gives each kind to every replica.
            for (let i = 0; i < 2 * REPLICAS; i++) {
                refused.push((await curl("client", "POST", `https://${registry}/v2/team/window/blobs/uploads/`, { login: pushUser() })).status);
            }
            for (let i = 0; i < 2 * REPLICAS; i++) {
                pulled.push((await curl("client", "GET", `https://${registry}/v2/team/kept/manifests/kept`, { login: pushUser(), headers: [`Accept: ${kept.manifest.mediaType}`] })).status);
            }
        } finally {
            await Promise.all(followers.map((i) => lab.twins[i].exec("systemctl stop hold-maintenance-lock")));
            await lab.twins[0].exec("systemctl kill --signal=SIGCONT --kill-who=main " + MAINTENANCE_SERVICE);
        }
        process.stderr.write(`[replicas] in the window: pushes answered ${refused.join(", ")}; pulls answered ${pulled.join(", ")}\n`);
        assert.ok(!refused.includes(202), `a push was accepted in the window: ${refused.join(", ")}`);
        assert.deepEqual(pulled, pulled.map(() => 200), "pulls in the window");
        const refusedBy = linesSince(beforeProbes).map((lines) => lines.some((l) => l.request.method === "POST" && l.request.uri.startsWith("/v2/team/window/") && l.status !== 202));
        assert.deepEqual(refusedBy, lab.twins.map(() => true), "replicas that refused a push in the window");

        const ended = await waitUntil(
            async () => {
                const shown = (await lab.twins[0].exec(`systemctl show -p ActiveState -p Result ${MAINTENANCE_SERVICE}`)).stdout;
                const state = Object.fromEntries(shown.trim().split("\n").map((line) => line.split("=", 2) as [string, string]));
                return state.ActiveState === "inactive" || state.ActiveState === "failed" ? { done: true, value: state.Result } : { done: false, seen: shown.trim() };
            },
            { description: "the first replica's job to end", timeoutMs: 300_000, intervalMs: 500 },
        );
        const collectorSaid = await journal(0);
        assert.equal(ended, "success", `the first replica's job:\n${collectorSaid}`);
        // The collection's container started only after every follower's registry had restarted
        // read-only, as each twin's engine recorded it (the twins share this machine's clock).
        const collectionStarted = await starts(0, GC_CONTAINER_NAME);
        assert.equal(collectionStarted.length, 1, "one collection container started on the first replica");
        for (const i of followers) {
            const readOnlyAt = (await starts(i, CONTAINER_NAME))[0];
            assert.ok(readOnlyAt !== undefined, `replica ${i + 1}'s registry restarted in the window`);
            assert.ok(collectionStarted[0] > readOnlyAt, `the collection started ${((readOnlyAt - collectionStarted[0]) / 1e9).toFixed(1)} s before replica ${i + 1}'s read-only restart`);
        }
        const windowLines = collectorSaid.split("\n").filter((line) => /pushes were refused for|takes pushes again|done in/.test(line));
        process.stderr.write(`[replicas] the first replica's job: ${windowLines.join("; ")}\n`);
        assert.match(collectorSaid, /every replica is read-only: pushes are refused everywhere/);
        assert.match(collectorSaid, /^maintenance: deleting blob sha256:/m, "the collection deleted the dropped image's blobs");
        assert.match(collectorSaid, /every replica takes pushes again \d+s after the window began/);

        // Every replica takes pushes again, and none serves the dropped layer.
        const back = await waitUntil(
            async () => {
                const answers: number[] = [];
                for (let i = 0; i < 2 * REPLICAS; i++) answers.push((await curl("client", "POST", `https://${registry}/v2/team/window/blobs/uploads/`, { login: pushUser() })).status);
                return answers.every((s) => s === 202) ? { done: true, value: Date.now() - windowStarted } : { done: false, seen: answers.join(", ") };
            },
            { description: "every replica to take pushes again", timeoutMs: 60_000, intervalMs: 500 },
        );
        process.stderr.write(`[replicas] every replica took pushes again ${(back / 1000).toFixed(1)} s after the collection started\n`);
        const beforeLayer = accessLogs().map((lines) => lines.length);
        const layer = dropped.layers[0];
        for (let i = 0; i < 2 * REPLICAS; i++) {
            const answer = await curl("client", "HEAD", `https://${registry}/v2/team/dropped/blobs/${layer.digest}`, { login: pushUser(), extra: ["--head"] });
            assert.equal(answer.status, 404, `HEAD of the collected layer, request ${i + 1}`);
        }
        const answeredBy = linesSince(beforeLayer).map((lines) => lines.some((l) => l.request.uri.endsWith(layer.digest) && l.status === 404));
        assert.deepEqual(answeredBy, lab.twins.map(() => true), "replicas that answered 404 for the collected layer");
        for (const i of followers) {
            const said = await journal(i);
            assert.match(said, /the window ended after \d+s here/, `replica ${i + 1}'s job:\n${said}`);
            assert.match(said, /the registry runs read-write again/);
        }
        const pulledBack = lab.tmp.join("pulled-h");
        assertSucceeded(await skopeo.copy(dockerRef(registry, "team/kept", "kept"), ociRef(pulledBack, "kept"), { srcCreds: pushUser(), srcCertDir: certDir, timeoutMs: 180_000 }), "the kept image's pull");
        assertSameImage(readAndVerifyOciImage(pulledBack, "kept"), kept, "the kept image after the collection");
    });

    test("h. bucket-flag on a replica reaches the bucket with the registry's key, signed so that S3 refuses a wrong secret", async () => {
        const twin = lab.twins[1];
        const program = `${hostLibDir(HOST_CONFIG_DIR)}/bucket-flag`;
        const settings = `${HOST_CONFIG_DIR}/bucket.json`;
        const flag = (args: string, input?: string, file = settings) => twin.exec(`${program} ${file} ${args}`, input === undefined ? {} : { input });
        assert.equal((await flag("get check-i")).code, 3, "an absent flag");
        const put = await flag("put check-i", "hello");
        assert.equal(put.code, 0, put.stderr);
        const got = await flag("get check-i");
        assert.equal(got.stdout, "hello", got.stderr);
        const written = lab.s3.operations().filter((o) => o.operation === "PutObject" && o.key === "private-registry-maintenance/check-i");
        assert.deepEqual(written.map((o) => o.status), [200], "the flag's PutObject in the stand-in S3's log");
        const deleted = await flag("delete check-i");
        assert.equal(deleted.code, 0, deleted.stderr);
        assert.equal((await flag("get check-i")).code, 3, "the flag is gone");

        const settingsText = fs.readFileSync(twin.file(settings), "utf8");
        const wrong = JSON.parse(settingsText) as { secretKey: string };
        wrong.secretKey = `${wrong.secretKey.slice(0, -1)}${wrong.secretKey.endsWith("x") ? "y" : "x"}`;
        fs.writeFileSync(twin.file("/root/wrong-bucket.json"), JSON.stringify(wrong), { mode: 0o600 });
        const refused = await flag("put check-i", "hello", "/root/wrong-bucket.json");
        assert.equal(refused.code, 1, `a wrong secret: ${refused.stdout} ${refused.stderr}`);
        assert.match(refused.stderr, /bucket-flag: put check-i: HTTP 403 SignatureDoesNotMatch/);
        assert.ok(!refused.stderr.includes(wrong.secretKey), "the secret in the error");
    });

    test("i. a rolling upgrade under pushes and pulls: each replica leaves the balancer, restarts and rejoins in turn, never both out, and no request fails", async () => {
        const { skopeo, certDir } = lab.skopeoIn("client");
        const balancer = lab.balancer;
        assert.ok(balancer !== undefined, "the lab runs the balancer");
        const names = lab.twins.map((_, i) => replicaName(REPLICA_HOST, i));
        const drain = balancerDrain();
        const markers = lab.twins.map((twin) => twin.file(`${HOST_CONFIG_DIR}/front/${DRAIN_MARKER_FILE}`));
        const registryIds = () => Promise.all(lab.twins.map(async (twin) => (await twin.execChecked("docker inspect -f '{{.Id}}' registry")).stdout.trim()));
        const idsBefore = await registryIds();
        const refusedBefore = accessLogs(FRONT_REFUSED_LOG).map((lines) => lines.length);

        // What the loops pull: an image pushed before they start.
        const base = await buildOciImage(lab.tmp.join("image-g"), { layerSizes: [MB, MB / 2], tag: "base" });
        assertSucceeded(await skopeo.copy(ociRef(base.layoutDir, "base"), dockerRef(registry, "team/rolling", "base"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 }), "the pulled image's push");

        // Each marker's appearance and removal, as the twin's file system shows it.
        const markerChanges: { atMs: number; index: number; present: boolean }[] = [];
        let watching = true;
        const markerWatch = (async () => {
            const present = markers.map(() => false);
            while (watching) {
                for (const [index, file] of markers.entries()) {
                    const now = fs.existsSync(file);
                    if (now !== present[index]) {
                        present[index] = now;
                        markerChanges.push({ atMs: Date.now(), index, present: now });
                    }
                }
                await sleep(50);
            }
        })();
        const states = balancer.watch(100);
        const pushes = new PushLoop(skopeo, { host: registry, repository: "team/rolling", login: pushUser(), certDir, workDir: lab.tmp.join("loop-g") });
        const pulls = new PullLoop(skopeo, { host: registry, repository: "team/rolling", tag: "base", login: pushUser(), certDir, workDir: lab.tmp.join("pull-g") });
        pushes.start();
        pulls.start();

        const withAuditor = JSON.stringify([...Object.values(users).map((u) => ({ name: u.username, role: u.role })), { name: "auditor", role: "pull" }]);
        const firstRun = lab.deployer.runs.length;
        let ran: string[];
        let pushed, pulled, seen;
        try {
            // A new user reloads each front; a larger S3 chunk restarts each registry.
            const upStarted = Date.now();
            const change = { "private-registry:users": withAuditor, "private-registry:s3ChunkSizeMb": "6" };
            ran = (await lab.up(change, { onPlanned: () => process.stderr.write(`[replicas] the upgrade planned in ${((Date.now() - upStarted) / 1000).toFixed(1)} s\n`) })).map((c) => c.name);
            // The last replica's rejoin ends the up: the loops go on until the balancer has it back.
            await balancer.waitForStatus(names, "UP", 30_000, 100);
        } finally {
            [pushed, pulled] = await Promise.all([pushes.stop(), pulls.stop()]);
            seen = await states.stop();
            watching = false;
            await markerWatch;
        }
        const runs = lab.deployer.runs.slice(firstRun);
        const t0 = runs[0]?.startedAt ?? 0;
        const at = (ms: number | undefined) => (ms === undefined ? "never" : `${((ms - t0) / 1000).toFixed(1)} s`);

        // The replicas' start commands ran one after the other, in the replicas' order.
        const starts = names.map((_, i) => ran.indexOf(`${replicaName("registry-service", i)}-container`));
        assert.ok(starts.every((s) => s >= 0), `the up ran every replica's start command (ran: ${ran.join(", ")})`);
        assert.deepEqual([...starts].sort((a, b) => a - b), starts, `the start commands' order: ${ran.join(", ")}`);
        const idsAfter = await registryIds();
        assert.ok(idsAfter.every((id, i) => id !== idsBefore[i]), "every registry restarted with the new chunk size");

        // Each replica: marker on, balancer DOWN within the leave wait, marker off, balancer UP
        // before the next replica's marker.
        const timeline: string[] = [];
        const phases = names.map((name, index) => {
            const on = markerChanges.find((c) => c.index === index && c.present)?.atMs;
            const off = markerChanges.find((c) => c.index === index && !c.present && on !== undefined && c.atMs > on)?.atMs;
            const down = seen.changes.find((c) => c.name === name && on !== undefined && c.atMs >= on && c.state.status === "DOWN")?.atMs;
            const saw503 = seen.changes.some((c) => c.name === name && on !== undefined && c.atMs >= on && c.state.checkCode === 503);
            const up = seen.changes.find((c) => c.name === name && off !== undefined && c.atMs >= off && c.state.status === "UP")?.atMs;
            timeline.push(`${name}: marker at ${at(on)}, DOWN at ${at(down)}, marker gone at ${at(off)}, UP at ${at(up)}`);
            return { name, on, off, down, up, saw503 };
        });
        const upgradeMs = (runs[runs.length - 1]?.endedAt ?? t0) - t0;
        process.stderr.write(`[replicas] rolling upgrade of ${names.length} replicas: ${(upgradeMs / 1000).toFixed(1)} s from the first changed command to the last; ${timeline.join("; ")}\n`);
        process.stderr.write(
            `[replicas] ${phases.map((p) => `${p.name} out ${p.down !== undefined && p.on !== undefined ? ((p.down - p.on) / 1000).toFixed(1) : "?"} s after its marker (leave wait ${drain.leaveSeconds} s), back ${p.up !== undefined && p.off !== undefined ? ((p.up - p.off) / 1000).toFixed(1) : "?"} s after its removal (rejoin wait ${drain.rejoinSeconds} s)`).join("; ")}\n`,
        );
        process.stderr.write(
            `[replicas] under the upgrade: ${pushed.pushes} pushes (${pushed.resent.length} pushed again after a reset or unanswered connection, ${pushed.failures.length} failed), ` +
                `${pulled.pulls} pulls (${pulled.resent.length} pulled again, ${pulled.failures.length} failed); the longest push ${((pushed.longestMs ?? 0) / 1000).toFixed(1)} s, pull ${(pulled.longestMs / 1000).toFixed(1)} s; ${seen.samples} samples of the balancer\n`,
        );
        const refused = accessLogs(FRONT_REFUSED_LOG).map((lines, i) => lines.slice(refusedBefore[i]).filter((l) => l.request.remote_ip === lab.net.hosts.balancer.address && l.request.uri === "/" && l.status === 503).length);
        for (const [index, p] of phases.entries()) {
            assert.ok(p.on !== undefined && p.off !== undefined, `${p.name}'s drain marker came and went (${timeline[index]})`);
            assert.ok(p.down !== undefined && p.down < p.on + drain.leaveSeconds * 1000, `the balancer took ${p.name} out before its leave wait ended (${timeline[index]})`);
            assert.ok(p.saw503, `the balancer's check of ${p.name} got 503 while it drained`);
            assert.ok(refused[index] >= BALANCER_HEALTH_CHECK.unhealthyThreshold, `${p.name}'s front answered the balancer's / with 503 ${refused[index]} times`);
            assert.ok(p.up !== undefined && p.up < p.off + drain.rejoinSeconds * 1000, `the balancer took ${p.name} back within the rejoin wait (${timeline[index]})`);
            const next = phases[index + 1];
            if (next !== undefined) {
                assert.ok(next.on !== undefined && p.up < next.on, `${next.name} left only after ${p.name} was back (${timeline.join("; ")})`);
            }
        }
        assert.deepEqual(seen.noneUpAt.map((ms) => at(ms)), [], "times at which the balancer had no replica in its pool");
        assert.doesNotMatch(balancer.log(), /has no server available/, "haproxy's log says the pool was empty");

        assert.ok(pushed.pushes >= 3 && pulled.pulls >= 3, `the loops ran through the upgrade (${pushed.pushes} pushes, ${pulled.pulls} pulls)`);
        assert.deepEqual(pushed.failures, [], "pushes that failed during the rolling upgrade");
        assert.deepEqual(pulled.failures, [], "pulls that failed during the rolling upgrade");
        // A connection reaches the reload only if its client opened it before the balancer took the
        // replica out and still uses it when the leave wait ends, seconds later: no push or pull of
        // the loops lasts that long, so none may meet a closed connection, though each would retry one as docker does.
        assert.deepEqual([...pushed.resent, ...pulled.resent], [], "requests that met a closed connection: the drain let a connection reach a reload");

        users = lab.plan.outputs.registryUsers as Record<string, Login>;
        const auditor = users.auditor;
        assert.ok(auditor !== undefined, "the new user is in the outputs");
        for (const name of names) {
            assert.equal(await registryStatus(lab.trackerIn("client"), `https://${registry}/v2/`, caFile, auditor), 200, `the new user logs in through the balancer (the request for ${name}'s turn)`);
        }
    });

    test("j. a replica's graceful shutdown, as the nightly update reboot makes it, leaves the balancer first: no push or pull fails, and it rejoins after boot", async () => {
        const { skopeo, certDir } = lab.skopeoIn("client");
        const balancer = lab.balancer;
        assert.ok(balancer !== undefined, "the lab runs the balancer");
        const victim = REPLICAS - 1;
        const victimHost = replicaName(REPLICA_HOST, victim);
        const base = await buildOciImage(lab.tmp.join("image-j"), { layerSizes: [MB, MB / 2], tag: "base" });
        assertSucceeded(await skopeo.copy(ociRef(base.layoutDir, "base"), dockerRef(registry, "team/reboot", "base"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 }), "the pulled image's push");
        const unit = await lab.twins[victim].execChecked(`systemctl is-active ${SHUTDOWN_DRAIN_SERVICE}`);
        assert.equal(unit.stdout.trim(), "active", "the shutdown drain is armed");

        const states = balancer.watch(100);
        const pushes = new PushLoop(skopeo, { host: registry, repository: "team/reboot", login: pushUser(), certDir, workDir: lab.tmp.join("loop-j") });
        const pulls = new PullLoop(skopeo, { host: registry, repository: "team/reboot", tag: "base", login: pushUser(), certDir, workDir: lab.tmp.join("pull-j") });
        pushes.start();
        pulls.start();
        let pushed, pulled, seen;
        let shutdownStarted = 0;
        let down = 0;
        let gone = 0;
        try {
            await sleep(3000);
            shutdownStarted = Date.now();
            const powerOff = lab.twins[victim].powerOff().then(() => (gone = Date.now()));
            down = await balancer.waitForStatus([victimHost], "DOWN", 60_000, 100);
            await powerOff;
            await sleep(3000);
            await lab.twins[victim].boot();
            await waitUntil(
                async () => {
                    const state = (await balancer.servers())[victimHost];
                    return state?.status === "UP" && state.check === "L7OK" ? { done: true, value: undefined } : { done: false, seen: JSON.stringify(state) };
                },
                { description: `the balancer to take ${victimHost} back after boot`, timeoutMs: REJOIN_BOUND_MS, intervalMs: 250 },
            );
        } finally {
            [pushed, pulled] = await Promise.all([pushes.stop(), pulls.stop()]);
            seen = await states.stop();
        }
        process.stderr.write(
            `[replicas] ${victimHost} shut down gracefully: out of the balancer ${((down - shutdownStarted) / 1000).toFixed(1)} s after the shutdown began, off ${((gone - shutdownStarted) / 1000).toFixed(1)} s after; ` +
                `${pushed.pushes} pushes and ${pulled.pulls} pulls through it (${pushed.failures.length + pulled.failures.length} failed, ${pushed.resent.length + pulled.resent.length} sent again)\n`,
        );
        assert.ok(down > 0 && down - shutdownStarted < balancerDrain().leaveSeconds * 1000, `the balancer took ${victimHost} out ${down - shutdownStarted} ms after the shutdown began, not within the drain's ${balancerDrain().leaveSeconds} s`);
        assert.ok(gone > down, `${victimHost} was off before the balancer took it out`);
        assert.deepEqual(seen.noneUpAt, [], "times at which the balancer had no replica in its pool");
        assert.ok(pushed.pushes >= 3 && pulled.pulls >= 3, `the loops ran through the shutdown (${pushed.pushes} pushes, ${pulled.pulls} pulls)`);
        assert.deepEqual(pushed.failures, [], "pushes that failed across the shutdown");
        assert.deepEqual(pulled.failures, [], "pulls that failed across the shutdown");
        assert.ok(!fs.existsSync(lab.twins[victim].file(`${HOST_CONFIG_DIR}/front/${DRAIN_MARKER_FILE}`)), "the marker the shutdown set is gone after boot");
    });

    test("b. a replica's power cut mid-push: the client's retry completes, the balancer takes the replica out within its detection time, and pulls go on", async () => {
        const { skopeo, certDir } = lab.skopeoIn("client");
        const image: OciImage = await buildOciImage(lab.tmp.join("image-b"), { layerSizes: [12 * MB, 8 * MB, 6 * MB, 4 * MB], tag: "cut" });
        const repository = "team/cut";
        const victim = REPLICAS - 1;
        const victimHost = replicaName(REPLICA_HOST, victim);
        const balancer = lab.balancer;
        assert.ok(balancer !== undefined, "the lab runs the balancer");

        const push = () => skopeo.copy(ociRef(image.layoutDir, "cut"), dockerRef(registry, repository, "cut"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 });
        const first = push();
        // Mid-push: once the victim has served part of this push.
        await waitUntil(
            async () => {
                const seen = accessLogs()[victim].some((l) => l.request.uri.startsWith(`/v2/${repository}/blobs/uploads/`));
                return seen ? { done: true, value: undefined } : { done: false, seen: "no upload of this push on the victim yet" };
            },
            { description: `the push to reach ${victimHost}`, timeoutMs: 60_000, intervalMs: 20 },
        );
        await lab.twins[victim].pullPlug();
        const cutAt = Date.now();
        const out = await balancer.waitForStatus([victimHost], "DOWN", (balancerDetectionSeconds() + 30) * 1000, 100);
        const detectedMs = out - cutAt;
        process.stderr.write(`[replicas] the balancer took ${victimHost} out ${(detectedMs / 1000).toFixed(1)} s after its power cut (detection time ${balancerDetectionSeconds()} s)\n`);

        // docker push retries a failed layer by itself; skopeo is told to here, up to 3 times.
        const attempts: RunResult[] = [await first];
        while (attempts[attempts.length - 1].code !== 0 && attempts.length < 4) {
            attempts.push(await push());
        }
        process.stderr.write(`[replicas] the cut push took ${attempts.length} attempt(s); the first ${attempts[0].code === 0 ? "completed" : `failed: ${(attempts[0].stderr.trim().split("\n").pop() ?? "").replace(/\?[^"\\]*/g, "?...")}`}\n`);
        assertSucceeded(attempts[attempts.length - 1], "the push after its retries");

        for (let i = 0; i < 4; i++) {
            const pulled = lab.tmp.join(`pulled-b-${i}`);
            assertSucceeded(await skopeo.copy(dockerRef(registry, repository, "cut"), ociRef(pulled, "cut"), { srcCreds: pushUser(), srcCertDir: certDir, timeoutMs: 180_000 }), `pull ${i + 1} with one replica down`);
            assertSameImage(readAndVerifyOciImage(pulled, "cut"), image, `pull ${i + 1} with one replica down`);
        }
        // Polling adds up to its interval to what the balancer itself took.
        assert.ok(detectedMs <= balancerDetectionSeconds() * 1000 + 500, `the balancer took ${detectedMs} ms to take the replica out; its detection time is ${balancerDetectionSeconds()} s`);

        // Powered on again, the replica serves by itself and the balancer sends it clients again.
        const poweredOn = Date.now();
        await lab.twins[victim].boot();
        const back = await waitUntil(
            async () => {
                const state = (await balancer.servers())[victimHost];
                return state?.status === "UP" && state.check === "L7OK" ? { done: true, value: Date.now() } : { done: false, seen: JSON.stringify(state) };
            },
            { description: `the balancer to take ${victimHost} back`, timeoutMs: REJOIN_BOUND_MS, intervalMs: 250 },
        );
        process.stderr.write(`[replicas] ${victimHost} back in the balancer ${((back - poweredOn) / 1000).toFixed(1)} s after power-on\n`);
    });
});
