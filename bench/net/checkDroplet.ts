import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildOciImage, readAndVerifyOciImage } from "../../test/harness/oci";
import { freePort } from "../../test/harness/ports";
import { ProcessTracker } from "../../test/harness/processes";
import { S3Server } from "../../test/harness/s3";
import { dockerRef, ociRef, Skopeo } from "../../test/harness/skopeo";
import { startFrontedRegistry } from "../../test/harness/stack";
import { generateTestCertificates } from "../../test/harness/tls";
import { NetworkRig, type RigLayout } from "./rig";

/**
 * check.ts's second half, run INSIDE the droplet namespace (`ip netns exec`): the harness checks
 * its servers with sockets of its own, and a socket lives in its process's namespace; from here
 * the registry's loopback, the front's address and (over the droplet->s3 link) S3 are all in
 * reach, as they are for an operator on the droplet. S3 runs in `s3` and skopeo in `ci`, each
 * through a tracker whose commands start with `ip netns exec`.
 *
 * Usage: checkDroplet.ts LAYOUT.json WORKDIR RESULT.json
 */

export interface DropletCheckResult {
    frontFromCi: string;
    s3FromDroplet: string;
    s3FromCi: string;
    layerBytes: number;
    pushMs: number;
    pullMs: number;
    /** What ci received over its link to s3 during the pull, and over its link to the droplet. */
    pullBytesFromS3: number;
    pullBytesFromDroplet: number;
    /** Blob GETs the front answered with a redirect during the pull. */
    redirects: number;
    verified: boolean;
}

const LAYER_BYTES = 8 * 1024 * 1024;

async function main(layoutFile: string, dir: string, resultFile: string): Promise<void> {
    const layout = JSON.parse(fs.readFileSync(layoutFile, "utf8")) as RigLayout;
    const tracker = new ProcessTracker();
    const rig = NetworkRig.attach(tracker, layout);
    const inS3 = new ProcessTracker({ commandPrefix: rig.prefix("s3") });
    const inCi = new ProcessTracker({ commandPrefix: rig.prefix("ci") });
    try {
        const s3Port = await freePort();
        await rig.expose("s3", s3Port);
        const s3 = await S3Server.start(inS3, { dir: path.join(dir, "s3"), port: s3Port, host: rig.address("s3") });
        const bucket = `net-check-${randomBytes(4).toString("hex")}`;
        await s3.createBucket(bucket);
        const droplet = rig.address("droplet");
        const certs = await generateTestCertificates(tracker, path.join(dir, "tls"), { hosts: [droplet, "127.0.0.1", "localhost"] });
        const frontPort = await freePort();
        await rig.expose("droplet", frontPort);
        const registry = await startFrontedRegistry(tracker, {
            dir,
            s3: { endpoint: s3.endpoint, region: s3.region, bucket, accessKey: s3.accessKey, secretKey: s3.secretKey },
            certs,
            frontHost: droplet,
            ports: { front: frontPort },
        });
        const layoutDir = path.join(dir, "oci");
        const image = await buildOciImage(layoutDir, { layerSizes: [LAYER_BYTES], tag: "v1" });
        const skopeo = new Skopeo(inCi, path.join(dir, "skopeo"));
        const remote = dockerRef(rig.hop("ci", "droplet", frontPort), "net/check", "v1");
        let t0 = Date.now();
        await skopeo.copyChecked(ociRef(layoutDir, "v1"), remote, { destCreds: registry.login, destCertDir: certs.certDir });
        const pushMs = Date.now() - t0;
        const fromS3 = await rig.linkBytes("ci", "s3");
        const fromDroplet = await rig.linkBytes("ci", "droplet");
        const logged = registry.front.accessLog().length;
        const pulledDir = path.join(dir, "pulled");
        t0 = Date.now();
        await skopeo.copyChecked(remote, ociRef(pulledDir, "v1"), { srcCreds: registry.login, srcCertDir: certs.certDir });
        const pullMs = Date.now() - t0;
        const pulled = readAndVerifyOciImage(pulledDir, "v1");
        const result: DropletCheckResult = {
            frontFromCi: rig.hop("ci", "droplet", frontPort),
            s3FromDroplet: rig.hop("droplet", "s3", s3Port),
            s3FromCi: rig.hop("ci", "s3", s3Port),
            layerBytes: LAYER_BYTES,
            pushMs,
            pullMs,
            pullBytesFromS3: (await rig.linkBytes("ci", "s3")).rx - fromS3.rx,
            pullBytesFromDroplet: (await rig.linkBytes("ci", "droplet")).rx - fromDroplet.rx,
            redirects: registry.front.accessLog().slice(logged).filter((e) => e.status === 307).length,
            verified: pulled.manifest.digest === image.manifest.digest,
        };
        fs.writeFileSync(resultFile, JSON.stringify(result));
    } finally {
        for (const t of [inCi, inS3, tracker]) {
            await t.dispose();
        }
    }
}

const [layoutFile, dir, resultFile] = process.argv.slice(2);
main(layoutFile, dir, resultFile).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
