import { createHash } from "node:crypto";
import { s3RegionalEndpoint } from "./awsRegion";
import { renderBucketFlagSettings } from "./bucketFlag";
import { CADDY_IMAGE, REGBOT_IMAGE } from "../versions";
import { FrontInput, FrontTls, FrontUser, renderFrontConfig } from "./front";
import { ProxyProtocolInput } from "./proxyProtocol";
import { renderRetentionContainer, RetentionRules } from "./retention";
import { renderHtpasswd } from "./htpasswd";
import { renderFrontPasswordHash } from "./frontPassword";
import { uploadsInFlightMax } from "./registryMemory";
import { spacesStorageConfig } from "./spaces";
import { REGISTRY_HTPASSWD_PATH, RegistryConfigInput, renderRegistryConfig } from "./registryConfig";
import { BundleFileName, DRAIN_MARKER_FILE, HealthCheck, renderStartScript, renderStdinBundle, renderStopScript, SHUTDOWN_DRAIN_SERVICE, StartScriptInput } from "./scripts";

/**
 * Everything the droplet receives, derived in one pure step from plain values: the registry's
 * config.yml and htpasswd, the front's Caddyfile, the start and stop scripts, the stdin bundle
 * and the hash that triggers a restart.
 *
 * Both containers use the host's network: the front so that it sees each client's own address
 * (which the failed-login guard bans) and binds 443 itself, the registry so that it listens on
 * the droplet's loopback alone, where only the front reaches it. No Docker port proxy sits
 * between them: while the registry restarts, the front's connection attempts are refused and
 * retried, never half-accepted by a proxy and then dropped.
 */

/** The registry listens on the droplet's loopback only; the front is its one client. */
export const REGISTRY_PORT = 5002;
/** The registry's debug server (health, Prometheus metrics), on loopback: reach it over SSH. */
export const REGISTRY_DEBUG_PORT = 5001;
/** Where clients reach the front in public mode. */
export const PUBLIC_PORT = 443;
/** The tunnel's port on the droplet's loopback (the client side of `ssh -L` is the user's choice). */
export const TUNNEL_PORT = 5000;
export const HOST_CONFIG_DIR = "/etc/private-registry";
export const HOST_DATA_DIR = "/var/lib/private-registry";
/** The front's logs; no secret is written to them. */
export const HOST_LOG_DIR = "/var/log/private-registry";
/** Requests whose login the front accepted (front.ts `log_name`). */
export const FRONT_ACCESS_LOG = `${HOST_LOG_DIR}/front-access.log`;
/** Every other request (no login, a refused one, `/`): what the failed-login guard reads. */
export const FRONT_REFUSED_LOG = `${HOST_LOG_DIR}/front-refused.log`;
export const CONTAINER_NAME = "registry";
export const FRONT_CONTAINER_NAME = "registry-front";
/** Where the front's container finds its Caddyfile and key pair (the host's configDir/front). */
export const FRONT_CONFIG_MOUNT = "/etc/caddy";
/** Caddy's admin API, a socket in its data directory: `caddy reload` uses it, nothing else can. */
export const FRONT_ADMIN_SOCKET = "/data/admin.sock";
/** The Basic realm clients are challenged with. */
export const REALM = "private-registry";
/**
 * The one login in the registry's htpasswd: the front's own, which it sends on every request it
 * passes on, in place of the client's. Users' logins are checked by the front alone, so a new
 * user or a rotated password changes the Caddyfile only, and the front and the registry never
 * disagree about a password while one of them restarts.
 */
export const UPSTREAM_USERNAME = "front";
/** systemd's directory for local units. */
export const HOST_UNIT_DIR = "/etc/systemd/system";

/**
 * The stdin bundle's file that carries `acmeServerCa` to the front, which reads it beside its
 * Caddyfile (configDir/front is mounted whole at {@link FRONT_CONFIG_MOUNT}).
 */
export const FRONT_ACME_CA_FILE = "front/acme-ca.crt" satisfies BundleFileName;

export type DeploymentTls =
    /**
     * `awaitingDnsFor`: the address the hostname must resolve to and does not yet. `acmeServer`:
     * the one ACME directory to ask instead of Let's Encrypt; `acmeServerCa`: PEM certificates of
     * its CA, which the front trusts for the directory and the droplet's checks for the
     * certificate it issues.
     */
    | { kind: "letsencrypt"; hostname: string; email?: string; awaitingDnsFor?: string; acmeServer?: string; acmeServerCa?: string }
    | { kind: "private-ca"; hostname: string; certificate: string; privateKey: string; caCertificate: string }
    | { kind: "none" };

/** A login as deployed: its role, its generated password and the salt that keeps its hash stable. */
export interface DeploymentUser {
    name: string;
    role: FrontUser["role"];
    repositories?: string[];
    password: string;
    salt: string;
}

export interface DeploymentInput {
    image: string;
    /** Where the layers live: AWS S3 (the default) or DigitalOcean Spaces, whose region `region` then names. */
    storage?: "s3" | "spaces";
    bucket: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    chunkSizeMb: number;
    redirect: boolean;
    /** Every login; the first push user is the health check's and the maintenance job's. */
    users: DeploymentUser[];
    /**
     * The front's login to the registry ({@link UPSTREAM_USERNAME}): a generated password and the
     * salt that keeps its htpasswd line stable. It does not rotate with the users' passwords.
     */
    upstreamLogin: { password: string; salt: string };
    httpSecret: string;
    tls: DeploymentTls;
    healthTimeoutSeconds: number;
    /** Upload starts each push user may make within the front's window (uploadStarts.ts); default its own. */
    uploadStartsPerUser?: number;
    /** Garbage collection's OnCalendar schedule (UTC); undefined turns the timer off. */
    gcSchedule?: string;
    /** Tag-retention rules run before each collection; undefined or empty keeps every tag. */
    retention?: RetentionRules;
    /**
     * Behind a load balancer that passes TLS through: the CIDRs it connects from, whose PROXY
     * protocol header names each client (proxyProtocol.ts). Absent: clients connect directly.
     */
    proxyProtocol?: ProxyProtocolInput;
    /** False for replicas sharing a bucket (registryConfig.ts); default true. */
    blobDescriptorCache?: boolean;
    /**
     * Behind a load balancer: how long the start script waits for the balancer to stop sending
     * here once `/` answers 503, and to send here again once it answers 200 (balancer.ts).
     * Absent: nothing waits.
     */
    drain?: { leaveSeconds: number; rejoinSeconds: number };
    /**
     * With replicas: this droplet's number (1 for the first) and how many there are. The first
     * collects and applies retention; the others hold still through its window
     * (maintenanceReplicas.ts), reached through the bucket with the registry's own key.
     */
    replica?: { number: number; count: number };
}

export interface Deployment {
    configYaml: string;
    htpasswd: string;
    caddyfile: string;
    startScript: string;
    stopScript: string;
    /** Secret: carries config.yml (S3 key), htpasswd, the Caddyfile (the front's login to the registry), the TLS key and the health-check login. */
    stdin: string;
    /** Changes whenever anything the container reads changes; not reversible to the secrets. */
    contentHash: string;
}

/**
 * Removes the container and its secret files from the host. Needs no secret itself. Behind a
 * balancer it removes the shutdown drain's unit too (scripts.ts SHUTDOWN_DRAIN_SERVICE).
 */
export function renderHostStopScript(options: { behindBalancer?: boolean } = {}): string {
    return renderStopScript({
        containerName: CONTAINER_NAME,
        frontContainerName: FRONT_CONTAINER_NAME,
        configDir: HOST_CONFIG_DIR,
        unitDir: HOST_UNIT_DIR,
        ...(options.behindBalancer === true ? { extraUnits: [SHUTDOWN_DRAIN_SERVICE] } : {}),
    });
}

/**
 * What {@link renderDeployment} renders, before rendering. The rehearsal takes these and swaps
 * only what cannot be the same on loopback (ports, paths, the S3 endpoint), so nothing is
 * written twice.
 */
export interface DeploymentParts {
    config: RegistryConfigInput;
    /** The front's Caddyfile input; rendered into the bundle's front/Caddyfile. */
    front: FrontInput;
    start: StartScriptInput;
    /** The stdin bundle's files other than the two configs and the Caddyfile, rendered from `config` and `front`. */
    files: Partial<Record<BundleFileName, string>>;
    healthCheckUser: { username: string; password: string };
}

/** The first push user: the health check and the maintenance job log in as it. */
export function primaryUser(users: DeploymentUser[]): DeploymentUser {
    const primary = users.find((u) => u.role === "push");
    if (primary === undefined) {
        throw new Error("the deployment needs at least one push user");
    }
    return primary;
}

export function deploymentParts(input: DeploymentInput): DeploymentParts {
    let frontTls: FrontTls;
    let health: HealthCheck;
    const files: Partial<Record<BundleFileName, string>> = {};
    const publicCheck = (hostname: string, useBundledCa: boolean): HealthCheck => ({
        url: `https://${hostname}/v2/`,
        connectTo: `127.0.0.1:${PUBLIC_PORT}`,
        useBundledCa,
        timeoutSeconds: input.healthTimeoutSeconds,
    });
    switch (input.tls.kind) {
        case "letsencrypt": {
            // A CA the system's roots do not cover issues certificates they do not cover either:
            // the health check (and the maintenance job's) verifies against it, as with the private CA.
            const ca = input.tls.acmeServerCa;
            health = publicCheck(input.tls.hostname, ca !== undefined);
            if (ca !== undefined) {
                files["ca.crt"] = ca;
                files[FRONT_ACME_CA_FILE] = ca;
            }
            // The front asks for the certificate at start, unless the name does not point here yet.
            if (input.tls.awaitingDnsFor !== undefined) {
                frontTls = { kind: "internal", hostname: input.tls.hostname };
                health.awaitingDns = {
                    hostname: input.tls.hostname,
                    address: input.tls.awaitingDnsFor,
                    debugUrl: `http://127.0.0.1:${REGISTRY_DEBUG_PORT}/debug/health`,
                };
            } else {
                health.acmeFront = FRONT_CONTAINER_NAME;
                frontTls = {
                    kind: "letsencrypt",
                    hostname: input.tls.hostname,
                    email: input.tls.email,
                    acmeServer: input.tls.acmeServer,
                    acmeServerRoot: ca === undefined ? undefined : `${FRONT_CONFIG_MOUNT}/${FRONT_ACME_CA_FILE.slice("front/".length)}`,
                };
            }
            break;
        }
        case "private-ca":
            frontTls = { kind: "files", hostname: input.tls.hostname, certificate: `${FRONT_CONFIG_MOUNT}/tls.crt`, key: `${FRONT_CONFIG_MOUNT}/tls.key` };
            health = publicCheck(input.tls.hostname, true);
            files["front/tls.crt"] = input.tls.certificate;
            files["front/tls.key"] = input.tls.privateKey;
            files["ca.crt"] = input.tls.caCertificate;
            break;
        case "none":
            frontTls = { kind: "none" };
            health = { url: `http://127.0.0.1:${TUNNEL_PORT}/v2/`, useBundledCa: false, timeoutSeconds: input.healthTimeoutSeconds };
            break;
    }

    const bucketAccess = { region: input.region, bucket: input.bucket, accessKey: input.accessKeyId, secretKey: input.secretAccessKey, chunkSizeBytes: input.chunkSizeMb * 1024 * 1024 };
    const config: RegistryConfigInput = {
        storage: (input.storage ?? "s3") === "spaces" ? spacesStorageConfig(bucketAccess) : { kind: "s3", ...bucketAccess, regionEndpoint: s3RegionalEndpoint(input.region) },
        redirect: input.redirect,
        // Plain HTTP on loopback: the front terminates TLS.
        http: { addr: `127.0.0.1:${REGISTRY_PORT}`, secret: input.httpSecret, tls: { kind: "none" }, debugAddr: `127.0.0.1:${REGISTRY_DEBUG_PORT}` },
        auth: { realm: REALM, htpasswdPath: REGISTRY_HTPASSWD_PATH },
        ...(input.blobDescriptorCache !== undefined ? { blobDescriptorCache: input.blobDescriptorCache } : {}),
    };
    files.htpasswd = renderHtpasswd({ username: UPSTREAM_USERNAME, password: input.upstreamLogin.password, salt: input.upstreamLogin.salt });
    const front: FrontInput = {
        listen: input.tls.kind === "none" ? `127.0.0.1:${TUNNEL_PORT}` : `:${PUBLIC_PORT}`,
        tls: frontTls,
        uploadRequestsMax: uploadsInFlightMax(bucketAccess.chunkSizeBytes),
        ...(input.uploadStartsPerUser !== undefined ? { uploadStartsPerUser: input.uploadStartsPerUser } : {}),
        users: input.users.map((user) => ({
            name: user.name,
            role: user.role,
            passwordHash: renderFrontPasswordHash({ password: user.password, salt: user.salt }),
            ...(user.repositories !== undefined ? { repositories: user.repositories } : {}),
        })),
        realm: REALM,
        upstream: `127.0.0.1:${REGISTRY_PORT}`,
        upstreamAuthorization: `Basic ${Buffer.from(`${UPSTREAM_USERNAME}:${input.upstreamLogin.password}`).toString("base64")}`,
        accessLogFile: FRONT_ACCESS_LOG,
        refusedLogFile: FRONT_REFUSED_LOG,
        adminSocket: FRONT_ADMIN_SOCKET,
        ...(input.proxyProtocol !== undefined ? { proxyProtocol: input.proxyProtocol } : {}),
        ...(input.drain !== undefined ? { drainMarker: `${FRONT_CONFIG_MOUNT}/${DRAIN_MARKER_FILE}` } : {}),
    };

    const primary = primaryUser(input.users);
    const replica = input.replica;
    // Retention deletes tags through the registry, which a follower's window holds read-only.
    const retention = replica === undefined || replica.number === 1 ? retentionDockerArgs(input, primary.name) : undefined;
    if (replica !== undefined) {
        if (config.storage.kind !== "s3") {
            throw new Error("replicas share an S3 bucket; this deployment has none");
        }
        files["bucket.json"] = renderBucketFlagSettings(config.storage);
    }
    if (retention !== undefined) {
        files["retention.yml"] = retention.config;
        files["retention-password"] = primary.password;
    }

    const start: StartScriptInput = {
        containerName: CONTAINER_NAME,
        image: input.image,
        configDir: HOST_CONFIG_DIR,
        dataDir: HOST_DATA_DIR,
        health,
        ...(input.drain !== undefined ? { drain: input.drain } : {}),
        front: {
            containerName: FRONT_CONTAINER_NAME,
            image: CADDY_IMAGE,
            logDir: HOST_LOG_DIR,
            configMount: FRONT_CONFIG_MOUNT,
            keyPairFromBundle: input.tls.kind === "private-ca",
            acmeCaFromBundle: FRONT_ACME_CA_FILE in files,
        },
        maintenance: {
            unitDir: HOST_UNIT_DIR,
            schedule: input.gcSchedule,
            retentionDockerArgs: retention?.dockerArgs,
            retentionImage: retention === undefined ? undefined : REGBOT_IMAGE,
            ...(replica !== undefined ? { replica } : {}),
        },
    };
    return { config, front, start, files, healthCheckUser: { username: primary.name, password: primary.password } };
}

/** Whether the registry's certificate is verified against the bundle's ca.crt rather than the system's roots. */
function bundledCa(tls: DeploymentTls): boolean {
    return tls.kind === "private-ca" || (tls.kind === "letsencrypt" && tls.acmeServerCa !== undefined);
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
function retentionDockerArgs(input: DeploymentInput, username: string): { config: string; dockerArgs: string[] } | undefined {
    const rules = input.retention;
    const active = rules !== undefined && (rules.keepNewest !== undefined || rules.keepYoungerThanDays !== undefined || (rules.protectPatterns ?? []).length > 0);
    if (!active || input.tls.kind === "letsencrypt" && input.tls.awaitingDnsFor !== undefined) {
        return undefined;
    }
    const name = input.tls.kind === "letsencrypt" ? input.tls.hostname : input.tls.kind === "private-ca" ? sslipHostname(input.tls.hostname) : undefined;
    const rendered = renderRetentionContainer({
        registryHost: name ?? `127.0.0.1:${TUNNEL_PORT}`,
        username,
        files: { config: `${HOST_CONFIG_DIR}/retention.yml`, password: `${HOST_CONFIG_DIR}/retention-password` },
        rules,
        tls: bundledCa(input.tls) ? { caFile: `${HOST_CONFIG_DIR}/ca.crt` } : input.tls.kind === "none" ? { plainHttpLoopback: true } : {},
        dryRun: false,
    }, REGBOT_IMAGE);
    // Host networking: the name resolves to the droplet's own loopback, where the front listens.
    // With --network host, --add-host entries still reach the container's /etc/hosts (they
    // replace the host's copy there: docker/cli#4563, moby/libnetwork#2294).
    const dockerArgs = name === undefined ? rendered.dockerArgs : [rendered.dockerArgs[0], "--add-host", `${name}:127.0.0.1`, ...rendered.dockerArgs.slice(1)];
    return { config: rendered.config, dockerArgs };
}

/** Both configs the bundle carries: the registry's, and the same read-only for collection. */
export function renderConfigFiles(config: RegistryConfigInput): { "config.yml": string; "config-readonly.yml": string } {
    return { "config.yml": renderRegistryConfig(config), "config-readonly.yml": renderRegistryConfig({ ...config, readOnly: true }) };
}

/** Every file of the stdin bundle: the parts' own, both registry configs and the Caddyfile. */
export function renderBundleFiles(parts: Pick<DeploymentParts, "config" | "front" | "files">): Partial<Record<BundleFileName, string>> {
    return { ...parts.files, ...renderConfigFiles(parts.config), "front/Caddyfile": renderFrontConfig(parts.front) };
}

export function renderDeployment(input: DeploymentInput): Deployment {
    const parts = deploymentParts(input);
    const files = renderBundleFiles(parts);
    const configYaml = files["config.yml"] ?? "";
    const htpasswd = files.htpasswd ?? "";
    const caddyfile = files["front/Caddyfile"] ?? "";
    const startScript = renderStartScript(parts.start);
    const stopScript = renderHostStopScript();
    const stdin = renderStdinBundle({ files, healthCheckUser: parts.healthCheckUser });

    const contentHash = createHash("sha256")
        .update(input.image)
        .update("\0")
        .update(startScript)
        .update("\0")
        .update(stdin)
        .digest("hex");

    return { configYaml, htpasswd, caddyfile, startScript, stopScript, stdin, contentHash };
}
