/** The shape of one benchmark run's results (also written as JSON). */
import type { BenchConfig } from "./config";
import type { HostInfo } from "./hostInfo";
import type { ProfileSummary } from "./pprof";
import type { Sample } from "./rig";

export interface SweepEntry {
    chunkMb: number;
    /** Baseline multipart PUT of the layer, part size = chunk size, one part in flight. */
    put: Sample[];
    /** skopeo push of the one-layer image through the registry. */
    push: Sample[];
    /** `sweepConcurrency` concurrent pushes (peak RSS for the memory budget). */
    conc: Sample[];
}

export interface ConcurrencyLevel {
    n: number;
    /** Baseline: the same objects (base + own layer per image), all uploads at once. */
    put: Sample[];
    push: Sample[];
}

export interface RequestCounts {
    chunkMb: number;
    layerBytes: number;
    /** S3 operation -> count (health checks excluded). */
    push: Record<string, number>;
    pullRedirect: Record<string, number>;
    pullNoRedirect: Record<string, number>;
}

export interface TuningVariant {
    name: string;
    /** Which setting differs from the program's configuration ("program": none, the baseline). */
    kind?: "program" | "memlimit" | "chunk" | "bcrypt";
    /** What differs from the program's configuration. */
    change: string;
    /** GOMEMLIMIT the registry process ran with, read back from /proc/<pid>/environ. */
    goMemLimit?: string;
    push: Sample[];
}

/** The program's settings the run measured as "the program's" (what `pulumi up` deploys). */
export interface ProgramSettings {
    /** DEFAULTS.s3ChunkSizeMb */
    chunkMb: number;
    /** HTPASSWD_BCRYPT_COST */
    bcryptCost: number;
    /** REGISTRY_CONTAINER_ENV, which every registry of the run gets unless a variant overrides it. */
    env: Record<string, string>;
}

export interface Goal {
    name: string;
    goal: string;
    measured: string;
    met: boolean;
}

export interface Results {
    meta: {
        startedAt: string;
        durationSeconds: number;
        host: HostInfo;
        versions: Record<string, string>;
        workDirFs: string;
        config: BenchConfig;
        /** Absent in results written before it was recorded. */
        program?: ProgramSettings;
    };
    sweep: SweepEntry[];
    chosen: { chunkMb: number; reason: string };
    pull: {
        chunkMb: number;
        get: Sample[];
        redirectOn: Sample[];
        redirectOff: Sample[];
        /** The layer blob through the registry with the baseline's own client (Node), redirect on / off. */
        clientOn?: Sample[];
        clientOff?: Sample[];
    };
    concurrency: { chunkMb: number; levels: ConcurrencyLevel[] };
    filesystem: { put: Sample[]; get: Sample[]; push: Sample[]; pull: Sample[] };
    /** The same concurrent push with one setting changed at a time (chosen chunk size). */
    tuning?: { chunkMb: number; n: number; variants: TuningVariant[] };
    requests?: RequestCounts;
    profiles: ProfileSummary[];
    goals: Goal[];
}
