/** "## S3 requests per operation": measured request counts against the cost model's. */
import { REGISTRY_S3_REQUESTS } from "../../../components/cost";
import { STORAGE_HEALTH_INTERVAL_SECONDS } from "../../../components/render/registryConfig";
import type { Results } from "../results";
import { fmt } from "../stats";
import { row } from "./markdown";

function opCountsText(counts: Record<string, number>): string {
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
    return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(", ") : "none";
}

const PUT_CLASS = new Set([
    "PutObject",
    "CopyObject",
    "UploadPart",
    "UploadPartCopy",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjects",
    "ListMultipartUploads",
    "ListParts",
    "ListBuckets",
    "ListAllMyBuckets",
]);
const FREE = new Set(["DeleteObject", "DeleteObjects", "AbortMultipartUpload"]);

/** PUT/COPY/POST/LIST-class, GET-class and free requests, as S3 bills them. */
export function classify(counts: Record<string, number>): { put: number; get: number; free: number } {
    let put = 0;
    let get = 0;
    let free = 0;
    for (const [op, n] of Object.entries(counts)) {
        if (PUT_CLASS.has(op)) {
            put += n;
        } else if (FREE.has(op)) {
            free += n;
        } else {
            get += n;
        }
    }
    return { put, get, free };
}


export function requestsSection(results: Results): string[] {
    if (!results.requests) {
        return [];
    }
    const L: string[] = [];
    const q = results.requests;
    const push = classify(q.push);
    const on = classify(q.pullRedirect);
    const off = classify(q.pullNoRedirect);
    const layerMb = q.layerBytes / 1024 / 1024;
    const modelPut = REGISTRY_S3_REQUESTS.perPushPutClass + Math.ceil(layerMb / q.chunkMb) + (layerMb > REGISTRY_S3_REQUESTS.multipartCopyPartMb ? Math.ceil(layerMb / REGISTRY_S3_REQUESTS.multipartCopyPartMb) : 0);
    L.push("## S3 requests per operation");
    L.push("");
    L.push(`From versitygw's access log, health checks excluded; one-layer image, ${fmt(layerMb, 0)} MB layer, ${q.chunkMb} MB chunks. These feed the request line of the cost model (components/cost.ts, docs/COSTS.md).`);
    L.push("");
    L.push(row(["operation", "PUT/LIST-class", "GET-class", "free (DELETE)", "by type"]));
    L.push(row(["---", "---:", "---:", "---:", "---"]));
    L.push(row(["push", push.put, push.get, push.free, opCountsText(q.push)]));
    L.push(row(["pull, redirect on (client fetches from S3)", on.put, on.get, on.free, opCountsText(q.pullRedirect)]));
    L.push(row(["pull, redirect off", off.put, off.get, off.free, opCountsText(q.pullNoRedirect)]));
    L.push("");
    L.push(`Cost model for this push: ${modelPut} PUT/LIST-class (${REGISTRY_S3_REQUESTS.perPushPutClass} fixed + one UploadPart per chunk + one UploadPartCopy per ${REGISTRY_S3_REQUESTS.multipartCopyPartMb} MB) `
        + `and ${REGISTRY_S3_REQUESTS.perPushGetClass} GET-class, against ${push.put} and ${push.get} measured; per pull ${REGISTRY_S3_REQUESTS.perPullGetClassRedirect} GET-class with redirect on and `
        + `${REGISTRY_S3_REQUESTS.perPullGetClassStreamed} with it off, against ${on.get} and ${off.get} measured. `
        + `The registry's storage health check adds one ListObjectsV2 per interval (${STORAGE_HEALTH_INTERVAL_SECONDS} s in the rendered config) whether or not anyone pushes.`);
    L.push("");
    return L;
}
