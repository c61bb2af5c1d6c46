/**
 * "## Recommendations from this run": what the owner can change, drawn from this run's numbers.
 * Each item is printed only when the run's data supports it (see conclusions.ts).
 */
import type { Results } from "../results";
import { fmt, ratio } from "../stats";
import { chunkDefaultNote, memoryLimitNote } from "./chunkNotes";
import { costlierBcrypt, fasterOverBudget, memoryLimitLowersPeak, redirectSavesRegistryCpu } from "./conclusions";
import { cpuPerGiB, fmtRatio, mbps } from "./measures";
import { memVariantText, programOf, variantOf } from "./program";

export function recommendationsSection(results: Results): string[] {
    const cfg = results.meta.config;
    const items: string[] = [];
    const p = programOf(results);
    items.push(`**S3 chunk size ${results.chosen.chunkMb} MB** (\`chunksize: ${results.chosen.chunkMb * 1024 * 1024}\`), ${chunkDefaultNote(results)}: ${results.chosen.reason}.${memoryLimitNote(results)}`);
    const t = results.tuning;
    const base = variantOf(results, "program")[0];
    const mem = variantOf(results, "memlimit")[0];
    const lowered = memoryLimitLowersPeak(results);
    if (t && base && mem && lowered && p.env.GOMEMLIMIT) {
        const { withPeak, withoutPeak } = lowered;
        const verdict = withPeak < cfg.rssBudgetMb && withoutPeak >= cfg.rssBudgetMb
            ? "the limit is what keeps the registry inside the budget"
            : withPeak < cfg.rssBudgetMb
              ? "inside the budget either way in this run"
              : "lower, but still outside the budget";
        items.push(`**\`GOMEMLIMIT=${p.env.GOMEMLIMIT}\` in the registry container's environment** (as deployed, \`REGISTRY_CONTAINER_ENV\`): peak RSS at ${t.n} concurrent pushes `
            + `${fmt(withoutPeak, 0)} MB ${memVariantText(mem)} → ${fmt(withPeak, 0)} MB with it (${verdict}); ${mem.goMemLimit === "off" ? "without it" : `with \`${mem.name}\``} the registry pushed at ${fmtRatio(ratio(mbps(mem.push), mbps(base.push)))} the deployed throughput. `
            + "A soft limit: if more uploads run at once than fit under it, the GC works harder instead of failing.");
    }
    const costlier = costlierBcrypt(results);
    if (t && base && costlier.length > 0) {
        const parts = costlier.map((bc) => `\`${bc.name}\` pushed at ${fmtRatio(ratio(mbps(bc.push), mbps(base.push)))} the throughput of cost ${p.bcryptCost} and used ${fmt(cpuPerGiB(bc.push).registry, 2)} registry CPU-s/GiB against ${fmt(cpuPerGiB(base.push).registry, 2)}`);
        items.push(`**htpasswd bcrypt cost ${p.bcryptCost}** (as deployed, \`HTPASSWD_BCRYPT_COST\`): the registry verifies bcrypt on every request; at ${t.n} concurrent pushes ${parts.join("; ")}. `
            + "The program's password is 32 random characters (~190 bits), so the higher cost would buy no protection that password needs.");
    }
    if (redirectSavesRegistryCpu(results)) {
        const on = cpuPerGiB(results.pull.redirectOn);
        const off = cpuPerGiB(results.pull.redirectOff);
        items.push(`**Keep pulls redirected to S3**: the registry spent ${fmt(on.registry, 2)} CPU-s/GiB on a redirected pull (it answers with a 307 and the client fetches the blob from S3) `
            + `and ${fmt(off.registry, 2)} when it streamed the blob itself.`);
    }
    const faster = fasterOverBudget(results);
    if (faster) {
        items.push(`**The memory budget, not throughput, set the chunk size**: ${faster.chunkMb} MB chunks pushed faster on loopback (${fmt(faster.push)} MB/s against ${fmt(faster.chosenPush)}) `
            + `but peaked at ${fmt(faster.peak, 0)} MB at ${cfg.sweepConcurrency} concurrent pushes, over the ${cfg.rssBudgetMb} MB budget. Loopback has no per-part network round trip `
            + "(see [What is measured](#what-is-measured)): time a real push once deployed (`time skopeo copy …`) before changing the chunk size.");
    }
    return ["## Recommendations from this run", "", ...items.map((item, i) => `${i + 1}. ${item}`), ""];
}
