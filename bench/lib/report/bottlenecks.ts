/** "## Where the time goes", the bullet points: what this run's numbers show, each claim printed only when they show it. */
import type { Results } from "../results";
import { fmt, median, ratio } from "../stats";
import { chunkEntry, cpuPerGiB, fmtRatio, mbps, registryTimeSplit, rss, s3TimeSplit, sumMb, topLevel } from "./measures";
import { clientBound, costlierBcrypt, memoryLimitLowersPeak, peakRisesWithChunk, saturated } from "./conclusions";
import { limitText, memVariantText, programOf, variantOf } from "./program";

/** Conclusions drawn from the numbers of this run (phrased from the data, not typed). */
/** md5 and sha256 shares of the registry's CPU in the single-push profile, when it was taken. */
function hashingShare(results: Results): { md5: number; sha256: number } | undefined {
    const profile = results.profiles.find((p) => p.name.startsWith("single push"));
    const share = (prefix: string) => Object.entries(profile?.categories ?? {}).find(([k]) => k.startsWith(prefix))?.[1];
    const md5 = share("md5");
    const sha256 = share("sha256");
    return md5 !== undefined && sha256 !== undefined && md5 > 0 ? { md5, sha256 } : undefined;
}

export function bottleneckNotes(results: Results): string[] {
    const out: string[] = [];
    const cpus = results.meta.host.cpus;
    const cfg = results.meta.config;
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const put = cpuPerGiB(chosen.put);
    const push = cpuPerGiB(chosen.push);
    const fsPush = cpuPerGiB(results.filesystem.push);
    const pushRatio = ratio(mbps(chosen.push), mbps(chosen.put)).pairedMedian;
    const reg = registryTimeSplit(chosen.push);
    const s3 = s3TimeSplit(chosen.push);
    const busy = (c: { machine: number }) => saturated(c.machine, cpus);

    // Single push.
    const rawWall = median(chosen.put.map((x) => x.seconds));
    const rest = reg.wall - reg.patch - reg.commit - reg.manifest - reg.other;
    const extra = reg.wall - rawWall;
    out.push(`- **Single push (${results.chosen.chunkMb} MB chunks), ${fmt(pushRatio, 2)}x of raw PUT.** The push took ${fmt(reg.wall, 2)} s against ${fmt(rawWall, 2)} s for the raw PUT. `
        + `The registry's log splits the ${fmt(extra, 2)} s extra: the commit ${fmt(reg.commit, 2)} s (CompleteMultipartUpload, then the server-side copy of the blob from \`_uploads/\` to \`blobs/\`, `
        + `${fmt(s3.commit, 2)} s of parallel S3 request time; the raw PUT has no such step); the layer's PATCH, which receives the bytes and uploads the parts, ${fmt(reg.patch, 2)} s, `
        + `${fmt(reg.patch - rawWall, 2)} s longer than the whole raw PUT (TLS, the blob digest, Content-MD5 and SigV4 hashing, all on the same ${cpus} cores); requests that move no data ${fmt(reg.other + reg.manifest, 2)} s `
        + `(${fmt(reg.requests, 0)} requests, each paying a bcrypt check); and ${fmt(Math.max(0, rest), 2)} s outside any registry request (skopeo starting, reading the layout, TLS handshakes). `
        + `Without the commit the push would have been ${fmt(rawWall / (reg.wall - reg.commit), 2)}x of raw PUT. `
        + `CPU: ${fmt(push.total, 2)} CPU-s/GiB for the whole path against ${fmt(put.total, 2)} (registry ${fmt(push.registry, 2)}; versitygw ${fmt(push.s3, 2)} vs ${fmt(put.s3, 2)}; skopeo ${fmt(push.client, 2)} vs the SDK ${fmt(put.client, 2)}); `
        + `the machine had ${fmt(push.machine, 2)} of ${cpus} cores busy (${fmt(push.other, 2)} of them other tenants)`
        + (busy(push) ? ", so CPU per byte limits it as well." : ", so a single push waits more than it computes."));
    const s3Ratio = push.s3 / put.s3;
    out.push(`- The S3 server used ${fmt(s3Ratio, 2)}x the CPU per GiB for a registry push that it used for the raw PUT (${fmt(push.s3, 2)} vs ${fmt(put.s3, 2)})`
        + (s3Ratio >= 1.5 && s3.commit > 0
            ? ", in line with the commit copy writing every byte a second time (the posix backend copies again on each Complete). On AWS the copy runs inside S3: the droplet pays its latency, not its CPU."
            : "."));
    const hashing = hashingShare(results);
    out.push(`- The registry itself needs ${fmt(push.registry, 2)} CPU-s/GiB with the S3 driver and ${fmt(fsPush.registry, 2)} with the filesystem driver (which pushes at ${sumMb(results.filesystem.push)} MB/s, ${fmtRatio(ratio(mbps(results.filesystem.push), mbps(results.filesystem.put)))} of raw PUT).`
        + (push.registry > fsPush.registry && hashing
            ? ` The single-push profile puts ${fmt(hashing.md5, 0)}% of the registry's CPU in md5 and ${fmt(hashing.sha256, 0)}% in sha256: the S3 client in aws-sdk-go v1 computes Content-MD5 and a SigV4 sha256 over every part on top of the registry's own sha256 of the blob.`
            : ""));

    // Concurrency.
    const top = topLevel(results);
    if (top) {
        const tp = cpuPerGiB(top.push);
        const tb = cpuPerGiB(top.put);
        const aggRatio = ratio(mbps(top.push), mbps(top.put)).pairedMedian;
        out.push(`- **${top.n} concurrent pushes, ${fmt(aggRatio, 2)}x of raw PUT.** ${fmt(tp.total, 2)} CPU-s/GiB against ${fmt(tb.total, 2)} for the same objects uploaded raw; the machine had `
            + `${fmt(tp.machine, 2)} of ${cpus} cores busy. `
            + (busy(tp)
                ? `That is saturation, so throughput is set by CPU per byte: the CPU ratio predicts ${fmt(tb.total / tp.total, 2)}x, measured ${fmt(aggRatio, 2)}x.`
                : `The cores were not saturated, so latency (turn-taking and commits) is the limit${busy(push) ? "" : ", as for a single push"}.`));
    }

    // Memory.
    const rssRows = results.sweep.map((e) => ({ chunk: e.chunkMb, one: median(rss(e.push)), many: Math.max(...rss(e.conc)) }));
    const uploads = cfg.sweepConcurrency * 2;
    out.push(`- **Memory.** Peak RSS with ${limitText(programOf(results))} at ${cfg.sweepConcurrency} concurrent pushes (${uploads} blob uploads at once: each image's base and own layer) by chunk size: `
        + rssRows.map((r) => `${r.chunk} MB → ${fmt(r.many, 0)} MB`).join(", ")
        + `: ${rssRows.map((r) => `${fmt(r.many / uploads, 0)} MB`).join(" / ")} per upload.`
        + (peakRisesWithChunk(results)
            ? " The peak rises with the chunk size, as the S3 driver's buffering predicts: each upload holds a `bytes.Buffer` for its current part that grows by doubling "
              + `past the chunk size (5 MB → 8 MB capacity, 10 MB → 16 MB; with chunks as large as the layers, ${cfg.baseMb} and ${cfg.ownMb} MB here, the layer size bounds it), `
              + `and Go's GC (GOGC=100) lets the heap grow to twice the live data before it collects, unless GOMEMLIMIT makes it collect sooner (these runs: ${limitText(programOf(results))}, as deployed).`
            : ` The peak did not rise with every larger chunk size in this run (these runs: ${limitText(programOf(results))}, as deployed).`));
    if (results.tuning) {
        const p = programOf(results);
        const base = variantOf(results, "program")[0];
        const mem = variantOf(results, "memlimit")[0];
        const bcs = variantOf(results, "bcrypt");
        const tn = results.tuning.n;
        if (base && mem) {
            out.push(`- With ${limitText(p)} (as deployed) the ${tn} concurrent pushes of the tuning runs peaked at ${fmt(Math.max(...rss(base.push)), 0)} MB; `
                + `${memVariantText(mem)} at ${fmt(Math.max(...rss(mem.push)), 0)} MB, pushing at ${fmtRatio(ratio(mbps(mem.push), mbps(base.push)))} the deployed throughput`
                + (memoryLimitLowersPeak(results)
                    ? ": the limit lowered the peak by making the GC collect sooner (it removes the GC headroom, not the buffers, so it helps only where the live buffers fit under it)."
                    : ": the limit did not lower the peak in this run."));
        }
        if (base && bcs.length > 0) {
            out.push(`- **Auth.** The registry checks the htpasswd bcrypt hash on every request (no cache). At cost ${p.bcryptCost} (as deployed) a request that moves no data took ~${fmt(reg.otherMeanMs, 0)} ms in a single push `
                + `(~${fmt(registryTimeSplit(base.push).otherMeanMs, 0)} ms with ${tn} pushes competing for the CPU); `
                + bcs.map((bc) => `with \`${bc.name}\` such a request took ~${fmt(registryTimeSplit(bc.push).otherMeanMs, 0)} ms with ${tn} pushes competing, and the pushes ran at ${fmtRatio(ratio(mbps(bc.push), mbps(base.push)))} the deployed throughput `
                    + `using ${fmt(cpuPerGiB(bc.push).registry, 2)} instead of ${fmt(cpuPerGiB(base.push).registry, 2)} registry CPU-s/GiB`).join("; ")
                + "."
                + (costlierBcrypt(results).length > 0 ? " The program's password is 32 random characters, so a higher cost factor adds no protection worth that CPU." : ""));
        }
    }

    // Pull.
    const off = cpuPerGiB(results.pull.redirectOff);
    const on = cpuPerGiB(results.pull.redirectOn);
    const get = cpuPerGiB(results.pull.get);
    const onReg = registryTimeSplit(results.pull.redirectOn);
    const offReg = registryTimeSplit(results.pull.redirectOff);
    const getWall = median(results.pull.get.map((x) => x.seconds));
    const onRegTime = onReg.manifest + onReg.blobGet + onReg.other;
    out.push(`- **Pull.** The raw GET took ${fmt(getWall, 2)} s (${fmt(get.total, 2)} CPU-s/GiB); the skopeo pull with redirect on ${fmt(onReg.wall, 2)} s, of which the registry's requests `
        + `(manifest, the authenticated 307s) took ${fmt(onRegTime, 2)} s and ${fmt(on.registry, 2)} CPU-s/GiB. The rest is skopeo: it needs ${fmt(on.client, 2)} CPU-s/GiB where the SDK needs ${fmt(get.client, 2)}, `
        + `and its CPU time is ${fmt(on.clientCores, 2)}× the wall time${clientBound(on.clientCores) ? ", one core's worth: the client is the bottleneck," : ","} on a machine with ${fmt(on.machine, 2)} of ${cpus} cores busy. `
        + `With a client as fast as the baseline's, the registry's share would make a redirected pull ${fmt(getWall / (getWall + onRegTime), 2)}x of raw GET. `
        + `Redirect off: ${fmt(offReg.wall, 2)} s; the registry (${fmt(off.registry, 2)} CPU-s/GiB) reads the blob from S3 and re-encrypts every byte for TLS while skopeo again uses ${fmt(off.clientCores, 2)} cores' worth of CPU. `
        + `Other tenants used ${fmt(get.other, 2)} / ${fmt(on.other, 2)} / ${fmt(off.other, 2)} cores during raw GET / redirect on / off.`);
    if (results.pull.clientOn?.length && results.pull.clientOff?.length) {
        const cOn = ratio(mbps(results.pull.clientOn), mbps(results.pull.get));
        const cOff = ratio(mbps(results.pull.clientOff), mbps(results.pull.get));
        const cOffCpu = cpuPerGiB(results.pull.clientOff);
        out.push(`- With the baseline's own client the registry path reaches ${fmtRatio(cOn)} of raw GET with redirect on and ${fmtRatio(cOff)} with it off `
            + `(skopeo: ${fmtRatio(ratio(mbps(results.pull.redirectOn), mbps(results.pull.get)))} and ${fmtRatio(ratio(mbps(results.pull.redirectOff), mbps(results.pull.get)))}). `
            + `With redirect on the registry's part is its authenticated 307 (the registry log above); without redirect it spends ${fmt(cOffCpu.registry, 2)} CPU-s/GiB of its own (S3 read + TLS), `
            + (clientBound(cOffCpu.clientCores)
                ? `and the Node client, which now has to decrypt TLS on its one thread, is the slower end (${fmt(cOffCpu.clientCores, 2)} cores' worth of CPU): that row measures the client as much as the registry.`
                : `and the Node client used ${fmt(cOffCpu.clientCores, 2)} cores' worth of CPU.`));
    }

    // Profiles.
    for (const p of results.profiles) {
        const cats = Object.entries(p.categories).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${fmt(v, 0)}%`);
        out.push(`- Registry CPU profile "${p.name}" (${p.totalSamples} of samples): ${cats.join(", ")}.`);
    }
    out.push(`- **Registry CPU per byte.** The registry's own ${fmt(push.registry, 2)} CPU-s/GiB for a single push means one vCPU can push about ${fmt(1024 / Math.max(0.001, push.registry), 0)} MB/s through it `
        + "before its CPU, rather than the network, is the limit (what loopback leaves out is under [What is measured](#what-is-measured)).");
    return out;
}
