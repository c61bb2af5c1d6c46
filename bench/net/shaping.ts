/**
 * How one link of a profile becomes kernel and proxy settings. Pure: the rig (rig.ts) runs them.
 *
 * Bandwidth: a `tbf` qdisc on each end of the link's veth pair, so each direction is shaped
 * where its packets leave. Delay: this kernel has no `netem`, so the round trip is added by a
 * toxiproxy `latency` toxic of half the RTT on each direction of a proxy at the link's serving
 * end (see rig.ts for where and why).
 */

/** tbf needs a burst of at least rate / HZ to reach its rate (HZ may be 250): 4 ms of the rate. */
const BURST_SECONDS = 0.004;
/** veth hands tbf 64 KiB GSO packets; a smaller burst makes tbf split each one first. */
const MIN_BURST_BYTES = 64 * 1024;
/**
 * How long a packet may wait in tbf's queue before it is dropped. Toxiproxy terminates TCP right
 * behind the shaper, so the flow's own round trip is near zero and a short queue keeps the link
 * busy; a longer one would only add queueing delay to the probe's round trips under load.
 */
const QUEUE_LATENCY_MS = 20;

export interface TbfSettings {
    /** bit/s */
    rateBit: number;
    burstBytes: number;
    latencyMs: number;
}

export function tbfSettings(mbit: number): TbfSettings {
    if (!Number.isFinite(mbit) || mbit <= 0) {
        throw new Error(`bandwidth must be a positive number of Mbit/s; got ${mbit}`);
    }
    const rateBit = Math.round(mbit * 1e6);
    const burstBytes = Math.max(MIN_BURST_BYTES, Math.ceil((rateBit / 8) * BURST_SECONDS));
    return { rateBit, burstBytes, latencyMs: QUEUE_LATENCY_MS };
}

/** `tc` arguments that shape what leaves `device` inside namespace `ns`. */
export function tbfArgs(ns: string, device: string, mbit: number): string[] {
    const s = tbfSettings(mbit);
    return ["-n", ns, "qdisc", "replace", "dev", device, "root", "tbf", "rate", `${s.rateBit}bit`, "burst", String(s.burstBytes), "latency", `${s.latencyMs}ms`];
}

/**
 * The two latency toxics of a link: half the RTT on each direction. Whole milliseconds
 * (toxiproxy's unit), upstream rounded down and downstream up, so they add up to the RTT.
 */
export function latencyToxics(rttMs: number): { upstreamMs: number; downstreamMs: number } {
    if (!Number.isFinite(rttMs) || rttMs <= 0) {
        throw new Error(`RTT must be a positive number of ms; got ${rttMs}`);
    }
    const total = Math.round(rttMs);
    const upstreamMs = Math.floor(total / 2);
    return { upstreamMs, downstreamMs: total - upstreamMs };
}

/** `toxiproxy-cli` argument lists that add a link's latency to proxy `proxy`. */
export function toxicArgs(apiUrl: string, proxy: string, rttMs: number): string[][] {
    const { upstreamMs, downstreamMs } = latencyToxics(rttMs);
    const add = (direction: "--upstream" | "--downstream", name: string, ms: number) => [
        "--host", apiUrl, "toxic", "add", "--type", "latency", "--toxicName", name, "--attribute", `latency=${ms}`, "--attribute", "jitter=0", direction, proxy,
    ];
    return [add("--upstream", "rtt-up", upstreamMs), add("--downstream", "rtt-down", downstreamMs)];
}
