/**
 * Summarises a Go CPU profile with `go tool pprof -top`: the hottest functions and the share
 * of CPU in a few categories that explain where a byte's cost goes.
 */
import * as fs from "node:fs";

import type { ProcessTracker } from "../../test/harness";

export interface ProfileRow {
    fn: string;
    flatPct: number;
    cumPct: number;
}

export interface ProfileSummary {
    name: string;
    /** Total samples the profile holds, as pprof prints it ("Total samples = 4.1s"). */
    totalSamples: string;
    top: ProfileRow[];
    /** Category -> % of profile samples (flat, so categories do not double count). */
    categories: Record<string, number>;
}

/** Flat time is charged to the function doing the work; these patterns name what it is for. */
export const CATEGORIES: [string, RegExp][] = [
    ["bcrypt (htpasswd check, every request)", /blowfish|bcrypt/i],
    ["sha256 (blob digest, SigV4 payload hash)", /sha256/i],
    ["md5 (Content-MD5 aws-sdk-go adds to each part)", /md5/i],
    ["TLS / AES-GCM (skopeo <-> registry)", /aes|gcm|crypto\/tls|ghash/i],
    ["memory copies (memmove/memclr)", /runtime\.mem(move|clr)/],
    ["garbage collection", /runtime\.(gc|scanobject|greyobject|markBits|findObject|heapBits|sweep|wbBuf|bgsweep|markroot|scanblock|typePointers|spanOf|pageIndexOf)/],
    ["syscalls (socket reads/writes)", /syscall|internal\/runtime\/syscall|runtime\.(futex|epollwait|netpoll|usleep)/],
];

/** Parses `go tool pprof -top` output. */
export function parsePprofTop(text: string): { totalSamples: string; rows: ProfileRow[] } {
    const total = /Total samples = (\S+)/.exec(text)?.[1]?.trim() ?? "?";
    const rows: ProfileRow[] = [];
    for (const line of text.split("\n")) {
        // "     1.20s 30.00% 30.00%      1.50s 37.50%  crypto/sha256.blockSHANI"
        const m = /^\s*[\d.]+\w*\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+\w*\s+([\d.]+)%\s+(.+)$/.exec(line);
        if (m) {
            rows.push({ flatPct: Number(m[1]), cumPct: Number(m[2]), fn: m[3].trim() });
        }
    }
    return { totalSamples: total, rows };
}

export function summarizeProfile(name: string, topText: string, keep = 12): ProfileSummary {
    const { totalSamples, rows } = parsePprofTop(topText);
    const categories: Record<string, number> = {};
    for (const [label] of CATEGORIES) {
        categories[label] = 0;
    }
    let other = 0;
    for (const row of rows) {
        const hit = CATEGORIES.find(([, re]) => re.test(row.fn));
        if (hit) {
            categories[hit[0]] += row.flatPct;
        } else {
            other += row.flatPct;
        }
    }
    categories.other = other;
    for (const key of Object.keys(categories)) {
        categories[key] = Math.round(categories[key] * 10) / 10;
    }
    return { name, totalSamples, top: rows.slice(0, keep), categories };
}

/** Runs `go tool pprof -top` on a saved profile; undefined when Go is not available. */
export async function pprofTop(tracker: ProcessTracker, binary: string, profileFile: string): Promise<string | undefined> {
    const candidates = ["go", "/usr/local/go/bin/go"];
    for (const go of candidates) {
        if (go.startsWith("/") && !fs.existsSync(go)) {
            continue;
        }
        try {
            const res = await tracker.run(go, ["tool", "pprof", "-top", "-nodecount=400", binary, profileFile], { timeoutMs: 120_000 });
            if (res.code === 0) {
                return res.stdout;
            }
        } catch {
            // try the next candidate
        }
    }
    return undefined;
}
