import * as command from "@pulumi/command";
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderAuthorizedKeysScript } from "./render/authorizedKeys";
import { renderCloudInit } from "./render/cloudInit";
import { FRONT_REFUSED_LOG, PUBLIC_PORT } from "./render/deployment";
import { renderHostFirewallScript } from "./render/hostFirewall";
import { APT_CONF_DIR, renderHostUpdatesScript } from "./render/hostUpdates";
import { renderLoginGuardScript } from "./render/loginGuard";
import { renderWaitForHostScript } from "./render/scripts";

export interface DockerHostArgs {
    /** DigitalOcean region slug, e.g. `nyc3`. */
    region: pulumi.Input<string>;
    /** Droplet size slug, e.g. `s-1vcpu-1gb`; the Docker image's minimum disk must fit. */
    size: pulumi.Input<string>;
    /** Image slug of the Docker 1-click, e.g. `docker-22-04`. */
    image: pulumi.Input<string>;
    /** OpenSSH public keys that may also log in as root, besides the generated deploy key. */
    extraSshPublicKeys?: pulumi.Input<pulumi.Input<string>[]>;
    /** CIDRs allowed to reach SSH (port 22). */
    sshAllowedCidrs: pulumi.Input<pulumi.Input<string>[]>;
    /** CIDRs allowed to reach HTTPS (port 443). Omit to open no HTTPS port at all (tunnel mode). */
    httpsAllowedCidrs?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * HTTPS reaches the droplet only through a load balancer. Its cloud firewall rule names the
     * balancer, which can only be made once the droplets exist, so it is declared beside the
     * balancer: this firewall opens no 443, while ufw and the login guard are set up as for
     * direct HTTPS. Mutually exclusive with httpsAllowedCidrs.
     */
    httpsThroughBalancer?: boolean;
    /** When a reboot that updates need happens, HH:MM UTC. Default `REBOOT_TIME_UTC` (04:30). */
    rebootTimeUtc?: string;
    /** Seconds to wait for first boot and Docker before failing. Default 600. */
    readyTimeoutSeconds?: number;
}

/** Fresh droplets refuse SSH for a while; each dial waits up to perDialTimeout seconds. */
const READY_DIAL_ERROR_LIMIT = 60;
const PER_DIAL_TIMEOUT_SECONDS = 15;

/**
 * A Docker droplet that can be reached and trusted: a generated deploy key, a pinned host key,
 * a reserved IP that survives replacement, a cloud firewall that admits only SSH and (when
 * asked) HTTPS, and a first command that returns only once first boot is over and Docker
 * answers. Everything that runs on the host afterwards depends on {@link ready}.
 */
export class DockerHost extends pulumi.ComponentResource {
    public readonly droplet: digitalocean.Droplet;
    public readonly reservedIp: digitalocean.ReservedIp;
    public readonly firewall: digitalocean.Firewall;
    /** The stable public address (the reserved IP). */
    public readonly ipAddress: pulumi.Output<string>;
    /** Root's private deploy key (OpenSSH format), a secret. */
    public readonly sshPrivateKey: pulumi.Output<string>;
    /** The host's pinned SSH public key, for `known_hosts`. */
    public readonly sshHostPublicKey: pulumi.Output<string>;
    /** How every later command connects: pinned host key, deploy key, reserved IP. */
    public readonly connection: command.types.input.remote.ConnectionArgs;
    /** The first-boot wait: depend on it before running anything on the host. */
    public readonly ready: command.remote.Command;
    /** Installs extraSshPublicKeys over SSH, so changing them does not replace the droplet. */
    public readonly operatorKeys: command.remote.Command;
    /** Unattended security updates, with reboots held for a quiet hour; set up over SSH too. */
    public readonly hostUpdates: command.remote.Command;
    /** The droplet's ID as the firewall, the balancer and the reserved IP take it: a number. */
    public readonly dropletIdNumber: pulumi.Output<number>;
    /** Only where HTTPS is open: the image's ufw allowing the front's port (see hostFirewall.ts). */
    public readonly hostFirewall?: command.remote.Command;
    /** Only where HTTPS is open: fail2ban refusing addresses that keep failing to log in. */
    public readonly loginGuard?: command.remote.Command;

    constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
        if (args.httpsAllowedCidrs !== undefined && args.httpsThroughBalancer === true) {
            throw new pulumi.RunError(`DockerHost "${name}": httpsAllowedCidrs and httpsThroughBalancer are mutually exclusive: behind a balancer, the balancer's firewall admits clients`);
        }
        super("private-registry:host:DockerHost", name, {}, opts);
        const servesHttps = args.httpsAllowedCidrs !== undefined || args.httpsThroughBalancer === true;

        const deployKey = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, { parent: this });
        const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this });

        const doSshKey = new digitalocean.SshKey(
            `${name}-ssh-key`,
            { publicKey: deployKey.publicKeyOpenssh.apply((k) => k.trim()) },
            { parent: this },
        );

        this.reservedIp = new digitalocean.ReservedIp(`${name}-ip`, { region: args.region }, { parent: this });

        // Only inputs fixed for the droplet's life: any change to user data replaces the droplet.
        const userData = pulumi
            .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh])
            .apply(([privateOpenssh, publicOpenssh]) => renderCloudInit({ hostKey: { privateOpenssh, publicOpenssh } }));

        this.droplet = new digitalocean.Droplet(
            `${name}-droplet`,
            {
                image: args.image,
                region: args.region,
                size: args.size,
                monitoring: true,
                ipv6: true,
                gracefulShutdown: true,
                sshKeys: [doSshKey.fingerprint],
                // Carries the host's private key.
                userData: pulumi.secret(userData),
                tags: ["docker-registry"],
            },
            { parent: this },
        );
        const dropletId = this.droplet.id.apply((id) => Number(id));
        this.dropletIdNumber = dropletId;

        const assignment = new digitalocean.ReservedIpAssignment(
            `${name}-ip-assignment`,
            { ipAddress: this.reservedIp.ipAddress, dropletId },
            { parent: this },
        );

        const anywhere = ["0.0.0.0/0", "::/0"];
        const inboundRules: digitalocean.types.input.FirewallInboundRule[] = [
            { protocol: "tcp", portRange: "22", sourceAddresses: args.sshAllowedCidrs },
        ];
        if (args.httpsAllowedCidrs !== undefined) {
            inboundRules.push({ protocol: "tcp", portRange: "443", sourceAddresses: args.httpsAllowedCidrs });
        }
        this.firewall = new digitalocean.Firewall(
            `${name}-firewall`,
            {
                dropletIds: [dropletId],
                inboundRules,
                // Outbound stays open: image pulls, S3, Let's Encrypt, DNS and OS updates.
                outboundRules: [
                    { protocol: "tcp", portRange: "1-65535", destinationAddresses: anywhere },
                    { protocol: "udp", portRange: "1-65535", destinationAddresses: anywhere },
                    { protocol: "icmp", destinationAddresses: anywhere },
                ],
            },
            { parent: this },
        );

        this.ipAddress = this.reservedIp.ipAddress;
        this.sshPrivateKey = pulumi.secret(deployKey.privateKeyOpenssh);
        this.sshHostPublicKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());
        this.connection = {
            host: this.ipAddress,
            user: "root",
            privateKey: this.sshPrivateKey,
            hostKey: this.sshHostPublicKey,
            perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        };

        this.ready = new command.remote.Command(
            `${name}-wait-ready`,
            {
                connection: { ...this.connection, dialErrorLimit: READY_DIAL_ERROR_LIMIT },
                create: renderWaitForHostScript(args.readyTimeoutSeconds ?? 600),
                // A new droplet (new host key) must be waited for again.
                triggers: [this.droplet.id, this.sshHostPublicKey],
            },
            { parent: this, dependsOn: [assignment, this.firewall] },
        );

        this.operatorKeys = new command.remote.Command(
            `${name}-operator-keys`,
            {
                connection: this.connection,
                create: pulumi.output(args.extraSshPublicKeys ?? []).apply((keys) => renderAuthorizedKeysScript(keys)),
                // A new droplet starts with only the deploy key.
                triggers: [this.droplet.id],
            },
            { parent: this, dependsOn: [this.ready] },
        );

        this.hostUpdates = new command.remote.Command(
            `${name}-host-updates`,
            {
                connection: this.connection,
                create: renderHostUpdatesScript(APT_CONF_DIR, args.rebootTimeUtc),
                // A new droplet starts from the image's defaults.
                triggers: [this.droplet.id],
            },
            { parent: this, dependsOn: [this.ready] },
        );

        if (servesHttps) {
            this.hostFirewall = new command.remote.Command(
                `${name}-host-firewall`,
                {
                    connection: this.connection,
                    create: renderHostFirewallScript([PUBLIC_PORT]),
                    // A new droplet starts with the image's ufw rules.
                    triggers: [this.droplet.id],
                },
                { parent: this, dependsOn: [this.ready] },
            );
            this.loginGuard = new command.remote.Command(
                `${name}-login-guard`,
                {
                    connection: this.connection,
                    create: renderLoginGuardScript({ refusedLogPath: FRONT_REFUSED_LOG, ports: [PUBLIC_PORT], ...(args.httpsThroughBalancer === true ? { behindBalancer: true } : {}) }),
                    triggers: [this.droplet.id],
                },
                // After the updates' own apt run, which holds the package lock.
                { parent: this, dependsOn: [this.hostUpdates] },
            );
        }

        this.registerOutputs({ ipAddress: this.ipAddress, dropletId: this.droplet.id });
    }
}
