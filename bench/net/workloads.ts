/**
 * The network bench's workloads as layer sizes, and the random layers made of them. (b) copies a
 * public image's layer sizes so the mix of round trips and bytes is a real one.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { writeRandomFile } from "../lib/frontOps";
import type { Blob, Image } from "./client";
import type { PushConcurrency } from "./pool";

const KiB = 1024;
const MiB = 1024 * KiB;

export const IMAGE_B = {
    image: "gradle:jdk21 (linux/amd64)",
    source:
        "docker-library/repo-info repos/gradle/remote/jdk21.md at commit 04bf269c7a19f3dbb11d11c3cf84504b25a6fc56, " +
        "the amd64 manifest's 'Layers' list (compressed sizes)",
    layerBytes: [41569203, 393, 24037703, 158171775, 156, 2282, 1288, 32, 69981110, 150227877, 25607],
};

export interface WorkloadSizes {
    a: number;
    b: number[];
    c: number[];
    d: { images: number; layerBytes: number };
    /**
     * The sweep's concurrent pushes: layers at least as large as the largest chunk size, so that
     * every upload fills a whole part buffer and the peak RSS shows what the chunk size costs.
     */
    dSweep: { images: number; layerBytes: number };
}

/** The full run's sizes, or the smoke run's (the same shapes, about a sixteenth of the bytes). */
export function workloadSizes(quick: boolean): WorkloadSizes {
    const smallCount = quick ? 10 : 50;
    // Evenly from 4 KiB to 64 KiB.
    const c = Array.from({ length: smallCount }, (_, i) => Math.round(4 * KiB + (i * 60 * KiB) / (smallCount - 1)));
    return {
        a: (quick ? 16 : 256) * MiB,
        b: quick ? IMAGE_B.layerBytes.map((n) => Math.max(32, Math.round(n / 16))) : IMAGE_B.layerBytes,
        c,
        d: { images: 8, layerBytes: (quick ? 2 : 16) * MiB },
        dSweep: { images: 8, layerBytes: (quick ? 8 : 64) * MiB },
    };
}

async function blob(dir: string, name: string, size: number): Promise<Blob> {
    const file = path.join(dir, name);
    return { path: file, size, digest: await writeRandomFile(file, size) };
}

function config(seed: string): Image["config"] {
    const body = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, seed }));
    return { body, digest: `sha256:${createHash("sha256").update(body).digest("hex")}` };
}

export interface Layers {
    a: Image;
    b: Image;
    /**
     * (b)'s sizes again, other bytes, one image per concurrency above 1: each push of (b) in a
     * registry run must upload every blob, and a registry answers a blob's HEAD with 200 once
     * the repository has it.
     */
    bAt: Record<Exclude<PushConcurrency, 1>, Image>;
    c: Image;
    d: Image[];
    dSweep: Image[];
}

/** Random layers of the sizes, written under `dir`; every image distinct (its own config seed and bytes). */
export async function makeLayers(dir: string, sizes: WorkloadSizes): Promise<Layers> {
    fs.mkdirSync(dir, { recursive: true });
    const seed = () => randomBytes(8).toString("hex");
    const many = async (prefix: string, list: number[]) => {
        const out: Blob[] = [];
        for (const [i, size] of list.entries()) {
            out.push(await blob(dir, `${prefix}-${i}.bin`, size));
        }
        return out;
    };
    const concurrent = async (name: string, spec: { images: number; layerBytes: number }) => {
        const images: Image[] = [];
        for (let i = 0; i < spec.images; i++) {
            images.push({ repo: `net/${name}${i}`, config: config(seed()), layers: await many(`${name}${i}`, [spec.layerBytes]) });
        }
        return images;
    };
    return {
        a: { repo: "net/a", config: config(seed()), layers: await many("a", [sizes.a]) },
        b: { repo: "net/b", config: config(seed()), layers: await many("b", sizes.b) },
        bAt: {
            3: { repo: "net/b3", config: config(seed()), layers: await many("b3", sizes.b) },
            5: { repo: "net/b5", config: config(seed()), layers: await many("b5", sizes.b) },
        },
        c: { repo: "net/c", config: config(seed()), layers: await many("c", sizes.c) },
        d: await concurrent("d", sizes.d),
        dSweep: await concurrent("dsweep", sizes.dSweep),
    };
}

export const imageBytes = (image: Image) => image.layers.reduce((n, l) => n + l.size, 0) + image.config.body.length;
