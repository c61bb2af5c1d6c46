/**
 * Check 16: the droplet twin, deployed as `pulumi up` deploys a droplet (test/harness/twinLab.ts):
 * a Debian host made like the Docker 1-click image (ufw on with the image's rules, Docker,
 * cloud-init, systemd), booted on the program's rendered user data, and every remote command the
 * program declares run over SSH from the deployer's namespace, in the program's order. Clients
 * reach it only through the network and the cloud firewall, never over its loopback.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { buildOciImage, readAndVerifyOciImage, type OciImage } from "../harness/oci";
import { REGISTRY_S3_USER_AGENT } from "../harness/s3";
import { dockerRef, ociRef } from "../harness/skopeo";
import { FAIL2BAN_JAIL_NAME } from "../../components/render/fail2ban";
import { CONTAINER_NAME, HOST_CONFIG_DIR } from "../../components/render/deployment";
import { CONFIG_FILE_FOR_MODE } from "../../components/render/registryRun";
import { MAINTENANCE_SERVICE, MAINTENANCE_TIMER, MAINTENANCE_WINDOW_MARKER } from "../../components/render/maintenance";
import { PushLoop, registryStatus, scanTcp } from "../harness/twinProbe";
import { sleep, waitUntil } from "../harness/wait";
import type { PlannedCommand } from "../harness/deployPlan";
import { TwinLab } from "../harness/twinLab";
import { serveDockerLikeRepository } from "../harness/twinServices";
import { APT_CONF_DIR, UPDATES_CONF_FILE } from "../../components/render/hostUpdates";
import { assertFailedWith, assertSameImage, assertSucceeded, MB } from "./support";

/** Power-on to serving, with room for a loaded CI machine: measured at about 10 s here. */
const REBOOT_SERVE_BOUND_MS = 60_000;

/** How long the first deploy meets apt's locks held. */
const APT_HOLD_SECONDS = 40;
/** Takes each file's lock as apt does (fcntl F_SETLK, whole file), holds them, then exits. */
const APT_LOCK_HOLDER = [
    "import fcntl, sys, time",
    "files = [open(p, \"a\") for p in sys.argv[2:]]",
    "[fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB) for f in files]",
    "time.sleep(float(sys.argv[1]))",
].join("\n");

/** From the window's interruption to a push accepted again. */
const WINDOW_RECOVERY_BOUND_MS = 60_000;

/** Ports a scan tries: every well-known port, Docker's API ports the image opens in ufw, and ours on loopback. */
const SCANNED_PORTS = [...Array.from({ length: 1024 }, (_, i) => i + 1), 2375, 2376, 5000, 5001, 5002, 8080];

interface Login {
    username: string;
    password: string;
    role: string;
}

describe("the droplet twin, deployed as pulumi up deploys a droplet", () => {
    let lab: TwinLab;
    let image: OciImage;
    let users: Record<string, Login>;
    let aptLocksReleasedAt = 0;

    before(async () => {
        lab = await TwinLab.start({ name: "twin-16", extraClients: ["neighbour", "rotation"], log: (line) => process.stderr.write(`${line}\n`) });
        // As apt-daily does on a droplet's first boot: apt's lists lock and dpkg's frontend lock,
        // held with fcntl as apt holds them, while the first deploy runs.
        aptLocksReleasedAt = Date.now() + APT_HOLD_SECONDS * 1000;
        await lab.twin.execChecked(`setsid python3 -c '${APT_LOCK_HOLDER}' ${APT_HOLD_SECONDS} /var/lib/apt/lists/lock /var/lib/dpkg/lock-frontend >/dev/null 2>&1 < /dev/null &`);
        await lab.deploy();
        users = lab.plan.outputs.registryUsers as Record<string, Login>;
        image = await buildOciImage(lab.tmp.join("image"), { layerSizes: [6 * MB, 3 * MB, 1 * MB], tag: "1" });
    });

    after(async () => {
        await lab?.dispose();
    });

    function pushUser(): Login {
        const found = Object.values(users).find((u) => u.role === "push");
        assert.ok(found !== undefined, "the default stack has a push user");
        return found;
    }

    function pullUser(): Login {
        const found = Object.values(users).find((u) => u.role === "pull");
        assert.ok(found !== undefined, "the default stack has a pull user");
        return found;
    }

    test("1. reachable as deployed: a CI client pushes and pulls through the twin's ufw and the cloud firewall", async () => {
        const host = String(lab.plan.outputs.registryHost);
        assert.equal(host, lab.twin.address, "private CA without a domain serves on the droplet's address");
        const { skopeo, certDir } = lab.skopeoIn("client");
        const ci = pushUser();
        const creds = { username: ci.username, password: ci.password };
        assertSucceeded(await skopeo.copy(ociRef(image.layoutDir, "1"), dockerRef(host, "team/app", "1"), { destCreds: creds, destCertDir: certDir, timeoutMs: 180_000 }), "push from the client namespace");
        const pulled = lab.tmp.join("pulled");
        assertSucceeded(await skopeo.copy(dockerRef(host, "team/app", "1"), ociRef(pulled, "1"), { srcCreds: creds, srcCertDir: certDir, timeoutMs: 180_000 }), "pull from the client namespace");
        // Every blob is hashed against its digest as it is read back.
        assertSameImage(readAndVerifyOciImage(pulled, "1"), image, "pulled through the twin");

        const deploy = pullUser();
        const pullOnly = { username: deploy.username, password: deploy.password };
        const pulledByDeploy = lab.tmp.join("pulled-by-deploy");
        assertSucceeded(await skopeo.copy(dockerRef(host, "team/app", "1"), ociRef(pulledByDeploy, "1"), { srcCreds: pullOnly, srcCertDir: certDir }), "the pull user pulls");
        assertSameImage(readAndVerifyOciImage(pulledByDeploy, "1"), image, "pulled by the pull user");
        assertFailedWith(
            await skopeo.copy(ociRef(image.layoutDir, "1"), dockerRef(host, "team/app", "by-pull-user"), { destCreds: pullOnly, destCertDir: certDir }),
            /denied|403|unauthorized/i,
            "a push by the pull user",
        );
    });

    test("1. a scan finds only 443 from the client, and only 22 more from the deployer", async () => {
        const fromClient = await scanTcp(lab.trackerIn("client"), lab.twin.address, SCANNED_PORTS);
        assert.deepEqual(fromClient, [443], "ports answering a client on the internet");
        const fromDeployer = await scanTcp(lab.trackerIn("deployer"), lab.twin.address, SCANNED_PORTS);
        assert.deepEqual(fromDeployer, [22, 443], "ports answering the deployer");
    });

    test("6. the first deploy waits for apt's locks held by another process, names the holder, and goes on", () => {
        const guard = lab.deployer.runs.find((run) => run.name.endsWith("-login-guard"));
        assert.ok(guard !== undefined, "the login guard ran");
        assert.equal(guard.result.code, 0, "the login guard succeeded");
        assert.match(guard.result.stderr, /waiting for apt: \/var\/lib\/apt\/lists\/lock is held by process \d+ \(python3: /, "it named the lock and its holder");
        assert.ok(guard.endedAt >= aptLocksReleasedAt, `it finished ${aptLocksReleasedAt - guard.endedAt} ms before the locks were released`);
        process.stderr.write(`[twin] the login guard waited ${((guard.endedAt - guard.startedAt) / 1000).toFixed(1)} s for apt's locks\n`);
    });

    test("npm run check passes against the twin from the CI runner's namespace", async () => {
        const check = await lab.liveCheck("client");
        assert.equal(check.code, 0, `the live check failed:\n${check.stdout}${check.stderr}`);
        assert.doesNotMatch(check.stdout, /FAIL/);
    });

    test("2. a second up with a new user reloads the front and restarts nothing a push loop can see", async () => {
        const { skopeo, certDir } = lab.skopeoIn("client");
        const registryId = async () => (await lab.twin.execChecked("docker inspect -f '{{.Id}}' registry")).stdout.trim();
        const registryBefore = await registryId();
        const loop = new PushLoop(skopeo, { host: lab.twin.address, repository: "team/loop", login: pushUser(), certDir, workDir: lab.tmp.join("loop") });
        loop.start();
        await sleep(3000);
        const withRelease = JSON.stringify([
            { name: pushUser().username, role: "push" },
            { name: pullUser().username, role: "pull" },
            { name: "release", role: "push", repositories: ["team/**"] },
        ]);
        const ran = await lab.up({ "private-registry:users": withRelease });
        await sleep(3000);
        const result = await loop.stop();
        assert.ok(ran.some((c) => c.name.endsWith("-container")), `the second up ran the start command (ran: ${ran.map((c) => c.name).join(", ")})`);
        assert.ok(!ran.some((c) => c.name.endsWith("-wait-ready")), "the second up left the host's first-boot wait alone");
        // Users live in the front alone: nothing the registry reads changed, so it kept running.
        assert.equal(await registryId(), registryBefore, "the second up replaced the registry container");
        process.stderr.write(`[twin] push loop through the second up: ${result.pushes} pushes, ${result.resent.length} pushed again after a reset or unanswered connection, ${result.failures.length} failed\n`);
        assert.ok(result.pushes >= 3, `the loop pushed through the up (${result.pushes} pushes)`);
        assert.deepEqual(result.failures, [], "no push failed during the second up");
        // The front's reload can close a keep-alive connection a request is crossing; a client
        // that retries, as docker push does, sees nothing. More than one would be a regression.
        assert.ok(result.resent.length <= 1, `at most one push met the reload's closed connection: ${JSON.stringify(result.resent)}`);
        users = lab.plan.outputs.registryUsers as Record<string, Login>;
        const release = users.release;
        assert.ok(release !== undefined, "the new user is in the outputs");
        const caFile = `${certDir}/ca.crt`;
        assert.equal(await registryStatus(lab.trackerIn("client"), `https://${lab.twin.address}/v2/`, caFile, release), 200, "the new user logs in");
    });

    test("2. a rotation under a push loop: a new S3 key and new passwords, then the old key deleted, with no push failing", async () => {
        // Its own namespace: the loop's and the old passwords' refused logins count towards
        // fail2ban's ban, which step 5 brings on the client by its own count.
        const { skopeo, certDir } = lab.skopeoIn("rotation");
        const host = lab.twin.address;
        const root = lab.s3.accessKey;
        const keyA = lab.accessKey;
        assert.notEqual(keyA.id, root, "the registry signs with the IAM user's key, not S3's root key");
        const before = users;
        const keyB = await lab.s3.createAccessKey();
        let next: Record<string, Login> | undefined;
        const loop = new PushLoop(skopeo, {
            host,
            repository: "team/rotation",
            login: pushUser(),
            // The CI job is handed the new password as the up begins, and uses it only once the old one is refused.
            nextLogin: () => (next === undefined ? undefined : next[pushUser().username]),
            certDir,
            workDir: lab.tmp.join("rotation-loop"),
        });
        const upStarted = lab.s3.operations().length;
        const loopStarted = Date.now();
        loop.start();
        await sleep(3000);
        let ran: PlannedCommand[];
        try {
            ran = await lab.up({ "private-registry:credentialRotation": "1" }, { accessKey: keyB, onPlanned: (plan) => (next = plan.outputs.registryUsers as Record<string, Login>) });
        } finally {
            // Later steps log in with whatever passwords the twin has now, even when this one fails.
            users = lab.plan.outputs.registryUsers as Record<string, Login>;
        }
        const upEnded = lab.s3.operations().length;
        // Pulumi deletes the replaced AccessKey last, once what uses the new one has run.
        await lab.s3.deleteAccessKey(keyA.id);
        const deleted = lab.s3.operations().length;
        await sleep(5000);
        const result = await loop.stop();

        assert.ok(ran.some((c) => c.name.endsWith("-container")), `the rotation ran the start command (ran: ${ran.map((c) => c.name).join(", ")})`);
        assert.equal(lab.accessKey.id, keyB.id, "the plan's access key is the new one");
        const start = [...lab.deployer.runs].reverse().find((run) => run.name.endsWith("-container"));
        const since = (at: number) => `${((at - loopStarted) / 1000).toFixed(1)} s`;
        const counted = (events: { atMs: number }[], what: string) => `${events.length} ${what}${events.length === 0 ? "" : ` (at ${events.map((e) => since(loopStarted + e.atMs)).join(", ")})`}`;
        process.stderr.write(
            `[twin] push loop through the rotation: ${result.pushes} pushes, ${counted(result.retries, "refused with the old password and pushed with the new")}, ` +
                `${counted(result.resent, "pushed again after a reset or unanswered connection")}, ${counted(result.failures, "failed")}; ` +
                `the start command ran from ${since(start?.startedAt ?? 0)} to ${since(start?.endedAt ?? 0)}\n`,
        );
        assert.ok(result.pushes >= 3, `the loop pushed through the rotation (${result.pushes} pushes)`);
        assert.ok(result.retries.length >= 1, "the loop met the new passwords while it ran");
        assert.deepEqual(Object.keys(users).sort(), Object.keys(before).sort(), "the same users");
        for (const [name, login] of Object.entries(users)) {
            assert.notEqual(login.password, before[name].password, `${name} has a new password`);
        }

        // After key A is gone, the registry still writes and reads S3: it signs with B.
        const rotated = await buildOciImage(lab.tmp.join("image-rotated"), { layerSizes: [2 * MB, 512 * 1024], tag: "rotated" });
        assertSucceeded(await skopeo.copy(ociRef(rotated.layoutDir, "rotated"), dockerRef(host, "team/app", "rotated"), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 180_000 }), "a push with the new password");
        const pulled = lab.tmp.join("pulled-rotated");
        assertSucceeded(await skopeo.copy(dockerRef(host, "team/app", "rotated"), ociRef(pulled, "rotated"), { srcCreds: pullUser(), srcCertDir: certDir, timeoutMs: 180_000 }), "a pull with the new password");
        assertSameImage(readAndVerifyOciImage(pulled, "rotated"), rotated, "pulled after the rotation");
        const caFile = `${certDir}/ca.crt`;
        for (const old of Object.values(before)) {
            assert.equal(await registryStatus(lab.trackerIn("rotation"), `https://${host}/v2/`, caFile, old), 401, `${old.username}'s old password is refused`);
        }

        const operations = lab.s3.operations();
        const signedBy = (from: number, to: number, id: string) => operations.slice(from, to).filter((op) => op.requester === id && op.status < 300);
        assert.ok(signedBy(0, upStarted, keyA.id).some((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent)), "before the rotation the registry signed with key A");
        assert.deepEqual(operations.filter((op) => op.requester === root && !op.userAgent.startsWith("curl/")).map((op) => op.raw), [], "only the lab itself signs with S3's root key");
        assert.ok(signedBy(upEnded, operations.length, keyB.id).some((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent)), "after the up the registry signs with key B");
        const afterDeletion = operations.slice(deleted);
        assert.deepEqual(afterDeletion.filter((op) => op.requester === keyA.id).map((op) => op.raw), [], "nothing signed with key A after its deletion");
        // A request signed with a deleted key is logged with no requester, refused as InvalidAccessKeyId.
        assert.deepEqual(afterDeletion.filter((op) => op.errorCode === "InvalidAccessKeyId").map((op) => op.raw), [], "no request with an unknown key after key A's deletion");
        // Last, so a failed push in the loop does not hide what the rest of the step shows.
        assert.deepEqual(result.failures, [], "no push failed during the rotation");
        assert.ok(result.resent.length <= 1, `at most one push met the reload's closed connection: ${JSON.stringify(result.resent)}`);
    });

    test("7. unattended-upgrades selects a newer engine from Docker's repository, and the containers come back after the engine restarts", async () => {
        const installed = (await lab.twin.execChecked("dpkg-query -W -f='${Version}' docker.io")).stdout.trim();
        const source = await serveDockerLikeRepository(lab.tracker, lab.net, "deployer", {
            dir: lab.tmp.join("docker-repository"),
            codename: "bookworm",
            packageName: "docker.io",
            version: `${installed}+update1`,
            port: 8080,
        });
        await lab.twin.execChecked(`printf '%s\\n' '${source}' > /etc/apt/sources.list.d/docker.list && apt-get update -q >/dev/null`);
        const selected = /Packages that will be upgraded: .*\bdocker\.io\b/;
        const dryRun = async () => {
            const res = await lab.twin.exec("unattended-upgrade --dry-run --debug 2>&1", { timeoutMs: 300_000 });
            return res.stdout;
        };
        const withDeploy = await dryRun();
        assert.match(withDeploy, selected, `the deploy's update config selects Docker's newer engine:\n${withDeploy.split("\n").filter((l) => /docker|Packages|Allowed|origin/i.test(l)).join("\n")}`);
        // The same dry run without the deploy's file: the image's defaults leave the engine alone.
        const conf = `${APT_CONF_DIR}/${UPDATES_CONF_FILE}`;
        await lab.twin.execChecked(`mv ${conf} /root/updates.conf`);
        const withoutDeploy = await dryRun();
        await lab.twin.execChecked(`mv /root/updates.conf ${conf}`);
        assert.doesNotMatch(withoutDeploy, selected, "without the deploy's config, Docker's origin is not allowed");

        const caFile = lab.skopeoIn("client").certDir + "/ca.crt";
        const restarted = Date.now();
        await lab.twin.execChecked("systemctl restart docker.service", { timeoutMs: 180_000 });
        const servingAfterMs = await waitUntil(
            async () => {
                const status = await registryStatus(lab.trackerIn("client"), `https://${lab.twin.address}/v2/`, caFile, pushUser(), 2);
                return status === 200 ? { done: true, value: Date.now() - restarted } : { done: false, seen: `HTTP ${status}` };
            },
            { description: "the registry after the engine's restart", timeoutMs: 120_000, intervalMs: 250 },
        );
        process.stderr.write(`[twin] serving again ${(servingAfterMs / 1000).toFixed(1)} s after the engine restart began\n`);
    });

    test("3. after a power-off and boot, the registry serves by itself, read-write, with its timer, ufw and jail", async () => {
        const caFile = lab.skopeoIn("client").certDir + "/ca.crt";
        const client = lab.trackerIn("client");
        await lab.twin.powerOff();
        const poweredOn = Date.now();
        const booting = lab.twin.boot();
        const servedAfterMs = await waitUntil(
            async () => {
                const status = await registryStatus(client, `https://${lab.twin.address}/v2/`, caFile, pushUser(), 2);
                return status === 200 ? { done: true, value: Date.now() - poweredOn } : { done: false, seen: `HTTP ${status}` };
            },
            { description: "the registry to serve after boot", timeoutMs: 120_000, intervalMs: 250 },
        );
        await booting;
        process.stderr.write(`[twin] serving ${(servedAfterMs / 1000).toFixed(1)} s after power-on\n`);
        assert.ok(servedAfterMs < REBOOT_SERVE_BOUND_MS, `serving ${servedAfterMs} ms after power-on; the bound is ${REBOOT_SERVE_BOUND_MS} ms`);

        const { skopeo, certDir } = lab.skopeoIn("client");
        assertSucceeded(await skopeo.copy(ociRef(image.layoutDir, "1"), dockerRef(lab.twin.address, "team/app", "after-reboot"), { destCreds: pushUser(), destCertDir: certDir }), "a push after the reboot");
        const timers = await lab.twin.execChecked(`systemctl is-enabled ${MAINTENANCE_TIMER} && systemctl is-active ${MAINTENANCE_TIMER}`);
        assert.deepEqual(timers.stdout.trim().split("\n"), ["enabled", "active"], "the maintenance timer is scheduled again");
        assert.match((await lab.twin.execChecked("ufw status")).stdout, /^Status: active/m, "ufw is active");
        const jail = await waitUntil(
            async () => {
                const res = await lab.twin.exec(`fail2ban-client status ${FAIL2BAN_JAIL_NAME}`);
                return res.code === 0 ? { done: true, value: res.stdout } : { done: false, seen: res.stderr.trim() };
            },
            { description: "the failed-login jail after boot", timeoutMs: 30_000 },
        );
        assert.match(jail, /Currently banned/, "the fail2ban jail is active");
    });

    /**
     * Starts the weekly job as its timer does, and resolves once its read-only window is open:
     * the registry container runs on the read-only config.
     */
    async function openWindow(): Promise<void> {
        await lab.twin.execChecked(`systemctl start --no-block ${MAINTENANCE_SERVICE}`);
        await waitUntil(
            async () => {
                const mounts = await lab.twin.exec(`docker inspect -f '{{range .Mounts}}{{.Source}} {{end}}' ${CONTAINER_NAME}`, { timeoutMs: 10_000 });
                return mounts.stdout.includes(CONFIG_FILE_FOR_MODE.readonly) ? { done: true, value: undefined } : { done: false, seen: mounts.stdout.trim() };
            },
            { description: "the maintenance job's read-only window", timeoutMs: 60_000, intervalMs: 20 },
        );
    }

    /** Pushes until one is accepted; returns how long that took. */
    async function pushAcceptedWithin(tag: string, since: number): Promise<number> {
        const { skopeo, certDir } = lab.skopeoIn("client");
        return waitUntil(
            async () => {
                const pushed = await skopeo.copy(ociRef(image.layoutDir, "1"), dockerRef(lab.twin.address, "team/app", tag), { destCreds: pushUser(), destCertDir: certDir, timeoutMs: 30_000 });
                return pushed.code === 0 ? { done: true, value: Date.now() - since } : { done: false, seen: pushed.stderr.trim().split("\n").pop() ?? "" };
            },
            { description: `a push (${tag}) to be accepted`, timeoutMs: WINDOW_RECOVERY_BOUND_MS * 2, intervalMs: 500 },
        );
    }

    test("4. the weekly job runs to the end from its timer's unit: its collection reaches S3 from Docker's bridge", async () => {
        const run = await lab.twin.exec(`systemctl start ${MAINTENANCE_SERVICE}`, { timeoutMs: 10 * 60_000 });
        const journal = await lab.twin.exec(`journalctl -u ${MAINTENANCE_SERVICE} --no-pager -o cat | tail -30`);
        assert.equal(run.code, 0, `the weekly job failed:\n${journal.stdout}`);
        assert.match(journal.stdout, /^maintenance: done in \d+s: deleted \d+ manifests and \d+ blobs/m);
        await pushAcceptedWithin("after-collection", Date.now());
    });

    test("4. a SIGTERM to the weekly job mid-window leaves the registry read-write", async () => {
        await openWindow();
        const stopped = Date.now();
        await lab.twin.execChecked(`systemctl kill --signal=SIGTERM --kill-who=main ${MAINTENANCE_SERVICE}`);
        const acceptedAfterMs = await pushAcceptedWithin("after-sigterm", stopped);
        process.stderr.write(`[twin] push accepted ${(acceptedAfterMs / 1000).toFixed(1)} s after the job's SIGTERM\n`);
        assert.ok(acceptedAfterMs < WINDOW_RECOVERY_BOUND_MS, `read-write ${acceptedAfterMs} ms after the SIGTERM; the bound is ${WINDOW_RECOVERY_BOUND_MS} ms`);
        assert.ok(!fs.existsSync(lab.twin.file(`${HOST_CONFIG_DIR}/${MAINTENANCE_WINDOW_MARKER}`)), "the window's marker is gone");
    });

    test("4. a power cut mid-window: after boot the registry is read-write again by itself", async () => {
        await openWindow();
        await lab.twin.pullPlug();
        const poweredOn = Date.now();
        await lab.twin.boot();
        const acceptedAfterMs = await pushAcceptedWithin("after-power-cut", poweredOn);
        process.stderr.write(`[twin] push accepted ${(acceptedAfterMs / 1000).toFixed(1)} s after power-on, the window cut by a power cut\n`);
        assert.ok(acceptedAfterMs < WINDOW_RECOVERY_BOUND_MS, `read-write ${acceptedAfterMs} ms after power-on; the bound is ${WINDOW_RECOVERY_BOUND_MS} ms`);
        const timer = await lab.twin.execChecked(`systemctl is-active ${MAINTENANCE_TIMER}`);
        assert.equal(timer.stdout.trim(), "active", "the weekly timer is still scheduled");
    });

    test("5. fail2ban with ufw present bans a guessing client, not its neighbour, and keeps the ban through an up that reloads the front", async () => {
        const caFile = lab.skopeoIn("client").certDir + "/ca.crt";
        const url = `https://${lab.twin.address}/v2/`;
        const guesser = lab.trackerIn("client");
        const neighbour = lab.trackerIn("neighbour");
        const wrong = { username: pushUser().username, password: "not-the-password" };
        for (let i = 0; i < 10; i++) {
            assert.equal(await registryStatus(guesser, url, caFile, wrong), 401, `wrong login ${i + 1} is refused`);
        }
        const lastWrong = Date.now();
        const bannedAfterMs = await waitUntil(
            async () => {
                const status = await registryStatus(guesser, url, caFile, pushUser(), 2);
                return status === 0 ? { done: true, value: Date.now() - lastWrong } : { done: false, seen: `HTTP ${status}` };
            },
            { description: "the guessing client to be refused", timeoutMs: 20_000, intervalMs: 250 },
        );
        process.stderr.write(`[twin] guessing client refused ${(bannedAfterMs / 1000).toFixed(1)} s after its 10th failure\n`);
        assert.equal(await registryStatus(neighbour, url, caFile, pushUser()), 200, "the neighbour's right login still works");

        // A change to the front's files reloads it: the ban is on the host, and stays.
        await lab.up({ "private-registry:users": JSON.stringify([
            { name: pushUser().username, role: "push" },
            { name: pullUser().username, role: "pull" },
            { name: "release", role: "push", repositories: ["team/**"] },
            { name: "auditor", role: "pull" },
        ]) });
        assert.equal(await registryStatus(guesser, url, caFile, pushUser(), 2), 0, "the guessing client is still refused after the up");
        assert.equal(await registryStatus(neighbour, url, caFile, pushUser()), 200, "the neighbour still logs in after the up");
        const banned = await lab.twin.execChecked(`fail2ban-client status ${FAIL2BAN_JAIL_NAME}`);
        assert.match(banned.stdout, new RegExp(`Banned IP list:\\s+.*${lab.net.hosts.client.address.replace(/\./g, "\\.")}`), "the jail lists the guesser");
    });

    test("8. the destroy's teardown, run from the deployer as pulumi destroy runs it, leaves no container, secret file or maintenance unit, and runs again cleanly", async () => {
        const teardown = lab.plan.commands.find((c) => c.kind === "local" && c.delete !== undefined && c.name.endsWith("-teardown"));
        assert.ok(teardown?.delete !== undefined, "the plan has the teardown's local command");
        // As pulumi-command runs a local command's delete: `sh -c` with its environment added.
        const run = () => lab.trackerIn("deployer").run("sh", ["-c", teardown.delete ?? ""], { env: { ...process.env, ...teardown.environment }, timeoutMs: 120_000 });
        const first = await run();
        assert.equal(first.code, 0, `the teardown failed: ${first.stdout}\n${first.stderr}`);
        assert.match(first.stdout, /maintenance units removed/);
        const containers = await lab.twin.execChecked("docker ps -a --format '{{.Names}}'");
        assert.deepEqual(containers.stdout.trim().split("\n").filter(Boolean), [], "containers left after the teardown");
        const files = await lab.twin.exec(`ls -d ${HOST_CONFIG_DIR} 2>&1`);
        assert.notEqual(files.code, 0, `the config directory (secrets) is left: ${files.stdout}`);
        // Exits 1 when no unit matches: the output says it.
        const units = await lab.twin.exec("systemctl list-unit-files --no-legend 'private-registry*'");
        assert.equal(units.stdout.trim(), "", `units left after the teardown:\n${units.stdout}`);
        const timers = await lab.twin.execChecked("systemctl list-timers --all --no-legend");
        assert.doesNotMatch(timers.stdout, new RegExp(MAINTENANCE_TIMER.replace(/\./g, "\\.")), "the weekly timer is still scheduled");
        const again = await run();
        assert.equal(again.code, 0, `a second teardown failed: ${again.stdout}\n${again.stderr}`);
    });
});
