/** "## One setting at a time": the program's configuration against variants that change one setting. */
import type { Results } from "../results";
import { fmt, fmtSummary, ratio, summarize } from "../stats";
import { row } from "./markdown";
import { cpuPerGiB, fmtRatio, mbps, registryTimeSplit, rss, sumMb } from "./measures";

export function variantsSection(results: Results): string[] {
    const cfg = results.meta.config;
    if (!results.tuning) {
        return [];
    }
    const L: string[] = [];
    const t = results.tuning;
    const base = t.variants[0];
    L.push(`## One setting at a time`);
    L.push("");
    L.push(`${t.n} concurrent pushes, ${t.chunkMb} MB chunks. The first row is the program's configuration, ${base.change}; each other row changes one setting of it, `
        + "all run interleaved. Each is a setting of the program, not of the registry's code: an environment variable of the container (`REGISTRY_CONTAINER_ENV`), "
        + "the cost the program hashes htpasswd with (`HTPASSWD_BCRYPT_COST`), the chunk size (`s3ChunkSizeMb`). The GOMEMLIMIT column is read back from each registry process's environment.");
    L.push("");
    L.push(row(["variant", "what differs", "GOMEMLIMIT", "aggregate MB/s", "ratio to program config", "peak RSS", `under ${cfg.rssBudgetMb} MB?`, "registry CPU-s/GiB", "registry request time: other requests s"]));
    L.push(row(["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:"]));
    for (const v of t.variants) {
        const peak = Math.max(...rss(v.push));
        L.push(row([
            v.name,
            v.change,
            v.goMemLimit ?? "(unset)",
            sumMb(v.push),
            v === base ? "1" : fmtRatio(ratio(mbps(v.push), mbps(base.push))),
            `${fmtSummary(summarize(rss(v.push)), 0)} MB`,
            peak < cfg.rssBudgetMb ? "yes" : "no",
            fmt(cpuPerGiB(v.push).registry, 2),
            fmt(registryTimeSplit(v.push).other, 2),
        ]));
    }
    L.push("");
    return L;
}
