import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { RegistryAlerts } from "./alerts";
import { addressAwaitingDns, ResolveIpv4, resolveIpv4 } from "./dnsCheck";
import { DockerHost } from "./dockerHost";
import { replicaRebootTime } from "./render/hostUpdates";
import { RegistryBucket } from "./registryBucket";
import { RegistryCertificate } from "./registryCertificate";
import { RegistryService, RegistryServiceArgs, RegistryServiceTls } from "./registryService";
import { estimatedMonthlyCostUsd } from "./cost";
import { PrivateRegistryArgs, resolveArgs } from "./privateRegistryArgs";
import { dnsRecordName, Settings } from "./settings";
import { OPEN_TO_ALL_IPV4 } from "./settingsRules";
import { registryImageReference } from "./versions";
import { StorageUser } from "./storageUser";
import { SpacesStorage } from "./spacesStorage";
import { sslipHostname, TUNNEL_PORT } from "./render/deployment";
import { RetentionRules } from "./render/retention";
import { BALANCER_FORWARDING_RULE, BALANCER_HEALTH_CHECK, BALANCER_IDLE_TIMEOUT_SECONDS, balancerDrain, replicaName } from "./render/balancer";
import { PUBLIC_PORT } from "./render/deployment";
import { ProxyProtocolInput } from "./render/proxyProtocol";

/**
 * The balancer's own firewall for `httpsAllowedCidrs`: none while the list admits every IPv4
 * address, as the default does, else an allow rule for each CIDR in the API's "cidr:" form
 * (DigitalOcean API lb_firewall.yml).
 */
export function balancerFirewall(httpsAllowedCidrs: readonly string[]): { allows: string[] } | undefined {
    return httpsAllowedCidrs.includes(OPEN_TO_ALL_IPV4) ? undefined : { allows: httpsAllowedCidrs.map((cidr) => `cidr:${cidr}`) };
}

/** The settings' retention rules, where 0 turns a number rule off. */
export function retentionRules(keepNewestTags: number, keepTagsYoungerThanDays: number, protectedTags: string[]): RetentionRules {
    return {
        ...(keepNewestTags > 0 ? { keepNewest: keepNewestTags } : {}),
        ...(keepTagsYoungerThanDays > 0 ? { keepYoungerThanDays: keepTagsYoungerThanDays } : {}),
        ...(protectedTags.length > 0 ? { protectPatterns: protectedTags } : {}),
    };
}

/**
 * Whether the registry's certificate is one the public trusts, as DigitalOcean's uptime checks
 * and any client do: Let's Encrypt's, or another ACME CA's the system's roots cover (one that
 * needs acmeServerCa is not).
 */
export function certificatePubliclyTrusted(settings: Pick<Settings, "tls" | "acmeServerCa">): boolean {
    return settings.tls === "letsencrypt" && settings.acmeServerCa === undefined;
}

/** One line that says how clients reach the registry and what they must trust. */
export function describeServing(settings: Pick<Settings, "exposure" | "tls" | "acmeServerCa">, host: string, awaitingDnsFor?: string, acmeServer?: string, replicas = 1): string {
    switch (settings.tls) {
        case "letsencrypt": {
            const certificate =
                acmeServer === undefined
                    ? "a Let's Encrypt certificate"
                    : `a certificate from the ACME server ${acmeServer}${settings.acmeServerCa === undefined ? "" : " (clients must trust the CA in acmeServerCa)"}`;
            return awaitingDnsFor === undefined
                ? `public HTTPS at https://${host} with ${certificate} (obtained by the front when it starts)`
                : `waiting for DNS: create an A record ${host} -> ${awaitingDnsFor}, then run \`pulumi up\` again to finish; the front then serves public HTTPS at https://${host} with ${certificate}`;
        }
        case "private-ca": {
            const through = replicas > 1 ? ` through a load balancer in front of ${replicas} droplets,` : "";
            return `public HTTPS at https://${host}${through} with a certificate from this stack's private CA: put the caCertificate output into /etc/docker/certs.d/${host}/ca.crt on every client`;
        }
        case "none":
            return `loopback only (127.0.0.1:${TUNNEL_PORT} on the droplet), reachable through the sshTunnelCommand output`;
    }
}

/**
 * The whole private registry: bucket and its credentials (an S3 bucket and IAM user, or a Spaces
 * bucket and key), Docker host, optional DNS record and certificate, and the registry service,
 * wired in dependency order.
 */
export class PrivateRegistry extends pulumi.ComponentResource {
    /** With `storage: "s3"` only. */
    public readonly bucket?: RegistryBucket;
    /** With `storage: "s3"` only. */
    public readonly storageUser?: StorageUser;
    /** With `storage: "spaces"` only: the Spaces bucket and its key. */
    public readonly spaces?: SpacesStorage;
    /** The name of the bucket holding the layers, on S3 or Spaces. */
    public readonly bucketName: pulumi.Output<string>;
    /** The first replica's host: with one replica, the droplet. */
    public readonly host: DockerHost;
    /** Every replica's host, the first one first. */
    public readonly hosts: DockerHost[];
    /** With replicas only: the load balancer clients reach, and the firewall rule that admits it alone. */
    public readonly balancer?: digitalocean.LoadBalancer;
    public readonly balancerFirewall?: digitalocean.Firewall;
    public readonly certificate?: RegistryCertificate;
    public readonly dnsRecord?: digitalocean.DnsRecord;
    /** The first replica's service, whose logins every replica shares. */
    public readonly service: RegistryService;
    /** Every replica's service, each updated after the one before it. */
    public readonly services: RegistryService[];
    /** Only with alertEmails: droplet alerts, and an uptime check where it can judge the registry. */
    public readonly alerts?: RegistryAlerts;

    /** Host name clients use in image references (no scheme). */
    public readonly registryHost: pulumi.Output<string>;
    public readonly registryUrl: pulumi.Output<string>;
    public readonly serving: pulumi.Output<string>;
    /** The arguments after defaults and validation, as far as they are known when declared. */
    public readonly settings: Settings;
    /** The exact registry image, by tag and digest. */
    public readonly registryImage: pulumi.Output<string>;
    /** The AWS region, or with Spaces the Spaces region. */
    public readonly bucketRegion: pulumi.Output<string>;
    /** Monthly USD at the documented usage; undefined for a droplet size the price table lacks. */
    public readonly estimatedMonthlyCostUsd: pulumi.Output<number | undefined>;

    /**
     * @param resolve how the DNS name is checked before a certificate is asked for (tests pass a
     *   fake; the default asks the system's resolvers)
     */
    constructor(name: string, args: PrivateRegistryArgs, opts?: pulumi.ComponentResourceOptions, resolve: ResolveIpv4 = resolveIpv4) {
        // Validation runs before anything, the component itself included, is registered.
        const { known: settings, value } = resolveArgs(name, args);
        super("private-registry:index:PrivateRegistry", name, {}, opts);
        this.settings = settings;

        this.registryImage = pulumi.all([value("registryVersion"), value("registryImageDigest")]).apply(([version, digest]) => registryImageReference(version, digest));
        this.estimatedMonthlyCostUsd = pulumi
            .all([value("dropletSize"), value("redirectPullsToS3"), value("s3ChunkSizeMb")])
            .apply(([dropletSize, redirectPullsToS3, s3ChunkSizeMb]) =>
                // With alerts and a publicly trusted certificate, one uptime check is billed.
                estimatedMonthlyCostUsd(
                    { storage: settings.storage, dropletSize, redirectPullsToS3, s3ChunkSizeMb, replicas: settings.replicas },
                    settings.alertEmails.length > 0 && certificatePubliclyTrusted(settings) ? 1 : 0,
                ),
            );

        // What the registry service and its dependencies need of the storage, whichever it is.
        let storage: { bucketName: pulumi.Output<string>; region: pulumi.Output<string>; accessKeyId: pulumi.Output<string>; secretAccessKey: pulumi.Output<string>; key: pulumi.Resource; protections: pulumi.Resource[] };
        if (settings.storage === "spaces") {
            this.spaces = new SpacesStorage(
                `${name}-storage`,
                {
                    // Known whenever storage is "spaces": resolveSettings refuses a region without one.
                    region: pulumi.output(value("spacesRegion")).apply((region) => region ?? ""),
                    bucketName: value("bucketName") as pulumi.Input<string> | undefined,
                    forceDestroy: settings.forceDestroy,
                    versioning: value("versioning"),
                    abortIncompleteUploadDays: value("abortIncompleteUploadDays"),
                    keyGeneration: settings.credentialRotation,
                },
                { parent: this },
            );
            storage = { bucketName: this.spaces.bucketName, region: this.spaces.region, accessKeyId: this.spaces.accessKeyId, secretAccessKey: this.spaces.secretAccessKey, key: this.spaces.key, protections: [this.spaces] };
        } else {
            this.bucket = new RegistryBucket(
                `${name}-storage`,
                {
                    // Validated as a bucket name when given; absent, Pulumi generates one.
                    bucketName: value("bucketName") as pulumi.Input<string> | undefined,
                    forceDestroy: settings.forceDestroy,
                    versioning: value("versioning"),
                    abortIncompleteUploadDays: value("abortIncompleteUploadDays"),
                    partition: value("awsPartition"),
                },
                { parent: this },
            );

            this.storageUser = new StorageUser(
                `${name}-storage`,
                { bucketName: this.bucket.bucketName, partition: value("awsPartition"), keyGeneration: settings.credentialRotation },
                { parent: this },
            );
            storage = {
                bucketName: this.bucket.bucketName,
                region: pulumi.output(value("awsRegion")),
                accessKeyId: this.storageUser.accessKeyId,
                secretAccessKey: this.storageUser.secretAccessKey,
                key: this.storageUser.accessKey,
                // The bucket's protections and the key's policy are in place before the first push.
                protections: [this.bucket, this.storageUser],
            };
        }
        this.bucketName = storage.bucketName;
        this.bucketRegion = storage.region;

        const isPublic = settings.exposure === "public";
        // Validation allows replicas only in public mode with the private CA.
        const balanced = settings.replicas > 1;
        this.hosts = Array.from(
            { length: settings.replicas },
            (_, index) =>
                new DockerHost(
                    replicaName(`${name}-host`, index),
                    {
                        region: value("dropletRegion"),
                        size: value("dropletSize"),
                        image: value("dropletImage"),
                        extraSshPublicKeys: value("extraSshPublicKeys"),
                        sshAllowedCidrs: value("sshAllowedCidrs"),
                        httpsAllowedCidrs: isPublic && !balanced ? value("httpsAllowedCidrs") : undefined,
                        ...(balanced ? { httpsThroughBalancer: true, rebootTimeUtc: replicaRebootTime(index + 1) } : {}),
                    },
                    { parent: this },
                ),
        );
        this.host = this.hosts[0];

        let proxyProtocol: pulumi.Output<ProxyProtocolInput> | undefined;
        if (balanced) {
            const dropletIds = this.hosts.map((host) => host.dropletIdNumber);
            // Every droplet of a region joins its default VPC; the balancer reaches them there,
            // and its PROXY headers (health checks' too) come from that network alone.
            const vpcUuid = this.host.droplet.vpcUuid;
            // No name: the provider names it `<resource name>-<7 hex>` (pulumi-digitalocean
            // provider/resources.go SetAutonaming(255, "-")), so a replacement gets a new one.
            this.balancer = new digitalocean.LoadBalancer(
                `${name}-balancer`,
                {
                    region: value("dropletRegion"),
                    vpcUuid,
                    dropletIds,
                    forwardingRules: [{ ...BALANCER_FORWARDING_RULE }],
                    healthcheck: { ...BALANCER_HEALTH_CHECK },
                    enableProxyProtocol: true,
                    httpIdleTimeoutSeconds: BALANCER_IDLE_TIMEOUT_SECONDS,
                    firewall: pulumi.output(value("httpsAllowedCidrs")).apply((cidrs) => balancerFirewall(cidrs)),
                },
                { parent: this },
            );
            // Beside each host's own firewall: a droplet gets "the union of all of the Firewalls'
            // rules" (docs.digitalocean.com networking/firewalls/how-to/manage-droplets). 443 from
            // the balancer alone, so no client can pass it by. MAX_REPLICAS stays within the 10
            // droplets a firewall may list by ID.
            this.balancerFirewall = new digitalocean.Firewall(
                `${name}-balancer-firewall`,
                { dropletIds, inboundRules: [{ protocol: "tcp", portRange: String(PUBLIC_PORT), sourceLoadBalancerUids: [this.balancer.id] }] },
                { parent: this },
            );
            proxyProtocol = digitalocean.getVpcOutput({ id: vpcUuid }, { parent: this }).ipRange.apply((range) => ({ from: [range] }));
        }
        // What clients connect to: the balancer, or the one droplet's reserved IP.
        const ip = this.balancer?.ip ?? this.host.ipAddress;

        let tls: RegistryServiceTls;
        let awaitingDnsFor: pulumi.Output<string | undefined> = pulumi.output(undefined);
        switch (settings.tls) {
            case "letsencrypt": {
                const domain = settings.domain;
                this.registryHost = domain !== undefined ? pulumi.output(domain) : ip.apply(sslipHostname);
                if (settings.dnsZone !== undefined && domain !== undefined) {
                    this.dnsRecord = new digitalocean.DnsRecord(
                        `${name}-dns`,
                        { domain: settings.dnsZone, type: "A", name: dnsRecordName(domain, settings.dnsZone), value: ip, ttl: 300 },
                        { parent: this },
                    );
                } else if (domain !== undefined) {
                    // The reserved IP is new on the first `up`, so a record made by hand cannot
                    // point at it yet: the first `up` then ends by saying which record to create.
                    awaitingDnsFor = ip.apply((address) => addressAwaitingDns(domain, address, resolve));
                }
                tls = {
                    kind: "letsencrypt",
                    hostname: this.registryHost,
                    email: value("letsencryptEmail"),
                    awaitingDnsFor,
                    acmeServer: value("acmeServer"),
                    acmeServerCa: settings.acmeServerCa,
                };
                break;
            }
            case "private-ca": {
                this.registryHost = ip;
                this.certificate = new RegistryCertificate(
                    `${name}-tls`,
                    { ipAddresses: [ip], dnsNames: [ip.apply(sslipHostname)] },
                    { parent: this },
                );
                tls = {
                    kind: "private-ca",
                    hostname: ip,
                    certificate: this.certificate.certificate,
                    privateKey: this.certificate.privateKey,
                    caCertificate: this.certificate.caCertificate,
                };
                break;
            }
            case "none":
                this.registryHost = pulumi.output(`localhost:${TUNNEL_PORT}`);
                tls = { kind: "none" };
                break;
        }
        this.registryUrl = settings.tls === "none" ? pulumi.output(`http://localhost:${TUNNEL_PORT}`) : pulumi.interpolate`https://${this.registryHost}`;

        // What every replica's service is given alike; the host, and the secrets after the first
        // replica's, are each one's own.
        const serviceArgs: Omit<RegistryServiceArgs, "connection" | "hostId"> = {
            image: this.registryImage,
            storage: settings.storage === "spaces" ? "spaces" : undefined,
            bucketName: storage.bucketName,
            bucketRegion: storage.region,
            accessKeyId: storage.accessKeyId,
            secretAccessKey: storage.secretAccessKey,
            chunkSizeMb: value("s3ChunkSizeMb"),
            redirectPullsToS3: value("redirectPullsToS3"),
            users: settings.users,
            passwordGeneration: settings.credentialRotation,
            tls,
            healthCheckTimeoutSeconds: value("healthCheckTimeoutSeconds"),
            uploadStartsPerUser: value("uploadStartsPerUser"),
            gcSchedule: value("gcSchedule"),
            retention: pulumi
                .all([value("keepNewestTags"), value("keepTagsYoungerThanDays"), value("protectedTags")])
                .apply(([newest, days, patterns]) => retentionRules(newest, days, patterns)),
            ...(proxyProtocol !== undefined ? { proxyProtocol, blobDescriptorCache: false, drain: balancerDrain() } : {}),
        };
        // The storage key and its protections before the first push; with Let's Encrypt, the name
        // the CA validates as soon as the front asks for a certificate.
        const storageAndName: pulumi.Resource[] = [storage.key, ...storage.protections, ...(this.dnsRecord !== undefined ? [this.dnsRecord] : [])];
        this.services = [];
        for (const [index, host] of this.hosts.entries()) {
            const first = this.services[0] as RegistryService | undefined;
            const previous = this.services[index - 1] as RegistryService | undefined;
            const dependsOn: pulumi.Resource[] = [host.ready, host.firewall, ...storageAndName];
            // The front's port is open in the droplet's own firewall before the front starts (and,
            // with Let's Encrypt, asks to be validated on it).
            if (host.hostFirewall !== undefined) {
                dependsOn.push(host.hostFirewall);
            }
            // One replica at a time: each (re)starts only once the one before it serves again, so
            // a deploy never takes every replica away at once.
            if (previous !== undefined) {
                dependsOn.push(previous);
            }
            this.services.push(
                new RegistryService(
                    replicaName(`${name}-service`, index),
                    {
                        ...serviceArgs,
                        connection: host.connection,
                        hostId: host.droplet.id,
                        ...(first !== undefined ? { shared: first.secrets } : {}),
                        ...(this.hosts.length > 1 ? { replica: { number: index + 1, count: this.hosts.length } } : {}),
                    },
                    { parent: this, dependsOn },
                ),
            );
        }
        this.service = this.services[0];

        if (settings.alertEmails.length > 0) {
            this.alerts = new RegistryAlerts(
                `${name}-alerts`,
                {
                    dropletId: this.host.droplet.id,
                    moreDropletIds: this.hosts.slice(1).map((host) => host.droplet.id),
                    emails: settings.alertEmails,
                    publicUrl: settings.tls === "none" ? undefined : this.registryUrl,
                    certificateTrusted: certificatePubliclyTrusted(settings),
                },
                // Watching starts once the registry serves, so first boot raises no alarm.
                { parent: this, dependsOn: this.services },
            );
        }

        this.serving = pulumi.all([this.registryHost, awaitingDnsFor, value("acmeServer")]).apply(([host, pending, acmeServer]) => {
            const line = describeServing(settings, host, pending, acmeServer, settings.replicas);
            if (pending !== undefined) {
                void pulumi.log.warn(line, this);
            }
            return line;
        });

        this.registerOutputs({ registryHost: this.registryHost, registryUrl: this.registryUrl });
    }
}
