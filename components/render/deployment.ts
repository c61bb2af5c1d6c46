import { createHash } from "node:crypto";
import { s3RegionalEndpoint } from "./awsRegion";
import { REGBOT_IMAGE } from "../versions";
import { renderRetentionContainer, RetentionRules } from "./retention";
import { renderHtpasswd } from "./htpasswd";
import {
    REGISTRY_HTPASSWD_PATH,
    REGISTRY_LETSENCRYPT_CACHE_PATH,
    REGISTRY_TLS_CERT_PATH,
    REGISTRY_TLS_KEY_PATH,
    RegistryConfigInput,
    renderRegistryConfig,
    TlsConfig,
} from "./registryConfig";
import { BundleFileName, HealthCheck, renderStartScript, renderStdinBundle, renderStopScript, StartScriptInput } from "./scripts";

/**
 * Everything the droplet receives, derived in one pure step from plain values: config.yml,
 * htpasswd, the start and stop scripts, the stdin bundle and the hash that triggers a restart.
 */

/** Inside the container the registry always listens here; the host publishes it as needed. */
export const CONTAINER_PORT = 5000;
export const CONTAINER_DEBUG_PORT = 5001;
/** The tunnel's port on the droplet's loopback (the client side of `ssh -L` is the user's choice). */
export const TUNNEL_PORT = 5000;
export const HOST_CONFIG_DIR = "/etc/private-registry";
export const HOST_DATA_DIR = "/var/lib/private-registry";
export const CONTAINER_NAME = "registry";
/** systemd's directory for local units. */
export const HOST_UNIT_DIR = "/etc/systemd/system";

export type DeploymentTls =
    /** `awaitingDnsFor`: the address the hostname must resolve to and does not yet. */
    | { kind: "letsencrypt"; hostname: string; email?: string; awaitingDnsFor?: string }
    | { kind: "private-ca"; hostname: string; certificate: string; privateKey: string; caCertificate: string }
    | { kind: "none" };

export interface DeploymentInput {
    image: string;
    bucket: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    chunkSizeMb: number;
    redirect: boolean;
    username: string;
    password: string;
    passwordSalt: string;
    httpSecret: string;
    tls: DeploymentTls;
    healthTimeoutSeconds: number;
    /** Garbage collection's OnCalendar schedule (UTC); undefined turns the timer off. */
    gcSchedule?: string;
    /** Tag-retention rules run before each collection; undefined or empty keeps every tag. */
    retention?: RetentionRules;
}

export interface Deployment {
    configYaml: string;
    htpasswd: string;
    startScript: string;
    stopScript: string;
    /** Secret: carries config.yml (S3 key), htpasswd, the TLS key and the health-check login. */
    stdin: string;
    /** Changes whenever anything the container reads changes; not reversible to the secrets. */
    contentHash: string;
}

/** Removes the container and its secret files from the host. Needs no secret itself. */
export function renderHostStopScript(): string {
    return renderStopScript({ containerName: CONTAINER_NAME, configDir: HOST_CONFIG_DIR });
}

/**
 * What {@link renderDeployment} renders, before rendering. The rehearsal takes these and swaps
 * only what cannot be the same on loopback (ports, paths, the S3 endpoint), so nothing is
 * written twice.
 */
export interface DeploymentParts {
    config: RegistryConfigInput;
    start: StartScriptInput;
    /** The stdin bundle's files other than the two configs, which are rendered from `config`. */
    files: Partial<Record<BundleFileName, string>>;
    healthCheckUser: { username: string; password: string };
}

export function deploymentParts(input: DeploymentInput): DeploymentParts {
    let tls: TlsConfig;
    let health: HealthCheck;
    const files: Partial<Record<BundleFileName, string>> = {};
    switch (input.tls.kind) {
        case "letsencrypt":
            tls = { kind: "letsencrypt", hosts: [input.tls.hostname], email: input.tls.email, cacheFile: REGISTRY_LETSENCRYPT_CACHE_PATH };
            // The first TLS handshake for the name makes the registry obtain its certificate.
            health = { url: `https://${input.tls.hostname}/v2/`, connectTo: "127.0.0.1:443", useBundledCa: false, timeoutSeconds: input.healthTimeoutSeconds };
            if (input.tls.awaitingDnsFor !== undefined) {
                health.awaitingDns = {
                    hostname: input.tls.hostname,
                    address: input.tls.awaitingDnsFor,
                    debugUrl: `http://127.0.0.1:${CONTAINER_DEBUG_PORT}/debug/health`,
                };
            }
            break;
        case "private-ca":
            tls = { kind: "files", certificate: REGISTRY_TLS_CERT_PATH, key: REGISTRY_TLS_KEY_PATH };
            health = { url: `https://${input.tls.hostname}/v2/`, connectTo: "127.0.0.1:443", useBundledCa: true, timeoutSeconds: input.healthTimeoutSeconds };
            files["tls.crt"] = input.tls.certificate;
            files["tls.key"] = input.tls.privateKey;
            files["ca.crt"] = input.tls.caCertificate;
            break;
        case "none":
            tls = { kind: "none" };
            health = { url: `http://127.0.0.1:${TUNNEL_PORT}/v2/`, useBundledCa: false, timeoutSeconds: input.healthTimeoutSeconds };
            break;
    }

    const config: RegistryConfigInput = {
        storage: {
            kind: "s3",
            region: input.region,
            regionEndpoint: s3RegionalEndpoint(input.region),
            bucket: input.bucket,
            accessKey: input.accessKeyId,
            secretKey: input.secretAccessKey,
            chunkSizeBytes: input.chunkSizeMb * 1024 * 1024,
        },
        redirect: input.redirect,
        http: { addr: `:${CONTAINER_PORT}`, secret: input.httpSecret, tls, debugAddr: `:${CONTAINER_DEBUG_PORT}` },
        auth: { realm: "private-registry", htpasswdPath: REGISTRY_HTPASSWD_PATH },
    };
    files.htpasswd = renderHtpasswd({ username: input.username, password: input.password, salt: input.passwordSalt });

    const retention = retentionDockerArgs(input);
    if (retention !== undefined) {
        files["retention.yml"] = retention.config;
        files["retention-password"] = input.password;
    }

    const publicPort = input.tls.kind === "none" ? `127.0.0.1:${TUNNEL_PORT}` : "443";
    const start: StartScriptInput = {
        containerName: CONTAINER_NAME,
        image: input.image,
        configDir: HOST_CONFIG_DIR,
        dataDir: HOST_DATA_DIR,
        dataMountPath: REGISTRY_LETSENCRYPT_CACHE_PATH.slice(0, REGISTRY_LETSENCRYPT_CACHE_PATH.lastIndexOf("/")),
        // The debug server (health, metrics) stays on the droplet's loopback: reach it over SSH.
        publish: [`${publicPort}:${CONTAINER_PORT}`, `127.0.0.1:${CONTAINER_DEBUG_PORT}:${CONTAINER_DEBUG_PORT}`],
        health,
        mountTlsFiles: input.tls.kind === "private-ca",
        maintenance: {
            unitDir: HOST_UNIT_DIR,
            schedule: input.gcSchedule,
            retentionDockerArgs: retention?.dockerArgs,
            retentionImage: retention === undefined ? undefined : REGBOT_IMAGE,
        },
    };
    return { config, start, files, healthCheckUser: { username: input.username, password: input.password } };
}

/** The DNS name for an IP without a domain of one's own: a wildcard-DNS service. */
export function sslipHostname(ip: string): string {
    return `${ip.replace(/[.:]/g, "-")}.sslip.io`;
}

/**
 * The retention rules as the droplet runs them: regbot from its image, reaching the registry on
 * the droplet's own loopback under a name its certificate holds (the domain, or the IP's sslip.io
 * name, which the private CA's certificate carries). Undefined without rules, and while DNS is
 * pending: a TLS handshake for the name would then ask Let's Encrypt for a certificate in vain.
 */
function retentionDockerArgs(input: DeploymentInput): { config: string; dockerArgs: string[] } | undefined {
    const rules = input.retention;
    const active = rules !== undefined && (rules.keepNewest !== undefined || rules.keepYoungerThanDays !== undefined || (rules.protectPatterns ?? []).length > 0);
    if (!active || input.tls.kind === "letsencrypt" && input.tls.awaitingDnsFor !== undefined) {
        return undefined;
    }
    const name = input.tls.kind === "letsencrypt" ? input.tls.hostname : input.tls.kind === "private-ca" ? sslipHostname(input.tls.hostname) : undefined;
    const rendered = renderRetentionContainer({
        registryHost: name ?? `127.0.0.1:${TUNNEL_PORT}`,
        username: input.username,
        files: { config: `${HOST_CONFIG_DIR}/retention.yml`, password: `${HOST_CONFIG_DIR}/retention-password` },
        rules,
        tls: input.tls.kind === "private-ca" ? { caFile: `${HOST_CONFIG_DIR}/ca.crt` } : input.tls.kind === "none" ? { plainHttpLoopback: true } : {},
        dryRun: false,
    }, REGBOT_IMAGE);
    // Host networking: the name resolves to the droplet's own loopback, where 443 is published.
    // With --network host, --add-host entries still reach the container's /etc/hosts (they
    // replace the host's copy there: docker/cli#4563, moby/libnetwork#2294).
    const dockerArgs = name === undefined ? rendered.dockerArgs : [rendered.dockerArgs[0], "--add-host", `${name}:127.0.0.1`, ...rendered.dockerArgs.slice(1)];
    return { config: rendered.config, dockerArgs };
}

/** Both configs the bundle carries: the registry's, and the same read-only for collection. */
export function renderConfigFiles(config: RegistryConfigInput): { "config.yml": string; "config-readonly.yml": string } {
    return { "config.yml": renderRegistryConfig(config), "config-readonly.yml": renderRegistryConfig({ ...config, readOnly: true }) };
}

export function renderDeployment(input: DeploymentInput): Deployment {
    const parts = deploymentParts(input);
    const configs = renderConfigFiles(parts.config);
    const configYaml = configs["config.yml"];
    const htpasswd = parts.files.htpasswd ?? "";
    const startScript = renderStartScript(parts.start);
    const stopScript = renderHostStopScript();
    const stdin = renderStdinBundle({ files: { ...parts.files, ...configs }, healthCheckUser: parts.healthCheckUser });

    const contentHash = createHash("sha256")
        .update(input.image)
        .update("\0")
        .update(startScript)
        .update("\0")
        .update(stdin)
        .digest("hex");

    return { configYaml, htpasswd, startScript, stopScript, stdin, contentHash };
}
