import { randomBytes } from "node:crypto";
import type { RegistryConfigInput } from "../../components/render/registryConfig";
import { ProcessTracker } from "./processes";
import { LocalRegistry, generateLogin, type S3Target } from "./registry";
import { S3Server } from "./s3";
import { S3RecordingProxy } from "./s3proxy";
import { Skopeo } from "./skopeo";
import { generateTestCertificates, type TestCertificates } from "./tls";
import { makeTempDir, type TempDir } from "./tools";

/**
 * The whole rehearsal stack in one call: versitygw with a fresh bucket, a throwaway CA, and the
 * real registry serving the program's rendered config on 127.0.0.1, plus a skopeo client.
 * `stop()` kills every process and removes the temp directory.
 */

export interface StackOptions {
    /** Prefix of the temp directory. */
    name?: string;
    /** Use this tracker (and leave disposing it to the caller); default: a new one. */
    tracker?: ProcessTracker;
    bucket?: string;
    /** Redirect blob pulls to presigned S3 URLs; default: the program's default (true). */
    redirect?: boolean;
    /** Passed to {@link LocalRegistry.start}: a last change to the config input. */
    configure?: (input: RegistryConfigInput) => RegistryConfigInput;
    /** Fixed ports (e.g. for rehearse.ts); free ones by default. */
    ports?: { registry?: number; debug?: number; s3?: number };
    /**
     * Put a {@link S3RecordingProxy} between the registry and versitygw (to see each request's
     * `x-amz-acl`), optionally refusing ACLs like a BucketOwnerEnforced bucket.
     */
    s3Proxy?: { bucketOwnerEnforced?: boolean };
}

export interface Stack {
    tracker: ProcessTracker;
    tmp: TempDir;
    s3: S3Server;
    /** Present when `s3Proxy` was asked for: the registry's S3 endpoint is then the proxy's. */
    s3Proxy: S3RecordingProxy | undefined;
    /** The bucket the registry stores in, with the credentials it signs with. */
    s3Target: S3Target;
    certs: TestCertificates;
    registry: LocalRegistry;
    skopeo: Skopeo;
    /** Stops everything and removes the temp directory; never throws. */
    stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
    const ownTracker = options.tracker === undefined;
    const tracker = options.tracker ?? new ProcessTracker();
    const tmp = makeTempDir(options.name ?? "registry-rehearsal");
    const stop = async () => {
        try {
            if (ownTracker) {
                await tracker.dispose();
            } else {
                await tracker.stopAll();
            }
        } catch (error) {
            process.stderr.write(`[harness] ${error instanceof Error ? error.message : String(error)}\n`);
        } finally {
            tmp.remove();
        }
    };
    try {
        const s3 = await S3Server.start(tracker, { dir: tmp.join("s3"), port: options.ports?.s3 });
        const bucket = options.bucket ?? `rehearsal-${randomBytes(4).toString("hex")}`;
        await s3.createBucket(bucket);
        let s3Proxy: S3RecordingProxy | undefined;
        if (options.s3Proxy !== undefined) {
            const proxy = await S3RecordingProxy.start({ upstreamPort: s3.port, bucketOwnerEnforced: options.s3Proxy.bucketOwnerEnforced });
            tracker.addCleanup("S3 recording proxy", () => proxy.close());
            s3Proxy = proxy;
        }
        const endpoint = s3Proxy?.endpoint ?? s3.endpoint;
        const s3Target: S3Target = { endpoint, region: s3.region, bucket, accessKey: s3.accessKey, secretKey: s3.secretKey };
        const certs = await generateTestCertificates(tracker, tmp.join("tls"));
        const registry = await LocalRegistry.start(tracker, {
            dir: tmp.join("registry"),
            s3: s3Target,
            certs,
            login: generateLogin(),
            redirect: options.redirect,
            configure: options.configure,
            port: options.ports?.registry,
            debugPort: options.ports?.debug,
        });
        const skopeo = new Skopeo(tracker, tmp.join("skopeo"));
        return { tracker, tmp, s3, s3Proxy, s3Target, certs, registry, skopeo, stop };
    } catch (error) {
        await stop();
        throw error;
    }
}
