import * as pulumi from "@pulumi/pulumi";
import type { PrivateRegistry } from "./privateRegistry";
import { REGISTRY_DEBUG_PORT, TUNNEL_PORT } from "./render/deployment";
import { MAINTENANCE_SERVICE } from "./render/maintenance";

/** A Docker `config.json` with one `auths` entry: what CI systems and imagePullSecrets take. */
export function renderDockerConfigJson(host: string, username: string, password: string): string {
    const auth = Buffer.from(`${username}:${password}`, "utf8").toString("base64");
    return JSON.stringify({ auths: { [host]: { username, password, auth } } });
}

/** The `ssh -L` line that makes a tunnelled registry appear on the operator's localhost. */
export function renderSshTunnelCommand(ip: string): string {
    return `ssh -i registry_key -o IdentitiesOnly=yes -N -L ${TUNNEL_PORT}:127.0.0.1:${TUNNEL_PORT} root@${ip}`;
}

/** Runs the maintenance job now and shows its journal: retention, then garbage collection. */
export function renderMaintenanceCommand(ip: string): string {
    return `ssh -i registry_key -o IdentitiesOnly=yes root@${ip} 'systemctl start ${MAINTENANCE_SERVICE}; journalctl -u ${MAINTENANCE_SERVICE} -n 50 --no-pager'`;
}

/** Brings the droplet-local debug server (Prometheus metrics, health) to the operator's localhost. */
export function renderMetricsTunnelCommand(ip: string): string {
    return `ssh -i registry_key -o IdentitiesOnly=yes -N -L ${REGISTRY_DEBUG_PORT}:127.0.0.1:${REGISTRY_DEBUG_PORT} root@${ip}`;
}

/** One user's credentials as the `registryUsers` output gives them. */
export interface UserCredentials {
    username: string;
    password: string;
    role: string;
    /** Present when the user is limited to some repositories. */
    repositories?: string[];
}

/** Every login by name, and a Docker config.json for each: secrets, as a whole. */
function userOutputs(registry: PrivateRegistry): { registryUsers: pulumi.Output<Record<string, UserCredentials>>; dockerConfigJsons: pulumi.Output<Record<string, string>> } {
    const entries = registry.service.logins.map((login) =>
        pulumi.all([registry.registryHost, login.password]).apply(([host, password]) => ({
            credentials: {
                username: login.user.name,
                password,
                role: login.user.role,
                ...(login.user.repositories !== undefined ? { repositories: login.user.repositories } : {}),
            } as UserCredentials,
            dockerConfigJson: renderDockerConfigJson(host, login.user.name, password),
        })),
    );
    const all = pulumi.all(entries);
    return {
        registryUsers: pulumi.secret(all.apply((list) => Object.fromEntries(list.map((e) => [e.credentials.username, e.credentials])))),
        dockerConfigJsons: pulumi.secret(all.apply((list) => Object.fromEntries(list.map((e) => [e.credentials.username, e.dockerConfigJson])))),
    };
}

/** What {@link stackOutputs} returns: one entry per stack output. */
export type StackOutputs = ReturnType<typeof stackOutputs>;

/** The stack outputs CI and operators read; secrets stay secrets. */
export function stackOutputs(registry: PrivateRegistry) {
    const settings = registry.settings;
    const username = registry.service.username;
    const password = registry.service.password;
    const users = userOutputs(registry);
    const balanced = registry.hosts.length > 1;
    return {
        registryHost: registry.registryHost,
        registryUrl: registry.registryUrl,
        registryUsername: username,
        registryPassword: pulumi.secret(password),
        dockerConfigJson: pulumi.secret(
            pulumi.all([registry.registryHost, username, password]).apply(([host, user, pw]) => renderDockerConfigJson(host, user, pw)),
        ),
        /** Every user by name: username, password, role and any repository patterns. */
        registryUsers: users.registryUsers,
        /** A Docker config.json per user, for CI secrets and Kubernetes imagePullSecrets. */
        dockerConfigJsons: users.dockerConfigJsons,
        /** Only with the private CA: what clients put in /etc/docker/certs.d/HOST/ca.crt. */
        caCertificate: registry.certificate?.caCertificate,
        serving: registry.serving,
        bucketName: registry.bucketName,
        bucketRegion: registry.bucketRegion,
        dropletIp: registry.host.ipAddress,
        sshPrivateKey: pulumi.secret(registry.host.sshPrivateKey),
        sshHostPublicKey: registry.host.sshHostPublicKey,
        sshTunnelCommand: settings.exposure === "tunnel" ? registry.host.ipAddress.apply(renderSshTunnelCommand) : undefined,
        /** With replicas, one droplet's job started alone would wait for replicas that are not following it (README, More than one droplet). */
        maintenanceCommand: balanced ? undefined : registry.host.ipAddress.apply(renderMaintenanceCommand),
        metricsTunnelCommand: registry.host.ipAddress.apply(renderMetricsTunnelCommand),
        /** With replicas only: each replica's droplet address and its root key, the first one first (dropletIp and sshPrivateKey name the first). */
        replicaDropletIps: balanced ? pulumi.all(registry.hosts.map((host) => host.ipAddress)) : undefined,
        replicaSshPrivateKeys: balanced ? pulumi.secret(pulumi.all(registry.hosts.map((host) => host.sshPrivateKey))) : undefined,
        registryImage: registry.registryImage,
        estimatedMonthlyCostUsd: registry.estimatedMonthlyCostUsd,
    };
}
