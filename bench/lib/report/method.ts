/** "## What is measured": the method (stack, client, baseline, images, how memory and CPU are read). */
import type { Results } from "../results";
import { programOf } from "./program";

export function methodSection(results: Results): string[] {
    const m = results.meta;
    const cfg = m.config;
    const L: string[] = [];
    L.push("## What is measured");
    L.push("");
    L.push(`- **Stack** (test/harness): the \`registry\` binary built from the pinned version, serving config.yml rendered by \`renderRegistryConfig\` `
        + "(htpasswd bcrypt auth, S3 driver with `encrypt`, `forcepathstyle` and the loopback `regionendpoint` swapped in; TLS from a throwaway CA added, "
        + "where the deployed registry serves plain HTTP on loopback behind the front, whose cost `npm run bench:front` measures) "
        + `in front of versitygw ${m.versions.versitygw} (posix backend), all on 127.0.0.1; data on ${m.workDirFs} so the disk adds no noise. `
        + `Every registry runs with the container's environment (\`REGISTRY_CONTAINER_ENV\`: ${Object.entries(programOf(results).env).map(([k, v]) => `\`${k}=${v}\``).join(", ")}) and bcrypt cost ${programOf(results).bcryptCost} for htpasswd, `
        + "as deployed, except the variants under [One setting at a time](#one-setting-at-a-time) that change one of them; each registry's environment is read back from `/proc/<pid>/environ`.");
    L.push("- **Client**: skopeo (`copy --preserve-digests`, OCI layout <-> `docker://`), as a CI job would push. Timing is the wall time of the skopeo process(es): TLS handshake, auth, blob upload, commit, manifest.");
    L.push("- **Baseline**: the same bytes straight to versitygw with `@aws-sdk/lib-storage` (multipart, part size = the registry's chunk size, one part in flight per object as the S3 driver does) "
        + "and `GetObject` streamed to a file and hashed (what any client does to store and verify a blob). Plain HTTP, no registry.");
    L.push(`- **Images**: one image with a ${cfg.layerMb} MB random (incompressible) layer; for concurrency, distinct images of a shared ${cfg.baseMb} MB base layer plus their own ${cfg.ownMb} MB layer, pushed at once to different repositories.`);
    L.push("- Before every push the bucket is emptied and the registry restarted, so every blob is uploaded, nothing is cached, and **peak RSS** is the `VmHWM` of that fresh process (cross-checked by sampling `VmRSS` every 50 ms).");
    L.push("- **CPU**: utime+stime from `/proc/<pid>/stat` of the registry and versitygw, and of skopeo (reaped children) or the SDK (this process), per GiB moved.");
    L.push("- **Limits of the method** (method, not a result): client, registry and S3 server share this machine's cores and talk over loopback. On a droplet S3 is AWS's and the client is elsewhere, "
        + "so every UploadPart and the commit's server-side copy pay a network round trip that is absent here (smaller chunks pay it more often), and S3's CPU is not the droplet's.");
    L.push("");
    return L;
}
