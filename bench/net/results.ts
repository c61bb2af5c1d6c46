/**
 * The network bench's raw results (bench/results/network.json): what was measured, per profile,
 * and nothing derived. The report (report/) computes every figure from this alone.
 */
import type { LinkName, LinkProfile, ProfileStorage } from "./profiles";
import type { HostInfo } from "../lib/hostInfo";
import type { PushConcurrency } from "./pool";
import type { LinkMeasurement } from "./probe";

/** baseline: the same client straight to S3; ours: the program's registry + front; ours-noredirect: ours with `redirectPullsToS3` off; peer: upstream defaults. */
export type Variant = "baseline" | "ours" | "ours-noredirect" | "peer";

/**
 * a: one large layer; b: a realistic image, its layers one at a time (b-push) or 3 and 5 at once
 * (b-push-3, b-push-5, as real clients push: pool.ts); c: many small layers; d: concurrent
 * pushes of distinct images. A pull is of (a) only. Results recorded before the concurrent
 * pushes have no b-push-3 or b-push-5 series.
 */
export type Workload = "a-push" | "a-pull" | "b-push" | "b-push-3" | "b-push-5" | "c-push" | "d-push";

export const WORKLOADS: readonly Workload[] = ["a-push", "a-pull", "b-push", "b-push-3", "b-push-5", "c-push", "d-push"];

/** The (b) series by how many layers went at once. */
export const B_PUSH_BY_CONCURRENCY: Record<PushConcurrency, Workload> = { 1: "b-push", 3: "b-push-3", 5: "b-push-5" };

/** Client-side time of one kind of request over an operation: how many, and their summed seconds. */
export interface RequestTime {
    count: number;
    seconds: number;
}

export interface OpSample {
    round: number;
    /** Position of the variant in its round (the order alternates). */
    position: number;
    seconds: number;
    bytes: number;
    ok: boolean;
    error?: string;
    /** CPU seconds during the operation; null for a process the variant does not have. */
    cpu: { registry: number | null; front: number | null; s3: number };
    /** By request kind (HEAD, POST, PATCH, PUT blob, PUT manifest, GET redirect, GET bytes...). */
    requests?: Record<string, RequestTime>;
    /** S3 requests during the operation, by S3 operation (from the S3 server's access log). */
    s3Ops?: Record<string, number>;
    /** The registry's VmHWM after the operation, on a process started for it. */
    peakRssMb?: number;
    /** Blobs pulled back and hashed to their digest, out of those pushed. */
    verified?: number;
    expected?: number;
    errors?: number;
}

export interface Series {
    variant: Variant;
    workload: Workload;
    samples: OpSample[];
}

export interface SweepPoint {
    chunkMb: number;
    /** Push of (a). */
    push: OpSample[];
    /** (d): concurrent pushes, with the registry's peak RSS. */
    conc: OpSample[];
    /** Push of (b), 5 layers at once; absent in results recorded before the sweep measured it. */
    bConc?: OpSample[];
}

/** The storage settings that tell the program's S3 section from its Spaces one (endpoint and keys left out: swapped or secret). */
export interface OursStorage {
    region: string;
    encrypt: boolean;
    objectacl: string;
    forcepathstyle: boolean;
    chunksize: number;
}

export interface ProfileRun {
    profile: string;
    description: string;
    links: Record<LinkName, LinkProfile>;
    /** Where the bucket was; absent in results recorded before profiles named it (all of them AWS S3). */
    storage?: ProfileStorage;
    /** The profile with the same runner and droplet and the other storage (profiles.ts), if any. */
    counterpart?: string;
    /** The S3 driver settings ours ran with (from its config file); absent in older results. */
    oursStorage?: OursStorage;
    probe: LinkMeasurement[];
    probeOk: boolean;
    probeProblems: string[];
    /** Empty when the probe failed (nothing is measured on a rig that does not behave as configured). */
    series: Series[];
    sweep: SweepPoint[];
    durationSeconds: number;
    /** Set when the measurement stopped with an error; the series hold what was measured before it. */
    failure?: string;
}

export interface NetworkResults {
    meta: {
        startedAt: string;
        durationSeconds: number;
        quick: boolean;
        host: HostInfo;
        versions: { registry: string; caddy: string; versitygw: string; node: string };
        rounds: number;
        /** Per profile: the sweep is the longest part under a slow link, so it may have fewer rounds there. */
        sweepRounds: Record<string, number>;
        /** The program's chunk size (DEFAULTS.s3ChunkSizeMb) and its GOMEMLIMIT (REGISTRY_CONTAINER_ENV). */
        program: { chunkMb: number; gomemlimit: string | null; redirect: boolean };
        peer: { chunkMb: number; sources: readonly string[] };
        rssBudgetMb: number;
        sweepChunksMb: number[];
        /** How many layers of (b) went at once in its pushes; absent in results recorded before they were measured. */
        pushConcurrencies?: number[];
        workloads: {
            a: { bytes: number };
            b: { image: string; source: string; layerBytes: number[] };
            c: { layerBytes: number[] };
            d: { images: number; layerBytes: number };
            /** The sweep's concurrent pushes (not pulled back). */
            dSweep: { images: number; layerBytes: number };
        };
        client: string;
    };
    profiles: ProfileRun[];
}
