/** Formatting shared by the network report's sections. Pure. */
import type { Spread } from "../analysis";
import type { Variant, Workload } from "../results";

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

export const fmtSpread = (s: Spread, digits = 1, unit = "") =>
    s.n === 0 ? "not measured" : `${fmt(s.median, digits)}${unit} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;

export const fmtRatio = (s: Spread) => (s.n === 0 ? "—" : `${fmt(s.median, 2)}x (${fmt(s.min, 2)}–${fmt(s.max, 2)})`);

export const MB = (bytes: number) => `${fmt(bytes / 2 ** 20, bytes < 2 ** 20 ? 3 : 1)} MiB`;

export const VARIANT_NAMES: Record<Variant, string> = {
    baseline: "baseline (straight to S3)",
    ours: "ours (registry + front)",
    "ours-noredirect": "ours, redirect off",
    peer: "peer (upstream defaults)",
};

export const WORKLOAD_NAMES: Record<Workload, string> = {
    "a-push": "(a) push, one large layer",
    "a-pull": "(a) pull",
    "b-push": "(b) push, realistic image",
    "b-push-3": "(b) push 3 layers at once",
    "b-push-5": "(b) push 5 layers at once (docker)",
    "c-push": "(c) push, many small layers",
    "d-push": "(d) concurrent pushes",
};

export function table(header: string[], rows: string[][]): string {
    return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}
