/**
 * Check 17: the certificate over ACME, for real, on the droplet twin. Pebble, Let's Encrypt's test
 * CA, stands in for Let's Encrypt (test/harness/twinAcme.ts) and pebble-challtestsrv is the DNS:
 * the stack is tls=letsencrypt with a domain and Pebble as acmeServer, deployed as `pulumi up`
 * deploys it (test/harness/twinLab.ts), with port 80 closed by the program's own firewalls.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { CONTAINER_NAME, FRONT_CONTAINER_NAME, HOST_DATA_DIR } from "../../components/render/deployment";
import { pebbleActivity } from "../harness/twinAcme";
import { registryStatus, scanTcp } from "../harness/twinProbe";
import { TwinLab } from "../harness/twinLab";
import { systemBinary } from "../harness/tools";
import { sleep, waitUntil } from "../harness/wait";

const DOMAIN = "registry.twin.test";
/** Pebble refuses this name (its domainBlocklist), as a CA refuses by policy. */
const REFUSED = "refused.twin.test";
/** Short enough that a renewal is due within the test; Caddy renews in the last third. */
const VALIDITY_SECONDS = 90;
/** acmez shuffles challenge types on a process's first use: each fresh start is another draw. */
const FRESH_STARTS = 4;
/** healthCheckTimeoutSeconds' default (Pulumi.yaml). */
const HEALTH_TIMEOUT_DEFAULT_MS = 300_000;
/** Where Caddy keeps certificates and the ACME account: the front's /data on the droplet. */
const CADDY_STORAGE = `${HOST_DATA_DIR}/front/data/caddy`;

interface Served {
    serial: string;
    notAfterMs: number;
    issuer: string;
}

describe("the certificate over ACME on the droplet twin (Pebble)", () => {
    let lab: TwinLab;
    let twinAddress: string;
    let rootFile: string;

    before(async () => {
        lab = await TwinLab.start({
            name: "twin-17",
            acme: { domain: DOMAIN, validitySeconds: VALIDITY_SECONDS, refusedNames: [REFUSED] },
            log: (line) => process.stderr.write(`${line}\n`),
        });
        twinAddress = lab.net.hosts.twin.address;
        rootFile = lab.tmp.join("pebble-root.pem");
        fs.writeFileSync(rootFile, acme().issuingRootPem);
    });

    after(async () => {
        await lab?.dispose();
    });

    function acme() {
        assert.ok(lab.acme !== undefined, "the lab runs Pebble");
        return lab.acme;
    }

    function pushUser(): { username: string; password: string } {
        const users = lab.plan.outputs.registryUsers as Record<string, { username: string; password: string; role: string }>;
        const found = Object.values(users).find((u) => u.role === "push");
        assert.ok(found !== undefined, "the default stack has a push user");
        return found;
    }

    /** The certificate the front presents for `name`, as the CI runner sees it. */
    async function served(name = DOMAIN): Promise<Served | undefined> {
        const script = `${systemBinary("openssl")} s_client -connect ${twinAddress}:443 -servername ${name} </dev/null 2>/dev/null | ${systemBinary("openssl")} x509 -noout -serial -enddate -issuer`;
        const res = await lab.trackerIn("client").run("/bin/sh", ["-c", script], { timeoutMs: 15_000 });
        const field = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(res.stdout)?.[1];
        const serial = field("serial");
        const notAfter = field("notAfter");
        return serial === undefined || notAfter === undefined ? undefined : { serial, notAfterMs: Date.parse(notAfter), issuer: field("issuer") ?? "" };
    }

    async function nextCertificate(previous: string | undefined, description: string): Promise<Served> {
        return waitUntil(
            async () => {
                const now = await served();
                return now !== undefined && now.serial !== previous && /Pebble/i.test(now.issuer) ? { done: true, value: now } : { done: false, seen: JSON.stringify(now) };
            },
            { description, timeoutMs: 90_000, intervalMs: 1000 },
        );
    }

    /** The challenge types the front tried, in order, from Caddy's log (acmez v3.1.7 client.go "trying to solve challenge"). */
    async function challengeTypesTried(): Promise<string[]> {
        const res = await lab.twin.execChecked(`docker logs ${FRONT_CONTAINER_NAME} 2>&1`);
        return res.stdout
            .split("\n")
            .filter((line) => line.includes('"msg":"trying to solve challenge"'))
            .map((line) => /"challenge_type":"([^"]+)"/.exec(line)?.[1] ?? "?");
    }

    test("while the name does not resolve, the first up says which record to create and asks the CA nothing", async () => {
        // The lab's own readiness probe fetched the directory once; nothing else may.
        const requestsBefore = pebbleActivity(acme().log()).requests;
        await lab.deploy();
        const said = lab.deployer.runs.map((run) => run.result.stdout).join("\n");
        assert.ok(said.includes(`waiting for DNS: create an A record ${DOMAIN} -> ${twinAddress}`), said);
        assert.equal(pebbleActivity(acme().log()).requests, requestsBefore, "no request reached the ACME server");
        assert.deepEqual(await challengeTypesTried(), []);
    });

    test("once it resolves, the next up gets the certificate over TLS-ALPN-01, with port 80 closed", async () => {
        await acme().addA(DOMAIN, twinAddress);
        const ran = await lab.up({});
        assert.ok(ran.length > 0, "the second up runs what changed");
        assert.deepEqual(await scanTcp(lab.trackerIn("client"), twinAddress, [80, 443]), [443], "80 is closed to the world, 443 open");
        const certificate = await served();
        assert.ok(certificate !== undefined && /Pebble/i.test(certificate.issuer), `Pebble issued what the front serves: ${JSON.stringify(certificate)}`);
        // The CI runner trusts Pebble's root alone, and reaches the registry by its name.
        assert.equal(await registryStatus(lab.trackerIn("client"), `https://${DOMAIN}/v2/`, rootFile, pushUser()), 200);
        const activity = pebbleActivity(acme().log());
        assert.equal(activity.issued, 1);
        assert.equal(activity.httpValidations, 0, "no HTTP-01 validation was attempted");
        assert.deepEqual(await challengeTypesTried(), ["tls-alpn-01"]);
    });

    test("npm run check passes from the CI runner, which trusts Pebble's root as a step-ca user's runner trusts theirs", async () => {
        // Pebble's certificates here last 90 s; the check's expiry margin is for real ones.
        const check = await lab.liveCheck("client", { trustedPem: acme().issuingRootPem, args: ["--min-days", "0"] });
        assert.equal(check.code, 0, `the live check failed:\n${check.stdout}${check.stderr}`);
        assert.doesNotMatch(check.stdout, /FAIL/);
    });

    test(`over ${FRESH_STARTS} fresh starts of the front, no HTTP-01 attempt is made`, async () => {
        let previous = (await served())?.serial;
        for (let i = 0; i < FRESH_STARTS; i++) {
            // A fresh start, as on a new droplet: no certificate and no ACME account on disk.
            await lab.twin.execChecked(`docker stop ${FRONT_CONTAINER_NAME} >/dev/null && rm -rf ${CADDY_STORAGE} && docker start ${FRONT_CONTAINER_NAME} >/dev/null`);
            previous = (await nextCertificate(previous, `a certificate after fresh start ${i + 1}`)).serial;
        }
        const activity = pebbleActivity(acme().log());
        assert.equal(activity.issued, 1 + FRESH_STARTS);
        assert.equal(activity.httpValidations, 0, "no HTTP-01 validation was attempted");
        assert.deepEqual(await challengeTypesTried(), Array(1 + FRESH_STARTS).fill("tls-alpn-01"));
    });

    test("a certificate in its last third is renewed from the same account when the front starts again", async () => {
        const current = await served();
        assert.ok(current !== undefined);
        const accountsBefore = (await lab.twin.execChecked(`find ${CADDY_STORAGE}/acme -name '*.key' | sort`)).stdout;
        // certmagic's renewal window: the last third of the lifetime (DefaultRenewalWindowRatio).
        const windowOpensMs = current.notAfterMs - (VALIDITY_SECONDS * 1000) / 3;
        await sleep(Math.max(0, windowOpensMs - Date.now()) + 3000);
        // A reboot, or `pulumi up` with a new front, starts the front again; it checks every
        // certificate it manages as it starts (certmagic config.go manageOne), as its background
        // maintenance does every 10 minutes (maintain.go DefaultRenewCheckInterval).
        await lab.twin.execChecked(`docker restart ${FRONT_CONTAINER_NAME} >/dev/null`);
        const renewed = await nextCertificate(current.serial, "the renewed certificate");
        assert.ok(renewed.notAfterMs > current.notAfterMs, "the renewed certificate lasts longer");
        const log = (await lab.twin.execChecked(`docker logs --since 2m ${FRONT_CONTAINER_NAME} 2>&1`)).stdout;
        assert.match(log, /"msg":"certificate renewed successfully"/);
        assert.equal((await lab.twin.execChecked(`find ${CADDY_STORAGE}/acme -name '*.key' | sort`)).stdout, accountsBefore, "no new ACME account");
        assert.equal(pebbleActivity(acme().log()).httpValidations, 0);
    });

    test("a front image the registry does not hold fails the up before any container is replaced", async () => {
        // As when the pinned tag is not on Docker Hub: the twin reaches no registry, so a pull fails.
        const image = (await lab.twin.execChecked(`docker inspect -f '{{.Config.Image}}' ${FRONT_CONTAINER_NAME}`)).stdout.trim();
        const id = (await lab.twin.execChecked(`docker image inspect -f '{{.Id}}' ${image}`)).stdout.trim();
        const registryBefore = (await lab.twin.execChecked(`docker inspect -f '{{.Id}}' ${CONTAINER_NAME}`)).stdout.trim();
        await lab.twin.execChecked(`docker rmi -f ${image} >/dev/null`);
        try {
            await assert.rejects(lab.up({ "private-registry:healthCheckTimeoutSeconds": "240" }), (error: Error) => {
                assert.match(error.message, new RegExp(`pulling ${image.replace(/[.]/g, "\\.")}`));
                return true;
            });
            const registryAfter = (await lab.twin.execChecked(`docker inspect -f '{{.Id}} {{.State.Running}}' ${CONTAINER_NAME}`)).stdout.trim();
            assert.equal(registryAfter, `${registryBefore} true`, "the running registry was left as it was");
            assert.equal(await registryStatus(lab.trackerIn("client"), `https://${DOMAIN}/v2/`, rootFile, pushUser()), 200, "and still serves");
        } finally {
            await lab.twin.execChecked(`docker tag ${id} ${image}`);
        }
    });

    test("a refused issuance fails the deploy with the CA's reason", async (t) => {
        await acme().addA(REFUSED, twinAddress);
        const started = Date.now();
        await assert.rejects(lab.up({ "private-registry:domain": REFUSED }), (error: Error) => {
            t.diagnostic(error.message.split("\n").slice(0, 4).join(" | "));
            assert.match(error.message, /the ACME server refused the certificate: .*urn:ietf:params:acme:error:rejectedIdentifier/);
            assert.match(error.message, /forbidden by policy/);
            return true;
        });
        // Caddy would retry for a month; the deploy says so on the CA's first answer.
        assert.ok(Date.now() - started < HEALTH_TIMEOUT_DEFAULT_MS, `failed before the health wait's timeout (${Date.now() - started} ms)`);
    });
});
