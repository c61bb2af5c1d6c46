import * as pulumi from "@pulumi/pulumi";
import { PrivateRegistry } from "./privateRegistry";
import { TUNNEL_PORT } from "./render/deployment";
import { Settings } from "./settings";
import { registryImageReference } from "./versions";
import { estimateMonthlyCost, KNOWN_DROPLET_SIZES } from "./cost";

/** The usage the cost output assumes; docs/COSTS.md has other volumes. */
export const COST_OUTPUT_USAGE = { storedGb: 10, pulledGbPerMonth: 50 } as const;

/**
 * Monthly USD for the chosen droplet at {@link COST_OUTPUT_USAGE}, or undefined for a droplet
 * size the dated price table does not know (the deploy itself does not depend on the table).
 */
export function estimatedMonthlyCostUsd(settings: Pick<Settings, "dropletSize" | "redirectPullsToS3" | "s3ChunkSizeMb">): number | undefined {
    if (!(KNOWN_DROPLET_SIZES as readonly string[]).includes(settings.dropletSize)) {
        return undefined;
    }
    const estimate = estimateMonthlyCost({
        dropletSize: settings.dropletSize,
        ...COST_OUTPUT_USAGE,
        redirect: settings.redirectPullsToS3,
        chunkSizeMb: settings.s3ChunkSizeMb,
    });
    return Math.round(estimate.totalUsd * 100) / 100;
}

/** A Docker `config.json` with one `auths` entry: what CI systems and imagePullSecrets take. */
export function renderDockerConfigJson(host: string, username: string, password: string): string {
    const auth = Buffer.from(`${username}:${password}`, "utf8").toString("base64");
    return JSON.stringify({ auths: { [host]: { username, password, auth } } });
}

/** The `ssh -L` line that makes a tunnelled registry appear on the operator's localhost. */
export function renderSshTunnelCommand(ip: string): string {
    return `ssh -i registry_key -o IdentitiesOnly=yes -N -L ${TUNNEL_PORT}:127.0.0.1:${TUNNEL_PORT} root@${ip}`;
}

/** The stack outputs CI and operators read; secrets stay secrets. */
export function stackOutputs(registry: PrivateRegistry, settings: Settings) {
    const username = registry.service.username;
    const password = registry.service.password;
    return {
        registryHost: registry.registryHost,
        registryUrl: registry.registryUrl,
        registryUsername: username,
        registryPassword: pulumi.secret(password),
        dockerConfigJson: pulumi.secret(
            pulumi.all([registry.registryHost, username, password]).apply(([host, user, pw]) => renderDockerConfigJson(host, user, pw)),
        ),
        /** Only with the private CA: what clients put in /etc/docker/certs.d/HOST/ca.crt. */
        caCertificate: registry.certificate?.caCertificate,
        serving: registry.serving,
        bucketName: registry.bucket.bucketName,
        bucketRegion: pulumi.output(settings.awsRegion),
        dropletIp: registry.host.ipAddress,
        sshPrivateKey: pulumi.secret(registry.host.sshPrivateKey),
        sshHostPublicKey: registry.host.sshHostPublicKey,
        sshTunnelCommand: settings.exposure === "tunnel" ? registry.host.ipAddress.apply(renderSshTunnelCommand) : undefined,
        registryImage: pulumi.output(registryImageReference(settings.registryVersion, settings.registryImageDigest)),
        estimatedMonthlyCostUsd: estimatedMonthlyCostUsd(settings),
    };
}
