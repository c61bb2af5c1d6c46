import * as fs from "node:fs";
import * as path from "node:path";
import { CADDY_IMAGE, REGBOT_IMAGE } from "../../components/versions";
import { caddyBinary } from "./front";
import type { ProcessTracker } from "./processes";
import { FRONT_IMAGE_INSTRUCTIONS, REGISTRY_IMAGE_INSTRUCTIONS } from "./podman";
import { REGBOT_IMAGE_INSTRUCTIONS, regbotBinary } from "./regbot";
import { cachedBinary, systemBinary } from "./tools";
import type { Twin } from "./twin";

/**
 * The droplet's images, made here from the pinned binaries and imported into the twin's Docker
 * under the names the start script pulls, so it finds them present and pulls nothing (no
 * registry is reachable). Laid out like the official images:
 * - registry: /bin/registry, `serve /etc/distribution/config.yml`, and a CA bundle that trusts
 *   the S3 stand-in's certificate (the official Alpine image carries Alpine's bundle);
 * - front: /usr/bin/caddy carrying `cap_net_bind_service=+ep`, as the official image's binary
 *   does (caddyserver/caddy-docker `2.11/alpine/Dockerfile`: `setcap cap_net_bind_service=+ep`),
 *   so `--cap-drop ALL` without NET_BIND_SERVICE fails here as there;
 * - regbot: /regbot as entrypoint, uid 1000, like regclient's scratch image.
 * The registry is pinned by digest too. `docker load` and `docker import` record no digest, so
 * the digest reference is added to Docker's reference store while the engine is stopped: the
 * start script's `docker image inspect NAME:TAG@DIGEST` then finds the image, as on a droplet
 * after its first pull.
 */

export interface TwinImage {
    reference: string;
    files: { from: string; to: string; mode: number; capability?: string }[];
    changes: string[];
}

export function twinImages(registryReference: string, s3CaBundle: string): TwinImage[] {
    return [
        {
            reference: registryReference,
            files: [
                { from: cachedBinary("registry"), to: "bin/registry", mode: 0o755 },
                { from: s3CaBundle, to: "etc/ssl/certs/ca-certificates.crt", mode: 0o644 },
            ],
            changes: REGISTRY_IMAGE_INSTRUCTIONS,
        },
        {
            reference: CADDY_IMAGE,
            files: [{ from: caddyBinary(), to: "usr/bin/caddy", mode: 0o755, capability: "cap_net_bind_service=+ep" }],
            changes: FRONT_IMAGE_INSTRUCTIONS,
        },
        {
            reference: REGBOT_IMAGE,
            files: [{ from: regbotBinary(), to: "regbot", mode: 0o755 }],
            changes: REGBOT_IMAGE_INSTRUCTIONS,
        },
    ];
}

/** Imports the images into the twin's Docker (running), then records the registry's digest. */
export async function loadTwinImages(tracker: ProcessTracker, twin: Twin, images: TwinImage[], workDir: string): Promise<void> {
    const inTwin = "/root/twin-images";
    fs.mkdirSync(twin.file(inTwin), { recursive: true });
    for (const [i, image] of images.entries()) {
        const root = path.join(workDir, `image-${i}`);
        fs.rmSync(root, { recursive: true, force: true });
        for (const file of image.files) {
            const target = path.join(root, file.to);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.copyFileSync(file.from, target);
            fs.chmodSync(target, file.mode);
            if (file.capability !== undefined) {
                await tracker.runChecked(systemBinary("setcap"), [file.capability, target]);
            }
        }
        await tracker.runChecked(systemBinary("tar"), ["--xattrs", "--xattrs-include=security.capability", "-C", root, "-cf", twin.file(`${inTwin}/${i}.tar`), "."]);
        const changes = image.changes.map((c) => `--change '${c.replace(/'/g, "'\\''")}'`).join(" ");
        await twin.execChecked(`docker import ${changes} ${inTwin}/${i}.tar '${untagged(image.reference).nameTag}' >/dev/null && rm -f ${inTwin}/${i}.tar`);
    }
    const digested = images.map((image) => untagged(image.reference)).filter((r) => r.digest !== undefined);
    if (digested.length > 0) {
        await twin.execChecked("systemctl stop docker.socket docker.service");
        const file = twin.file("/var/lib/docker/image/overlay2/repositories.json");
        const store = JSON.parse(fs.readFileSync(file, "utf8")) as { Repositories: Record<string, Record<string, string>> };
        for (const ref of digested) {
            const repo = store.Repositories[ref.familiar];
            const id = repo?.[`${ref.familiar}:${ref.tag}`];
            if (repo === undefined || id === undefined) {
                throw new Error(`${ref.nameTag} is not in the twin's reference store after import`);
            }
            repo[`${ref.familiar}@${ref.digest}`] = id;
        }
        fs.writeFileSync(file, JSON.stringify(store));
        await twin.execChecked("systemctl start docker.service");
    }
    const listed = await twin.execChecked("docker images --digests --format '{{.Repository}}:{{.Tag}} {{.Digest}}'");
    for (const image of images) {
        const ref = untagged(image.reference);
        if (!listed.stdout.includes(`${ref.familiar}:${ref.tag} ${ref.digest ?? ""}`.trim())) {
            throw new Error(`the twin lacks ${image.reference}; it has:\n${listed.stdout}`);
        }
    }
}

/** `docker.io/library/registry:3.1.2@sha256:…` → its parts, and Docker's familiar name (`registry`). */
function untagged(reference: string): { nameTag: string; familiar: string; tag: string; digest?: string } {
    const [nameTag, digest] = reference.split("@");
    const colon = nameTag.lastIndexOf(":");
    const name = nameTag.slice(0, colon);
    const familiar = name.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "");
    return { nameTag, familiar, tag: nameTag.slice(colon + 1), digest };
}
