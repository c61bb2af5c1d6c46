import * as os from "node:os";

/** The machine a bench ran on, as its results record it. */
export interface HostInfo {
    model: string;
    cpus: number;
    kernel: string;
    memGb: number;
    /** `os.loadavg()` (1, 5 and 15 minutes) before the run and after it, to two decimals. */
    loadBefore: number[];
    loadAfter: number[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** This machine now; `loadBefore` is the `os.loadavg()` taken when the run began. */
export function hostInfo(loadBefore: number[]): HostInfo {
    return {
        model: os.cpus()[0]?.model ?? "unknown",
        cpus: os.cpus().length,
        kernel: os.release(),
        memGb: Math.round(os.totalmem() / 1024 ** 3),
        loadBefore: loadBefore.map(round2),
        loadAfter: os.loadavg().map(round2),
    };
}
