import {
    CONTAINER_DEBUG_PORT,
    CONTAINER_NAME,
    CONTAINER_PORT,
    deploymentParts,
    HOST_CONFIG_DIR,
    HOST_DATA_DIR,
    HOST_UNIT_DIR,
    renderConfigFiles,
    renderDeployment,
    sslipHostname,
    type DeploymentInput,
    type DeploymentParts,
} from "../../components/render/deployment";
import { renderRetentionContainer } from "../../components/render/retention";
import { renderStdinBundle, type StartScriptInput } from "../../components/render/scripts";
import { decodeBundleFiles } from "../support/bundle";
import { rehearsalConfigInput } from "./registry";

/**
 * The droplet's start script input and stdin bundle as the rehearsal runs them on this machine:
 * the program's own (`deploymentParts` of a `DeploymentInput`), with only what cannot be the same
 * here swapped: the container name, the host directories under a temp dir, ports published on
 * 127.0.0.1 instead of 443, the health check's port, both configs' S3 endpoint, and the port in
 * the retention tool's registry address. {@link withDropletValues} puts the droplet's values
 * back, so a test can prove that the result renders the program's script byte for byte.
 */

export interface HostSwaps {
    containerName: string;
    image: string;
    /** Stands in for `/`: the config, data and systemd unit directories go under it. */
    root: string;
    /** Host ports for the registry and its debug server (127.0.0.1 only). */
    port: number;
    debugPort: number;
    /** The S3 server as the registry's container reaches it. */
    s3Endpoint: string;
    healthTimeoutSeconds: number;
}

export interface HostRehearsal {
    program: DeploymentParts;
    /** The start script's input with the swaps. */
    start: StartScriptInput;
    /** The bundle's files, with the swaps. */
    files: Record<string, string>;
    /** The start script's stdin. */
    stdin: string;
}

/**
 * The retention container as deployment.ts renders it for a private CA, for the registry on
 * `port` (443 when undefined) and the files in `configDir`.
 */
function retentionPart(input: DeploymentInput, port: number | undefined, configDir: string): { config: string; dockerArgs: string[] } | undefined {
    if (input.retention === undefined || input.tls.kind !== "private-ca") {
        return undefined;
    }
    // The IP's sslip.io name, which the certificate carries, resolved to the host's own loopback.
    const name = sslipHostname(input.tls.hostname);
    const rendered = renderRetentionContainer({
        registryHost: port === undefined ? name : `${name}:${port}`,
        username: input.username,
        files: { config: `${configDir}/retention.yml`, password: `${configDir}/retention-password` },
        rules: input.retention,
        tls: { caFile: `${configDir}/ca.crt` },
        dryRun: false,
    });
    return { config: rendered.config, dockerArgs: [rendered.dockerArgs[0], "--add-host", `${name}:127.0.0.1`, ...rendered.dockerArgs.slice(1)] };
}

/** The health URL with the rehearsal's port: the droplet's name on 443 becomes the same name on `port`. */
function withPort(url: string, port: number): string {
    const parsed = new URL(url);
    parsed.port = String(port);
    return parsed.toString();
}

export function rehearseOnHost(input: DeploymentInput, swaps: HostSwaps): HostRehearsal {
    const program = deploymentParts(input);
    const configDir = `${swaps.root}/etc/private-registry`;
    const retention = retentionPart(input, swaps.port, configDir);
    const maintenance = program.start.maintenance;
    const start: StartScriptInput = {
        ...program.start,
        containerName: swaps.containerName,
        image: swaps.image,
        configDir,
        dataDir: `${swaps.root}/var/lib/private-registry`,
        publish: [`127.0.0.1:${swaps.port}:${CONTAINER_PORT}`, `127.0.0.1:${swaps.debugPort}:${CONTAINER_DEBUG_PORT}`],
        health: { ...program.start.health, url: withPort(program.start.health.url, swaps.port), connectTo: `127.0.0.1:${swaps.port}`, timeoutSeconds: swaps.healthTimeoutSeconds },
        // The unit directory is never written where systemd does not run; a temp dir anyway.
        maintenance: maintenance === undefined ? undefined : { ...maintenance, unitDir: `${swaps.root}/etc/systemd/system`, retentionDockerArgs: retention?.dockerArgs },
    };
    const files = decodeBundleFiles(renderDeployment(input).stdin);
    Object.assign(files, renderConfigFiles(rehearsalConfigInput(program.config, { s3Endpoint: swaps.s3Endpoint })));
    if (retention !== undefined) {
        files["retention.yml"] = retention.config;
    }
    const stdin = renderStdinBundle({ files, healthCheckUser: program.healthCheckUser });
    return { program, start, files, stdin };
}

/**
 * The rehearsal's start input with the droplet's values put back: the constants of
 * deployment.ts, port 443, and the retention part rendered by the same helper
 * as the rehearsal's but for the sslip.io name on 443 and the droplet's directory.
 */
export function withDropletValues(rehearsal: StartScriptInput, input: DeploymentInput): StartScriptInput {
    const maintenance = rehearsal.maintenance;
    return {
        ...rehearsal,
        containerName: CONTAINER_NAME,
        image: input.image,
        configDir: HOST_CONFIG_DIR,
        dataDir: HOST_DATA_DIR,
        publish: [`443:${CONTAINER_PORT}`, `127.0.0.1:${CONTAINER_DEBUG_PORT}:${CONTAINER_DEBUG_PORT}`],
        health: { ...rehearsal.health, url: withPort(rehearsal.health.url, 443), connectTo: "127.0.0.1:443", timeoutSeconds: input.healthTimeoutSeconds },
        maintenance:
            maintenance === undefined ? undefined : { ...maintenance, unitDir: HOST_UNIT_DIR, retentionDockerArgs: retentionPart(input, undefined, HOST_CONFIG_DIR)?.dockerArgs },
    };
}

/** The droplet's retention.yml, from the same helper with the droplet's values (to compare with the program's). */
export function dropletRetentionConfig(input: DeploymentInput): string | undefined {
    return retentionPart(input, undefined, HOST_CONFIG_DIR)?.config;
}
