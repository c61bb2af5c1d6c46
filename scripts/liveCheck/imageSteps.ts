import type { StepContext, StepOutcome } from "./checks";
import { sha256Digest, type Blob } from "./image";
import type { UserLogin } from "./outputs";
import { describeResponse, RegistryClient, type RegistryResponse } from "./registryClient";

/**
 * Push, pull and delete of the tiny image through the distribution API: monolithic blob uploads
 * (POST for a location, PUT with the digest), the manifest by tag, pulls that re-hash every byte,
 * and a delete by digest that must make the tag disappear.
 */

/** What push got into the registry, so delete can take it away even after a partial push. */
export interface Pushed {
    blobs: Blob[];
    manifestDigest?: string;
}

const short = (digest: string) => `${digest.slice(0, 19)}…`;
const kind = (ctx: StepContext, blob: Blob) => (blob === ctx.image.layer ? "layer" : "config");

export async function pushStep(ctx: StepContext, pushed: Pushed): Promise<StepOutcome> {
    const { client, repository, tag, image } = ctx;
    for (const blob of image.blobs) {
        const start = await client.call(`/v2/${repository}/blobs/uploads/`, { method: "POST", headers: { "Content-Length": "0" } });
        const location = start.headers.location;
        if (start.status !== 202 || typeof location !== "string") {
            return { ok: false, detail: `starting the ${kind(ctx, blob)} upload: POST /v2/${repository}/blobs/uploads/ answered ${describeResponse(start)}; want 202 with a Location` };
        }
        const target = new URL(location, client.baseUrl);
        target.searchParams.set("digest", blob.digest);
        const put = await client.call(target.href, { method: "PUT", body: blob.bytes, headers: { "Content-Type": "application/octet-stream" } });
        if (put.status !== 201) {
            return { ok: false, detail: `uploading the ${kind(ctx, blob)} blob (${blob.size} bytes): PUT answered ${describeResponse(put)}; want 201` };
        }
        pushed.blobs.push(blob);
        const problem = digestHeaderProblem(put, blob.digest);
        if (problem !== undefined) {
            return { ok: false, detail: `uploading the ${kind(ctx, blob)} blob: ${problem}` };
        }
    }
    const put = await client.call(`/v2/${repository}/manifests/${tag}`, { method: "PUT", body: image.manifest.bytes, headers: { "Content-Type": image.manifest.mediaType } });
    if (put.status !== 201) {
        return { ok: false, detail: `PUT manifest ${repository}:${tag} answered ${describeResponse(put)}; want 201` };
    }
    pushed.manifestDigest = image.manifest.digest;
    const problem = digestHeaderProblem(put, image.manifest.digest);
    if (problem !== undefined) {
        return { ok: false, detail: `PUT manifest ${repository}:${tag}: ${problem}` };
    }
    const bytes = image.blobs.reduce((sum, b) => sum + b.size, image.manifest.size);
    return { ok: true, detail: `pushed ${repository}:${tag} (${short(image.manifest.digest)}): a ${image.layer.size}-byte layer, its config and an OCI manifest, ${bytes} bytes in all` };
}

export async function pullStep(ctx: StepContext): Promise<StepOutcome> {
    const { client, repository, tag, image } = ctx;
    for (const reference of [tag, image.manifest.digest]) {
        const res = await client.call(`/v2/${repository}/manifests/${reference}`, { headers: { Accept: image.manifest.mediaType } });
        const problem = res.status !== 200 ? `answered ${describeResponse(res)}; want 200` : (contentProblem(res, image.manifest) ?? digestHeaderProblem(res, image.manifest.digest));
        if (problem !== undefined) {
            return { ok: false, detail: `GET manifest ${repository}:${reference === tag ? tag : short(reference)} ${problem}` };
        }
    }
    const servedFrom = new Set<string>();
    for (const blob of image.blobs) {
        const res = await client.call(`/v2/${repository}/blobs/${blob.digest}`, { followRedirects: true });
        const via = res.redirects > 0 ? ` (redirected to ${res.url.host})` : "";
        const problem = res.status !== 200 ? `answered ${describeResponse(res)}${via}; want 200` : contentProblem(res, blob);
        if (problem !== undefined) {
            return { ok: false, detail: `GET ${kind(ctx, blob)} blob ${short(blob.digest)}${via}: ${problem}` };
        }
        servedFrom.add(res.redirects > 0 ? res.url.host : "the registry");
    }
    return { ok: true, detail: `manifest by tag and by digest and ${image.blobs.length} blobs match their digests (blobs served by ${[...servedFrom].join(" and ")})` };
}

export async function deleteStep(ctx: StepContext, pushed: Pushed): Promise<StepOutcome> {
    const { client, repository, tag } = ctx;
    const problems: string[] = [];
    if (pushed.manifestDigest !== undefined) {
        // By digest: the registry then drops every tag pointing at it.
        const res = await client.call(`/v2/${repository}/manifests/${pushed.manifestDigest}`, { method: "DELETE" });
        if (res.status !== 202) {
            problems.push(`DELETE manifest ${short(pushed.manifestDigest)} answered ${describeResponse(res)}; want 202 (is storage.delete enabled?)`);
        }
    }
    // Unlinking the blobs leaves nothing of the run in the repository; garbage collection frees the bytes.
    for (const blob of pushed.blobs) {
        const res = await client.call(`/v2/${repository}/blobs/${blob.digest}`, { method: "DELETE" });
        if (res.status !== 202) {
            problems.push(`DELETE ${kind(ctx, blob)} blob answered ${describeResponse(res)}; want 202`);
        }
    }
    if (pushed.manifestDigest !== undefined && problems.length === 0) {
        const gone = await client.call(`/v2/${repository}/manifests/${tag}`, { headers: { Accept: ctx.image.manifest.mediaType } });
        if (gone.status !== 404) {
            problems.push(`after the DELETE, GET manifest ${repository}:${tag} answered ${describeResponse(gone)}; want 404`);
        }
    }
    if (problems.length > 0) {
        return { ok: false, detail: `${problems.join("; ")} (remove ${repository} by hand)` };
    }
    return pushed.manifestDigest !== undefined
        ? { ok: true, detail: `deleted the manifest by digest and unlinked its ${pushed.blobs.length} blobs; ${repository}:${tag} now answers 404` }
        : { ok: true, detail: `unlinked the ${pushed.blobs.length} blob(s) the failed push uploaded` };
}

/** The body must be exactly the bytes pushed: same size, same sha256. */
function contentProblem(res: RegistryResponse, expected: Blob): string | undefined {
    const actual = sha256Digest(res.body);
    if (actual !== expected.digest || res.body.length !== expected.size) {
        return `served ${res.body.length} bytes hashing to ${short(actual)}; pushed ${expected.size} bytes, ${short(expected.digest)}`;
    }
    return undefined;
}

function digestHeaderProblem(res: RegistryResponse, digest: string): string | undefined {
    const header = res.headers["docker-content-digest"];
    return header === digest ? undefined : `Docker-Content-Digest is ${JSON.stringify(header ?? null)}, want ${short(digest)}`;
}

/**
 * Each unrestricted pull user pulls the image just pushed (manifest by tag), and is refused the
 * start of an upload with 403: the roles hold on the live front, not only in its config.
 */
export async function rolesStep(ctx: StepContext, clientFor: (login: UserLogin) => RegistryClient): Promise<StepOutcome> {
    const { repository, tag, image } = ctx;
    const checked: string[] = [];
    for (const login of ctx.target.pullUsers) {
        const client = clientFor(login);
        try {
            const pull = await client.call(`/v2/${repository}/manifests/${tag}`, { headers: { Accept: image.manifest.mediaType } });
            const problem = pull.status !== 200 ? `answered ${describeResponse(pull)}; want 200` : contentProblem(pull, image.manifest);
            if (problem !== undefined) {
                return { ok: false, detail: `pull user ${login.username}: GET manifest ${repository}:${tag} ${problem}` };
            }
            const push = await client.call(`/v2/${repository}/blobs/uploads/`, { method: "POST", headers: { "Content-Length": "0" } });
            if (push.status !== 403) {
                return { ok: false, detail: `pull user ${login.username}: POST /v2/${repository}/blobs/uploads/ answered ${describeResponse(push)}; want 403 (a pull user must not push)` };
            }
        } finally {
            client.close();
        }
        checked.push(login.username);
    }
    return { ok: true, detail: `pull user${checked.length === 1 ? "" : "s"} ${checked.join(", ")}: the manifest pulls, an upload is refused with 403` };
}
