/**
 * The fastest a push through the registry could go on a rig: its bytes cross runner -> droplet,
 * then droplet -> S3, so the slower of the two links, as the probe measured them in the push's
 * direction (probe.ts, `upMbit`: away from the side that connects). Pure.
 */
import type { LinkMeasurement } from "./probe";

const MiB = 1024 * 1024;

/** The links a push through the registry crosses, runner side first. */
export const PUSH_PATH = ["ci-droplet", "droplet-s3"] as const;

export interface PathLimit {
    mibps: number;
    /** The slower link, the one that sets the limit. */
    link: (typeof PUSH_PATH)[number];
}

/** Mbit/s (10^6 bit/s, the probe's unit) as MiB/s (the report's). */
export const mbitToMibps = (mbit: number) => (mbit * 1e6) / 8 / MiB;

/** Undefined when the probe lacks either link or measured one as not positive. */
export function pushPathLimit(probe: readonly LinkMeasurement[]): PathLimit | undefined {
    let limit: PathLimit | undefined;
    for (const link of PUSH_PATH) {
        const m = probe.find((p) => p.link === link);
        if (m === undefined || !(m.upMbit > 0)) {
            return undefined;
        }
        const mibps = mbitToMibps(m.upMbit);
        if (limit === undefined || mibps < limit.mibps) {
            limit = { mibps, link };
        }
    }
    return limit;
}
