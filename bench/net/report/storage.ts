/**
 * S3 and Spaces side by side: each Spaces profile beside its counterpart (profiles.ts), the
 * profile with the same runner and droplet and the bucket in AWS S3, with the ratios each
 * profile's own section gives (to the baseline, to the peer). Pure.
 */
import { pairedRatio, throughput, type Spread } from "../analysis";
import { WORKLOADS, type NetworkResults, type ProfileRun, type Variant } from "../results";
import { fmt, fmtRatio, fmtSpread, table, VARIANT_NAMES, WORKLOAD_NAMES } from "./format";

export interface StoragePair {
    s3: ProfileRun;
    spaces: ProfileRun;
}

/** Results recorded before profiles named their storage were all AWS S3. */
export const storageKind = (run: ProfileRun) => run.storage?.kind ?? "s3";

/** "AWS S3 us-east-1", "Spaces nyc3"; "AWS S3" alone where the results do not name the region. */
export function storageLabel(run: ProfileRun): string {
    const name = storageKind(run) === "spaces" ? "Spaces" : "AWS S3";
    return run.storage === undefined ? name : `${name} ${run.storage.region}`;
}

/** Every Spaces profile whose counterpart ran in these results and keeps its layers in S3, in the results' order. */
export function storagePairs(r: NetworkResults): StoragePair[] {
    const pairs: StoragePair[] = [];
    for (const spaces of r.profiles) {
        if (storageKind(spaces) !== "spaces" || spaces.counterpart === undefined) {
            continue;
        }
        const s3 = r.profiles.find((p) => p.profile === spaces.counterpart && storageKind(p) === "s3");
        if (s3 !== undefined) {
            pairs.push({ s3, spaces });
        }
    }
    return pairs;
}

/**
 * Which storage was faster, judged on every round of both: one storage's slowest round beat the
 * other's fastest, with at least `minRounds` rounds on each side (one round cannot tell a
 * difference from noise). The profiles ran one after the other, not interleaved, so their rounds
 * cannot be paired as the ratios to the baseline and the peer are.
 */
export function fasterStorage(s3: Spread, spaces: Spread, minRounds = 2): "s3" | "spaces" | undefined {
    if (s3.n < minRounds || spaces.n < minRounds) {
        return undefined;
    }
    if (spaces.min > s3.max) {
        return "spaces";
    }
    if (spaces.max < s3.min) {
        return "s3";
    }
    return undefined;
}

const VARIANTS: Variant[] = ["baseline", "ours", "ours-noredirect", "peer"];

/** Why no storage is named faster: too few rounds, or rounds that overlap. */
const undecided = (s3: Spread, spaces: Spread) => (Math.min(s3.n, spaces.n) < 2 ? "too few rounds to name one" : "the rounds overlap");

function verdictCell(s3: Spread, spaces: Spread): string {
    if (s3.n === 0 || spaces.n === 0) {
        return "—";
    }
    const faster = fasterStorage(s3, spaces);
    const ratio = `${fmt(spaces.median / s3.median, 2)}x`;
    return faster === "spaces" ? `${ratio}, Spaces faster in every round` : faster === "s3" ? `${ratio}, S3 faster in every round` : `${ratio}, ${undecided(s3, spaces)}`;
}

/** Small speeds (the many-small-layers push) need a second decimal to tell two storages apart. */
const speed = (s: Spread) => fmtSpread(s, s.median < 1 ? 2 : 1);

/** One row per workload and variant that ran under either profile. */
export function storageRows(pair: StoragePair): string[][] {
    const rows: string[][] = [];
    for (const w of WORKLOADS) {
        for (const v of VARIANTS) {
            const a = throughput(pair.s3, v, w);
            const b = throughput(pair.spaces, v, w);
            if (a.n === 0 && b.n === 0) {
                continue;
            }
            const vsBaseline = (run: ProfileRun) => (v === "baseline" ? "1" : fmtRatio(pairedRatio(run, v, "baseline", w)));
            const vsPeer = (run: ProfileRun) => (v === "ours" ? fmtRatio(pairedRatio(run, "ours", "peer", w)) : "—");
            rows.push([WORKLOAD_NAMES[w], VARIANT_NAMES[v], speed(a), vsBaseline(pair.s3), vsPeer(pair.s3), speed(b), vsBaseline(pair.spaces), vsPeer(pair.spaces), verdictCell(a, b)]);
        }
    }
    return rows;
}

/** What ours ran as its storage section under a profile, from the settings its config file had; empty without them. */
export function oursStorageSentence(run: ProfileRun): string {
    const s = run.oursStorage;
    if (s === undefined) {
        return "";
    }
    return `ours under ${run.profile} (${storageLabel(run)}): region \`${s.region}\`, encrypt ${s.encrypt}, objectacl \`${s.objectacl}\`, forcepathstyle ${s.forcepathstyle}, chunksize ${fmt(s.chunksize / 2 ** 20, 0)} MiB`;
}

/** For ours, one sentence per workload measured under both: how its speed on Spaces compares with S3. */
export function oursStorageVerdicts(pair: StoragePair): string[] {
    const out: string[] = [];
    for (const w of WORKLOADS) {
        const a = throughput(pair.s3, "ours", w);
        const b = throughput(pair.spaces, "ours", w);
        if (a.n === 0 || b.n === 0) {
            continue;
        }
        const faster = fasterStorage(a, b);
        const digits = Math.min(a.median, b.median) < 1 ? 2 : 1;
        const speeds = `${fmt(b.median, digits)} MiB/s on Spaces against ${fmt(a.median, digits)} MiB/s on S3, ${fmt(b.median / a.median, 2)}x`;
        out.push(
            faster === undefined
                ? `${WORKLOAD_NAMES[w]}: no faster storage named, ${undecided(a, b)} (${speeds}).`
                : `${WORKLOAD_NAMES[w]}: ${faster === "spaces" ? "Spaces" : "S3"} was faster in every round of both profiles (${speeds}).`,
        );
    }
    return out;
}

function pairSection(pair: StoragePair): string {
    const { s3, spaces } = pair;
    const rows = storageRows(pair);
    if (rows.length === 0) {
        return `${spaces.profile} and ${s3.profile}: nothing was measured under both.`;
    }
    const settings = [oursStorageSentence(s3), oursStorageSentence(spaces)].filter((l) => l !== "");
    const verdicts = oursStorageVerdicts(pair);
    return [
        `### ${s3.profile} (${storageLabel(s3)}) and ${spaces.profile} (${storageLabel(spaces)})`,
        "",
        `The same runner and droplet (${s3.links["ci-droplet"].what}); only the bucket moves. Droplet to bucket: ${s3.links["droplet-s3"].rttMs.value} ms and ${s3.links["droplet-s3"].mbit.value} Mbit/s to ${storageLabel(s3)}, ${spaces.links["droplet-s3"].rttMs.value} ms and ${spaces.links["droplet-s3"].mbit.value} Mbit/s to ${storageLabel(spaces)}; runner to bucket (the baseline, redirected pulls): ${s3.links["ci-s3"].rttMs.value} ms and ${s3.links["ci-s3"].mbit.value} Mbit/s, against ${spaces.links["ci-s3"].rttMs.value} ms and ${spaces.links["ci-s3"].mbit.value} Mbit/s.`,
        "",
        table(
            ["workload", "variant", "S3: MiB/s", "S3: vs baseline", "S3: ours vs peer", "Spaces: MiB/s", "Spaces: vs baseline", "Spaces: ours vs peer", "Spaces / S3 (medians)"],
            rows,
        ),
        ...(verdicts.length ? ["", ...verdicts.map((v) => `- ${v}`)] : []),
        ...(settings.length ? ["", "Storage settings from each registry's config file:", "", ...settings.map((l) => `- ${l}`)] : []),
    ].join("\n");
}

/** The section, or empty when no Spaces profile ran beside its S3 counterpart. */
export function storageComparisonSection(r: NetworkResults): string {
    const pairs = storagePairs(r);
    if (pairs.length === 0) {
        return "";
    }
    return [
        "## S3 and Spaces side by side",
        "",
        "Pushes and pulls with the bucket in AWS S3 and in DigitalOcean Spaces, from one run. MiB/s median (min–max) over rounds; the ratios to the baseline (the same client straight to that profile's bucket) and to the peer are each profile's own, paired within its rounds; Spaces / S3 divides the two medians, and a storage is named faster only when its slowest round beat the other's fastest (the profiles ran one after the other, so their rounds are not paired).",
        "",
        "The rig's S3 server stands for both services and answers as fast under either: these figures compare the network paths (each profile's links, below), not the services' own time per request. The Spaces profile's droplet-to-bucket source says what is known of that.",
        "",
        pairs.map(pairSection).join("\n\n"),
    ].join("\n");
}

/** Console lines: ours on each workload under both storages. */
export function storageConsole(r: NetworkResults): string[] {
    return storagePairs(r).flatMap((pair) => [`\n${pair.s3.profile} (${storageLabel(pair.s3)}) vs ${pair.spaces.profile} (${storageLabel(pair.spaces)}), ours:`, ...oursStorageVerdicts(pair).map((v) => `  ${v}`)]);
}
