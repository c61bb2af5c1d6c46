/** Small statistics over repeated measurements. Pure. */

export interface Summary {
    n: number;
    median: number;
    min: number;
    max: number;
    values: number[];
}

export function median(values: number[]): number {
    if (values.length === 0) {
        return Number.NaN;
    }
    const s = [...values].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(values: number[]): Summary {
    return {
        n: values.length,
        median: median(values),
        min: values.length ? Math.min(...values) : Number.NaN,
        max: values.length ? Math.max(...values) : Number.NaN,
        values: [...values],
    };
}

/**
 * Ratio of two repeated measurements taken in the same run. Pairs (run i of `a` with run i of
 * `b`, measured back to back) share the machine's momentary load, so the median of the per-pair
 * ratios is less noisy than the ratio of the medians; both are reported.
 */
export interface Ratio {
    ofMedians: number;
    pairedMedian: number;
    pairedMin: number;
    pairedMax: number;
}

export function ratio(a: number[], b: number[]): Ratio {
    const pairs = a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / b[i]);
    return {
        ofMedians: median(a) / median(b),
        pairedMedian: median(pairs),
        pairedMin: pairs.length ? Math.min(...pairs) : Number.NaN,
        pairedMax: pairs.length ? Math.max(...pairs) : Number.NaN,
    };
}

export function fmt(n: number, digits = 1): string {
    return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

/** "median (min–max)". */
export function fmtSummary(s: Summary, digits = 1): string {
    return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}
