import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { addressAwaitingDns, ResolveIpv4, resolveIpv4 } from "./dnsCheck";
import { DockerHost } from "./dockerHost";
import { RegistryBucket } from "./registryBucket";
import { RegistryCertificate } from "./registryCertificate";
import { RegistryService, RegistryServiceTls } from "./registryService";
import { dnsRecordName, Settings } from "./settings";
import { registryImageReference } from "./versions";
import { StorageUser } from "./storageUser";
import { TUNNEL_PORT } from "./render/deployment";

/** The DNS name for an IP without a domain of one's own: a wildcard-DNS service. */
export function sslipHostname(ip: string): string {
    return `${ip.replace(/[.:]/g, "-")}.sslip.io`;
}

/** One line that says how clients reach the registry and what they must trust. */
export function describeServing(settings: Pick<Settings, "exposure" | "tls">, host: string, awaitingDnsFor?: string): string {
    switch (settings.tls) {
        case "letsencrypt":
            return awaitingDnsFor === undefined
                ? `public HTTPS at https://${host} with a Let's Encrypt certificate (obtained by the registry on first request)`
                : `waiting for DNS: create an A record ${host} -> ${awaitingDnsFor}, then run \`pulumi up\` again to finish; the registry then serves public HTTPS at https://${host} with a Let's Encrypt certificate`;
        case "private-ca":
            return `public HTTPS at https://${host} with a certificate from this stack's private CA: put the caCertificate output into /etc/docker/certs.d/${host}/ca.crt on every client`;
        case "none":
            return `loopback only (127.0.0.1:${TUNNEL_PORT} on the droplet), reachable through the sshTunnelCommand output`;
    }
}

/**
 * The whole private registry: bucket, storage user, Docker host, optional DNS record and
 * certificate, and the registry service, wired in dependency order.
 */
export class PrivateRegistry extends pulumi.ComponentResource {
    public readonly bucket: RegistryBucket;
    public readonly storageUser: StorageUser;
    public readonly host: DockerHost;
    public readonly certificate?: RegistryCertificate;
    public readonly dnsRecord?: digitalocean.DnsRecord;
    public readonly service: RegistryService;

    /** Host name clients use in image references (no scheme). */
    public readonly registryHost: pulumi.Output<string>;
    public readonly registryUrl: pulumi.Output<string>;
    public readonly serving: pulumi.Output<string>;

    /**
     * @param resolve how the DNS name is checked before a certificate is asked for (tests pass a
     *   fake; the default asks the system's resolvers)
     */
    constructor(name: string, settings: Settings, opts?: pulumi.ComponentResourceOptions, resolve: ResolveIpv4 = resolveIpv4) {
        super("private-registry:index:PrivateRegistry", name, {}, opts);

        this.bucket = new RegistryBucket(
            `${name}-storage`,
            {
                bucketName: settings.bucketName,
                forceDestroy: settings.forceDestroy,
                versioning: settings.versioning,
                abortIncompleteUploadDays: settings.abortIncompleteUploadDays,
                partition: settings.awsPartition,
            },
            { parent: this },
        );

        this.storageUser = new StorageUser(`${name}-storage`, { bucketName: this.bucket.bucketName, partition: settings.awsPartition }, { parent: this });

        const isPublic = settings.exposure === "public";
        this.host = new DockerHost(
            `${name}-host`,
            {
                region: settings.dropletRegion,
                size: settings.dropletSize,
                image: settings.dropletImage,
                extraSshPublicKeys: settings.extraSshPublicKeys,
                sshAllowedCidrs: settings.sshAllowedCidrs,
                httpsAllowedCidrs: isPublic ? settings.httpsAllowedCidrs : undefined,
            },
            { parent: this },
        );
        const ip = this.host.ipAddress;

        let tls: RegistryServiceTls;
        let awaitingDnsFor: pulumi.Output<string | undefined> = pulumi.output(undefined);
        const dependsOn: pulumi.Resource[] = [this.host.ready, this.host.firewall, this.storageUser.accessKey];
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
                    // Let's Encrypt validates the name as soon as the registry asks for a certificate.
                    dependsOn.push(this.dnsRecord);
                } else if (domain !== undefined) {
                    // The reserved IP is new on the first `up`, so a record made by hand cannot
                    // point at it yet: the first `up` then ends by saying which record to create.
                    awaitingDnsFor = ip.apply((address) => addressAwaitingDns(domain, address, resolve));
                }
                tls = { kind: "letsencrypt", hostname: this.registryHost, email: settings.letsencryptEmail, awaitingDnsFor };
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

        this.service = new RegistryService(
            `${name}-service`,
            {
                connection: this.host.connection,
                hostId: this.host.droplet.id,
                image: registryImageReference(settings.registryVersion, settings.registryImageDigest),
                bucketName: this.bucket.bucketName,
                bucketRegion: settings.awsRegion,
                accessKeyId: this.storageUser.accessKeyId,
                secretAccessKey: this.storageUser.secretAccessKey,
                chunkSizeMb: settings.s3ChunkSizeMb,
                redirectPullsToS3: settings.redirectPullsToS3,
                username: settings.registryUsername,
                tls,
                healthCheckTimeoutSeconds: settings.healthCheckTimeoutSeconds,
            },
            // The bucket's protections and the key's policy are in place before the first push.
            { parent: this, dependsOn: [...dependsOn, this.bucket, this.storageUser] },
        );

        this.serving = pulumi.all([this.registryHost, awaitingDnsFor]).apply(([host, pending]) => {
            const line = describeServing(settings, host, pending);
            if (pending !== undefined) {
                void pulumi.log.warn(line, this);
            }
            return line;
        });

        this.registerOutputs({ registryHost: this.registryHost, registryUrl: this.registryUrl });
    }
}
