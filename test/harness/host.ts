import {
    CONTAINER_NAME,
    deploymentParts,
    FRONT_ACCESS_LOG,
    FRONT_REFUSED_LOG,
    FRONT_CONTAINER_NAME,
    HOST_CONFIG_DIR,
    HOST_DATA_DIR,
    HOST_LOG_DIR,
    HOST_UNIT_DIR,
    primaryUser,
    PUBLIC_PORT,
    REGISTRY_DEBUG_PORT,
    REGISTRY_PORT,
    renderBundleFiles,
    sslipHostname,
    TUNNEL_PORT,
    type DeploymentInput,
    type DeploymentParts,
} from "../../components/render/deployment";
import type { FrontInput } from "../../components/render/front";
import type { RegistryConfigInput } from "../../components/render/registryConfig";
import { renderRetentionContainer } from "../../components/render/retention";
import { renderStdinBundle, type StartScriptInput } from "../../components/render/scripts";
import { REGBOT_IMAGE } from "../../components/versions";
import { LOOPBACK } from "./ports";
import { rehearsalConfigInput } from "./registry";

/**
 * The droplet's start script input and stdin bundle as the rehearsal runs them on this machine:
 * the program's own (`deploymentParts` of a `DeploymentInput`), with only what cannot be the same
 * here swapped: both container names; the host directories (config, data, the front's log,
 * systemd's units) under a temp dir; the registry's loopback port and debug port (both configs'
 * http.addr and debug addr, and the front's upstream); the front's listen address (127.0.0.1:PORT
 * instead of 443 or the tunnel's 5000) and its two logs; the health check's port; both configs'
 * S3 endpoint; and the port in the retention tool's registry address. {@link withDropletValues}
 * and {@link bundleWithDropletValues} put the droplet's values back, so a test can prove that the
 * result renders the program's script and bundle byte for byte.
 */

export interface HostSwaps {
    containerName: string;
    frontContainerName: string;
    image: string;
    /** Stands in for `/`: the config, data, log and systemd unit directories go under it. */
    root: string;
    /** The registry's port and its debug server's, on 127.0.0.1 (the host network's loopback). */
    port: number;
    debugPort: number;
    /** The front's port on 127.0.0.1, where clients, the health check and the retention tool reach it. */
    frontPort: number;
    /** The S3 server as the registry's container reaches it (host network: the host's loopback). */
    s3Endpoint: string;
    healthTimeoutSeconds: number;
}

export interface HostRehearsal {
    program: DeploymentParts;
    /** The start script's input with the swaps. */
    start: StartScriptInput;
    /** The registry's config input with the swaps (rendered into config.yml and config-readonly.yml). */
    config: RegistryConfigInput;
    /** The front's Caddyfile input with the swaps. */
    front: FrontInput;
    /** The bundle's files, with the swaps. */
    files: Record<string, string>;
    /** The start script's stdin. */
    stdin: string;
}

/** Where the droplet's front is reached: 443, or the tunnel's port on loopback. */
function dropletFrontPort(input: DeploymentInput): number {
    return input.tls.kind === "none" ? TUNNEL_PORT : PUBLIC_PORT;
}

/**
 * The retention container as deployment.ts renders it for a private CA or a tunnel, for the
 * front on `port` (the droplet's when undefined) and the files in `configDir`.
 */
function retentionPart(input: DeploymentInput, port: number | undefined, configDir: string): { config: string; dockerArgs: string[] } | undefined {
    if (input.retention === undefined || (input.tls.kind !== "private-ca" && input.tls.kind !== "none")) {
        return undefined;
    }
    // The IP's sslip.io name, which the certificate carries, resolved to the host's own loopback.
    const name = input.tls.kind === "private-ca" ? sslipHostname(input.tls.hostname) : undefined;
    const host = name ?? LOOPBACK;
    const rendered = renderRetentionContainer(
        {
            registryHost: port === undefined ? (name ?? `${LOOPBACK}:${TUNNEL_PORT}`) : `${host}:${port}`,
            username: primaryUser(input.users).name,
            files: { config: `${configDir}/retention.yml`, password: `${configDir}/retention-password` },
            rules: input.retention,
            tls: name !== undefined ? { caFile: `${configDir}/ca.crt` } : { plainHttpLoopback: true },
            dryRun: false,
        },
        REGBOT_IMAGE,
    );
    const dockerArgs = name === undefined ? rendered.dockerArgs : [rendered.dockerArgs[0], "--add-host", `${name}:${LOOPBACK}`, ...rendered.dockerArgs.slice(1)];
    return { config: rendered.config, dockerArgs };
}

/** The URL with another port (the default port of its scheme disappears from the text). */
function withPort(url: string, port: number): string {
    const parsed = new URL(url);
    parsed.port = String(port);
    return parsed.toString();
}

export function rehearseOnHost(input: DeploymentInput, swaps: HostSwaps): HostRehearsal {
    const program = deploymentParts(input);
    const configDir = `${swaps.root}${HOST_CONFIG_DIR}`;
    const logDir = `${swaps.root}${HOST_LOG_DIR}`;
    const retention = retentionPart(input, swaps.frontPort, configDir);
    const maintenance = program.start.maintenance;
    const health = program.start.health;
    const start: StartScriptInput = {
        ...program.start,
        containerName: swaps.containerName,
        image: swaps.image,
        configDir,
        dataDir: `${swaps.root}${HOST_DATA_DIR}`,
        health: {
            ...health,
            url: withPort(health.url, swaps.frontPort),
            ...(health.connectTo !== undefined ? { connectTo: `${LOOPBACK}:${swaps.frontPort}` } : {}),
            ...(health.awaitingDns !== undefined ? { awaitingDns: { ...health.awaitingDns, debugUrl: withPort(health.awaitingDns.debugUrl, swaps.debugPort) } } : {}),
            timeoutSeconds: swaps.healthTimeoutSeconds,
        },
        front: { ...program.start.front, containerName: swaps.frontContainerName, logDir },
        // The unit directory is never written where systemd does not run; a temp dir anyway.
        maintenance: maintenance === undefined ? undefined : { ...maintenance, unitDir: `${swaps.root}${HOST_UNIT_DIR}`, retentionDockerArgs: retention?.dockerArgs },
    };
    const config = rehearsalConfigInput(program.config, {
        s3Endpoint: swaps.s3Endpoint,
        addr: `${LOOPBACK}:${swaps.port}`,
        debugAddr: `${LOOPBACK}:${swaps.debugPort}`,
    });
    const front: FrontInput = {
        ...program.front,
        listen: `${LOOPBACK}:${swaps.frontPort}`,
        upstream: `${LOOPBACK}:${swaps.port}`,
        accessLogFile: `${swaps.root}${FRONT_ACCESS_LOG}`,
        refusedLogFile: `${swaps.root}${FRONT_REFUSED_LOG}`,
    };
    const files = renderBundleFiles({ config, front, files: { ...program.files, ...(retention !== undefined ? { "retention.yml": retention.config } : {}) } }) as Record<string, string>;
    const stdin = renderStdinBundle({ files, healthCheckUser: program.healthCheckUser });
    return { program, start, config, front, files, stdin };
}

/**
 * The rehearsal's start input with the droplet's values put back: the constants of
 * deployment.ts, the front's port, and the retention part rendered by the same helper as the
 * rehearsal's but for the droplet's port and directory.
 */
export function withDropletValues(rehearsal: StartScriptInput, input: DeploymentInput): StartScriptInput {
    const maintenance = rehearsal.maintenance;
    const health = rehearsal.health;
    return {
        ...rehearsal,
        containerName: CONTAINER_NAME,
        image: input.image,
        configDir: HOST_CONFIG_DIR,
        dataDir: HOST_DATA_DIR,
        health: {
            ...health,
            url: withPort(health.url, dropletFrontPort(input)),
            ...(health.connectTo !== undefined ? { connectTo: `${LOOPBACK}:${PUBLIC_PORT}` } : {}),
            ...(health.awaitingDns !== undefined ? { awaitingDns: { ...health.awaitingDns, debugUrl: withPort(health.awaitingDns.debugUrl, REGISTRY_DEBUG_PORT) } } : {}),
            timeoutSeconds: input.healthTimeoutSeconds,
        },
        front: { ...rehearsal.front, containerName: FRONT_CONTAINER_NAME, logDir: HOST_LOG_DIR },
        maintenance:
            maintenance === undefined ? undefined : { ...maintenance, unitDir: HOST_UNIT_DIR, retentionDockerArgs: retentionPart(input, undefined, HOST_CONFIG_DIR)?.dockerArgs },
    };
}

/**
 * The rehearsal's bundle files rendered again with the droplet's values put back in both
 * configs (addresses, the program's S3 endpoint and addressing), the Caddyfile (listen address,
 * upstream, both logs) and retention.yml; every other file is the rehearsal's own.
 */
export function bundleWithDropletValues(rehearsal: HostRehearsal, input: DeploymentInput): Record<string, string> {
    const storage = rehearsal.config.storage;
    const programStorage = deploymentParts(input).config.storage;
    if (storage.kind !== "s3" || programStorage.kind !== "s3") {
        throw new Error("the rehearsal stores in S3, as the program does");
    }
    const dropletStorage = { ...storage, regionEndpoint: programStorage.regionEndpoint };
    delete dropletStorage.forcePathStyle;
    const config: RegistryConfigInput = {
        ...rehearsal.config,
        storage: dropletStorage,
        http: { ...rehearsal.config.http, addr: `${LOOPBACK}:${REGISTRY_PORT}`, debugAddr: `${LOOPBACK}:${REGISTRY_DEBUG_PORT}` },
    };
    const front: FrontInput = {
        ...rehearsal.front,
        listen: input.tls.kind === "none" ? `${LOOPBACK}:${TUNNEL_PORT}` : `:${PUBLIC_PORT}`,
        upstream: `${LOOPBACK}:${REGISTRY_PORT}`,
        accessLogFile: FRONT_ACCESS_LOG,
        refusedLogFile: FRONT_REFUSED_LOG,
    };
    // Both configs and the Caddyfile are rendered again from the inputs above.
    const files = { ...rehearsal.files };
    for (const rendered of ["config.yml", "config-readonly.yml", "front/Caddyfile"]) {
        delete files[rendered];
    }
    const retention = dropletRetentionConfig(input);
    return renderBundleFiles({ config, front, files: { ...files, ...(retention !== undefined ? { "retention.yml": retention } : {}) } }) as Record<string, string>;
}

/** The droplet's retention.yml, from the same helper with the droplet's values (to compare with the program's). */
export function dropletRetentionConfig(input: DeploymentInput): string | undefined {
    return retentionPart(input, undefined, HOST_CONFIG_DIR)?.config;
}
