/** "## Pull": skopeo and a Node client through the registry, redirect on and off, against the raw S3 GET. */
import type { Results } from "../results";
import type { Sample } from "../rig";
import { fmtSummary, ratio, summarize } from "../stats";
import { row } from "./markdown";
import { fmtRatio, mbps, rss, sumMb } from "./measures";

export function pullSection(results: Results): string[] {
    const cfg = results.meta.config;
    const L: string[] = [];
    L.push(`## Pull: the same ${cfg.layerMb} MB layer (${results.pull.chunkMb} MB chunks when pushed)`);
    L.push("");
    L.push(row(["path", "client", "MB/s", "ratio to raw GET", "registry peak RSS"]));
    L.push(row(["---", "---", "---:", "---:", "---:"]));
    L.push(row(["raw S3 GET (baseline)", "Node (@aws-sdk), to a file, hashed", sumMb(results.pull.get), "1", "–"]));
    const pullRow = (label: string, client: string, samples: Sample[] | undefined) => {
        if (samples && samples.length > 0) {
            L.push(row([label, client, sumMb(samples), fmtRatio(ratio(mbps(samples), mbps(results.pull.get))), `${fmtSummary(summarize(rss(samples)), 0)} MB`]));
        }
    };
    pullRow("redirect on: 307 to a presigned S3 URL, the client fetches from S3", "skopeo (whole image)", results.pull.redirectOn);
    pullRow("redirect off: the registry streams the blob over TLS", "skopeo (whole image)", results.pull.redirectOff);
    pullRow("redirect on, the layer blob only", "Node, same as the baseline", results.pull.clientOn);
    pullRow("redirect off, the layer blob only", "Node, same as the baseline", results.pull.clientOff);
    L.push("");
    L.push("The skopeo rows are what a user sees (process start, TLS, auth, manifest, config and layer). The Node rows fetch only the layer blob through the registry "
        + "with the baseline's own client (https with basic auth, following the 307), so their ratio is what the registry itself adds to a pull.");
    L.push("");
    const skopeo = [...results.pull.redirectOn, ...results.pull.redirectOff];
    const blobs = [...(results.pull.clientOn ?? []), ...(results.pull.clientOff ?? [])];
    const verified = (samples: Sample[]) => samples.filter((s) => s.verified === 1).length;
    const all = verified(skopeo) === skopeo.length && verified(blobs) === blobs.length;
    L.push(`${all ? "Every pull was verified" : "**Not every pull was verified**"}: a pull counts as verified when each blob pulled back hashes to its digest and the manifest matches the one pushed `
        + `(${verified(skopeo)}/${skopeo.length} skopeo pulls, ${verified(blobs)}/${blobs.length} blob GETs).`);
    L.push("");
    return L;
}
