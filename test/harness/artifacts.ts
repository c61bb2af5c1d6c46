import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildImageCreatedAt } from "./datedImages";
import { MEDIA_TYPES, type Descriptor, type OciImage } from "./oci";
import type { Credentials } from "./skopeo";
import type { ProcessTracker } from "./processes";
import { cachedBinary } from "./tools";

/**
 * Artefacts attached to images the way clients attach them to a registry without the referrers
 * API (Distribution v3.1.2): `oras attach`, which pushes a manifest with a `subject` and keeps the
 * referrers tag schema's index at `sha256-<hex>` (OCI distribution-spec, "Referrers Tag Schema";
 * oras-go v2 registry/remote/repository.go, indexReferrersForPush and updateReferrersIndex), and
 * cosign's tags `sha256-<hex>.sig`/`.att`, pushed here with regctl in cosign's layout (sigstore/cosign
 * pkg/oci/remote/remote.go normalizeWithSeparator; pkg/oci/mutate/signatures.go AppendSignatures).
 * Also a multi-platform image index, for artefacts attached to one platform's manifest.
 */

/** cosign's simple-signing payload type (sigstore/cosign pkg/types/media.go SimpleSigningMediaType). */
export const COSIGN_PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** Go's zero time as go-containerregistry's v1.Time writes it: cosign's `created` unless --record-creation-timestamp. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

const REF_NAME = "org.opencontainers.image.ref.name";

function putBlob(layoutDir: string, bytes: Buffer): { digest: string; size: number } {
    const hex = createHash("sha256").update(bytes).digest("hex");
    fs.writeFileSync(path.join(layoutDir, "blobs", "sha256", hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
}

export interface PlatformIndex {
    layoutDir: string;
    tag: string;
    index: Descriptor;
    /** Each platform's image, by `os/architecture`. */
    images: Record<string, OciImage>;
}

/**
 * An OCI image index tagged `tag` over one image per platform (each dated `created`), in
 * `layoutDir`; push it with `skopeo copy --all`.
 */
export async function buildPlatformIndex(layoutDir: string, tag: string, created: string, platforms: readonly string[]): Promise<PlatformIndex> {
    const images: Record<string, OciImage> = {};
    for (const platform of platforms) {
        images[platform] = await buildImageCreatedAt(layoutDir, `${tag}-${platform.replace("/", "-")}`, created);
    }
    const manifests = platforms.map((platform) => {
        const [os, architecture] = platform.split("/");
        const m = images[platform].manifest;
        return { mediaType: m.mediaType, digest: m.digest, size: m.size, platform: { architecture, os } };
    });
    const blob = putBlob(layoutDir, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests })));
    const index: Descriptor = { mediaType: MEDIA_TYPES.index, ...blob };
    const layout = JSON.parse(fs.readFileSync(path.join(layoutDir, "index.json"), "utf8")) as { manifests: Descriptor[] };
    layout.manifests = [...layout.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag), { ...index, annotations: { [REF_NAME]: tag } }];
    fs.writeFileSync(path.join(layoutDir, "index.json"), JSON.stringify(layout));
    return { layoutDir, tag, index, images };
}

/** The fallback tag a digest gets: `sha256-<hex>`, then `.<suffix>` for cosign's. */
export function fallbackTag(digest: string, suffix?: string): string {
    const tag = digest.replace(":", "-");
    return suffix === undefined ? tag : `${tag}.${suffix}`;
}

/**
 * The pinned oras and regctl (scripts/install-rehearsal-tools.sh) logged in to `host` through
 * files of their own in `dir`, trusting `caFile`; neither reads root's Docker config.
 */
export class ArtifactClients {
    private readonly orasConfig: string;
    private readonly regctlConfig: string;

    constructor(
        private readonly tracker: ProcessTracker,
        private readonly dir: string,
        readonly host: string,
        login: Credentials,
        private readonly caFile: string,
    ) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.orasConfig = path.join(dir, "oras-auth.json");
        const auth = Buffer.from(`${login.username}:${login.password}`).toString("base64");
        fs.writeFileSync(this.orasConfig, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
        this.regctlConfig = path.join(dir, "regctl.json");
        const regcert = fs.readFileSync(caFile, "utf8");
        const hosts = { [host]: { tls: "enabled", regcert, user: login.username, pass: login.password } };
        fs.writeFileSync(this.regctlConfig, JSON.stringify({ hosts, incDockerCert: false, incDockerCred: false }), { mode: 0o600 });
    }

    private async oras(args: string[]): Promise<string> {
        const env = { ...process.env, HOME: this.dir };
        // From its own directory: oras names an attached file by the path it was given, and pulls it there.
        const result = await this.tracker.runChecked(cachedBinary("oras"), [...args, "--registry-config", this.orasConfig, "--ca-file", this.caFile], { env, cwd: this.dir, timeoutMs: 120_000 });
        return result.stdout.trim();
    }

    private async regctl(args: string[], input?: Buffer): Promise<string> {
        const env = { ...process.env, HOME: this.dir, REGCTL_CONFIG: this.regctlConfig };
        return (await this.tracker.runChecked(cachedBinary("regctl"), args, { env, input, timeoutMs: 120_000 })).stdout.trim();
    }

    /**
     * `oras attach` of a small file to `subject` (`repo:tag` or `repo@digest`); returns the
     * artefact manifest's digest. `api` asks oras to rely on the referrers API instead of the tag
     * schema (`--distribution-spec v1.1-referrers-api`): the manifest then arrives with its
     * subject and no fallback tag.
     */
    async attach(subject: string, artifactType: string, content: string, options: { platform?: string; api?: boolean } = {}): Promise<string> {
        const file = `attach-${createHash("sha256").update(subject + artifactType + content).digest("hex").slice(0, 12)}.txt`;
        fs.writeFileSync(path.join(this.dir, file), content);
        const args = ["attach", "--artifact-type", artifactType, "--format", "go-template", "--template", "{{.digest}}"];
        if (options.platform !== undefined) {
            args.push("--platform", options.platform);
        }
        if (options.api === true) {
            args.push("--distribution-spec", "v1.1-referrers-api");
        }
        const digest = await this.oras([...args, `${this.host}/${subject}`, file]);
        if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
            throw new Error(`oras attach printed ${JSON.stringify(digest)}, not a digest`);
        }
        return digest;
    }

    /** `oras discover`: the artefact digests oras finds attached to `subject`, by artifact type. */
    async discover(subject: string): Promise<{ digest: string; artifactType: string }[]> {
        const out = await this.oras(["discover", "--format", "json", `${this.host}/${subject}`]);
        const doc = JSON.parse(out) as { referrers?: { digest: string; artifactType: string }[]; manifests?: { digest: string; artifactType: string }[] };
        return (doc.referrers ?? doc.manifests ?? []).map((r) => ({ digest: r.digest, artifactType: r.artifactType }));
    }

    /** `oras pull` of an artefact: its files' names and contents. */
    async pull(reference: string, into: string): Promise<Record<string, string>> {
        fs.mkdirSync(into, { recursive: true });
        await this.oras(["pull", "--output", into, `${this.host}/${reference}`]);
        return Object.fromEntries(fs.readdirSync(into).map((f) => [f, fs.readFileSync(path.join(into, f), "utf8")]));
    }

    /**
     * A cosign-style attachment of `repo@digest`: an image manifest tagged
     * `sha256-<hex>.<suffix>` whose one layer is a simple-signing payload naming the digest, and
     * whose config has `created` (cosign writes Go's zero time unless asked to record the time).
     * Pushed with `regctl blob put` and `regctl manifest put`; returns the manifest's digest.
     */
    async pushCosignStyle(repo: string, digest: string, suffix: string, created: string): Promise<string> {
        const payload = Buffer.from(JSON.stringify({ critical: { identity: { "docker-reference": `${this.host}/${repo}` }, image: { "docker-manifest-digest": digest }, type: "cosign container image signature" }, optional: null }));
        const diffId = `sha256:${createHash("sha256").update(payload).digest("hex")}`;
        const config = Buffer.from(JSON.stringify({ architecture: "", created, history: [{ created: GO_ZERO_TIME }], os: "", rootfs: { type: "layers", diff_ids: [diffId] }, config: {} }));
        const ref = `${this.host}/${repo}`;
        const configDigest = await this.regctl(["blob", "put", ref], config);
        const payloadDigest = await this.regctl(["blob", "put", ref], payload);
        const manifest = {
            schemaVersion: 2,
            mediaType: MEDIA_TYPES.manifest,
            config: { mediaType: MEDIA_TYPES.config, size: config.length, digest: configDigest },
            layers: [{ mediaType: COSIGN_PAYLOAD_TYPE, size: payload.length, digest: payloadDigest, annotations: { "dev.cosignproject.cosign/signature": "MEUCIQ-rehearsal" } }],
        };
        const bytes = Buffer.from(JSON.stringify(manifest));
        await this.regctl(["manifest", "put", "--content-type", MEDIA_TYPES.manifest, `${ref}:${fallbackTag(digest, suffix)}`], bytes);
        return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    }
}
