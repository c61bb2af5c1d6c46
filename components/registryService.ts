import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BCRYPT_SALT_ALPHABET, BCRYPT_SALT_LENGTH } from "./render/htpasswd";
import { Deployment, DeploymentTls, DeploymentUser, renderDeployment, renderHostStopScript } from "./render/deployment";
import type { RegistryUser, StorageKind } from "./settings";
import { RetentionRules } from "./render/retention";
import { shellQuote } from "./render/shell";
import { ProxyProtocolInput } from "./render/proxyProtocol";

/**
 * The destroy-time command. The script is named by its absolute path, found from this file, so
 * it runs whatever the working directory of `pulumi destroy` and wherever this package is
 * installed (a consumer's node_modules too). Destroy uses the path recorded at the last `up`:
 * after moving the project, run `pulumi up` once before destroying.
 */
export const TEARDOWN_COMMAND = `node ${shellQuote(path.join(__dirname, "teardown.cjs"))}`;

/** How the registry is served; mirrors {@link DeploymentTls} with Pulumi inputs. */
export type RegistryServiceTls =
    | {
          kind: "letsencrypt";
          hostname: pulumi.Input<string>;
          email?: pulumi.Input<string | undefined>;
          /** The address the hostname must resolve to before a certificate is asked for, while it does not. */
          awaitingDnsFor?: pulumi.Input<string | undefined>;
          /** The one ACME directory to ask instead of Let's Encrypt. */
          acmeServer?: pulumi.Input<string | undefined>;
          /** PEM certificates of that directory's CA; shipped in the start command's stdin, never its text. */
          acmeServerCa?: string;
      }
    | {
          kind: "private-ca";
          hostname: pulumi.Input<string>;
          certificate: pulumi.Input<string>;
          privateKey: pulumi.Input<string>;
          caCertificate: pulumi.Input<string>;
      }
    | { kind: "none" };

export interface RegistryServiceArgs {
    /** SSH connection to the Docker host (pinned host key, deploy key). */
    connection: command.types.input.remote.ConnectionArgs;
    /** The droplet's ID: a new droplet behind the same address needs the registry started again. */
    hostId: pulumi.Input<string>;
    /** Full image reference of the pinned registry release. */
    image: pulumi.Input<string>;
    /** Where the bucket is: `spaces` points the S3 driver at the region's Spaces endpoint. Default `s3`. */
    storage?: StorageKind;
    bucketName: pulumi.Input<string>;
    /** The AWS region, or with Spaces the Spaces region (`nyc3`). */
    bucketRegion: pulumi.Input<string>;
    accessKeyId: pulumi.Input<string>;
    secretAccessKey: pulumi.Input<string>;
    /** S3 multipart part size in MiB. */
    chunkSizeMb: pulumi.Input<number>;
    /** Redirect blob pulls to presigned S3 URLs instead of streaming them through the droplet. */
    redirectPullsToS3: pulumi.Input<boolean>;
    /** The logins, each with a generated password; at least one with role `push`. */
    users: RegistryUser[];
    /** Raised by one, the next `pulumi up` generates every password anew. Default `0`. */
    passwordGeneration?: number;
    tls: RegistryServiceTls;
    /** Seconds the start command waits for 401-then-200 before failing the deploy. */
    healthCheckTimeoutSeconds: pulumi.Input<number>;
    /** Upload starts each push user may make within the front's window (uploadStarts.ts). */
    uploadStartsPerUser?: pulumi.Input<number>;
    /** Garbage collection's schedule (systemd calendar time, UTC); undefined: no timer. */
    gcSchedule?: pulumi.Input<string | undefined>;
    /** Tag retention before each collection; no rule set keeps every tag. */
    retention?: pulumi.Input<RetentionRules>;
    /** Behind a load balancer: the network its PROXY headers come from (proxyProtocol.ts). */
    proxyProtocol?: pulumi.Input<ProxyProtocolInput>;
    /** False for replicas sharing a bucket, whose in-memory caches would miss each other's deletions. Default true. */
    blobDescriptorCache?: boolean;
    /** Behind a load balancer: leave it before a restart and rejoin after (DeploymentInput.drain). */
    drain?: { leaveSeconds: number; rejoinSeconds: number };
    /** Which replica of how many (DeploymentInput.replica); absent on one droplet. */
    replica?: { number: number; count: number };
    /**
     * Another replica's secrets, to serve with instead of generating new ones: replicas behind one
     * balancer must accept the same logins and sign uploads with the same `http.secret`, or an
     * upload begun on one fails on the next (distribution `docs/content/about/deploying.md`,
     * "Load balancing considerations").
     */
    shared?: RegistryServiceSecrets;
}

/** The generated values replicas of one registry share; each a secret. */
export interface RegistryServiceSecrets {
    /** Every login with its password and the salt that keeps its hash stable, in the order given. */
    logins: { user: RegistryUser; password: pulumi.Output<string>; salt: pulumi.Output<string> }[];
    /** The registry's `http.secret`, which signs each upload's state. */
    httpSecret: pulumi.Output<string>;
    /** The front's own login to the registry. */
    upstreamLogin: { password: pulumi.Output<string>; salt: pulumi.Output<string> };
}

/**
 * The registry container on the host: generates its login and upload secret, renders its files,
 * ships them over SSH stdin, (re)starts the container, proves it serves, and removes it on
 * destroy.
 */
/** A login as the stack outputs give it out. */
export interface RegistryLogin {
    user: RegistryUser;
    /** A secret. */
    password: pulumi.Output<string>;
}

/**
 * The password's resource names. The first push user keeps the names the one login always had,
 * so an existing stack keeps its password; each other user's carry its name.
 */
export function passwordResourceNames(name: string, user: RegistryUser, primary: boolean): { password: string; salt: string } {
    return primary ? { password: `${name}-password`, salt: `${name}-password-salt` } : { password: `${name}-password-${user.name}`, salt: `${name}-password-salt-${user.name}` };
}

export class RegistryService extends pulumi.ComponentResource {
    /** The first push user's name: the login CI's outputs name. */
    public readonly username: pulumi.Output<string>;
    /** The first push user's password; a secret. */
    public readonly password: pulumi.Output<string>;
    /** Every login, in the order given. */
    public readonly logins: RegistryLogin[];
    /** What another replica of this registry needs to serve alike (RegistryServiceArgs.shared). */
    public readonly secrets: RegistryServiceSecrets;
    public readonly startCommand: command.remote.Command;
    /** Removes the container on destroy; succeeds when the host is already gone. */
    public readonly teardown: command.local.Command;

    constructor(name: string, args: RegistryServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("private-registry:registry:RegistryService", name, {}, opts);

        const primary = args.users.find((u) => u.role === "push");
        if (primary === undefined) {
            throw new pulumi.RunError(`RegistryService "${name}": users must include a push user`);
        }
        this.secrets = args.shared ?? generateSecrets(name, args.users, primary, args.passwordGeneration ?? 0, this);
        const deployed = this.secrets.logins;
        const users: pulumi.Output<DeploymentUser[]> = pulumi.all(
            deployed.map((d) =>
                pulumi.all([d.password, d.salt]).apply(([password, salt]): DeploymentUser => ({
                    name: d.user.name,
                    role: d.user.role,
                    ...(d.user.repositories !== undefined ? { repositories: d.user.repositories } : {}),
                    password,
                    salt,
                })),
            ),
        );

        const tlsInput = args.tls;
        const resolvedTls: pulumi.Output<DeploymentTls> =
            tlsInput.kind === "letsencrypt"
                ? pulumi
                    .all([tlsInput.hostname, tlsInput.email, tlsInput.awaitingDnsFor, tlsInput.acmeServer])
                    .apply(([hostname, email, awaitingDnsFor, acmeServer]): DeploymentTls => ({
                        kind: "letsencrypt",
                        hostname,
                        email,
                        awaitingDnsFor,
                        acmeServer,
                        acmeServerCa: tlsInput.acmeServerCa,
                    }))
                : tlsInput.kind === "private-ca"
                  ? pulumi
                        .all([tlsInput.hostname, tlsInput.certificate, tlsInput.privateKey, tlsInput.caCertificate])
                        .apply(([hostname, certificate, privateKey, caCertificate]): DeploymentTls => ({
                            kind: "private-ca",
                            hostname,
                            certificate,
                            privateKey,
                            caCertificate,
                        }))
                  : pulumi.output<DeploymentTls>({ kind: "none" });

        const deployment = pulumi
            .output({
                image: args.image,
                storage: args.storage ?? "s3",
                bucket: args.bucketName,
                region: args.bucketRegion,
                accessKeyId: args.accessKeyId,
                secretAccessKey: args.secretAccessKey,
                chunkSizeMb: args.chunkSizeMb,
                redirect: args.redirectPullsToS3,
                users,
                httpSecret: this.secrets.httpSecret,
                upstreamLogin: this.secrets.upstreamLogin,
                tls: resolvedTls,
                healthTimeoutSeconds: args.healthCheckTimeoutSeconds,
                uploadStartsPerUser: args.uploadStartsPerUser,
                gcSchedule: args.gcSchedule,
                retention: args.retention,
                proxyProtocol: args.proxyProtocol,
                blobDescriptorCache: args.blobDescriptorCache,
                drain: args.drain,
                replica: args.replica,
            })
            .apply((input): Deployment => renderDeployment(input));

        this.startCommand = new command.remote.Command(
            `${name}-container`,
            {
                connection: args.connection,
                // The script holds no secrets, so a failing command may print it in full.
                create: deployment.apply((d) => d.startScript),
                stdin: pulumi.secret(deployment.apply((d) => d.stdin)),
                triggers: [deployment.apply((d) => d.contentHash), args.hostId],
            },
            // No deleteBeforeReplace: the command has no delete step (removal is the teardown's),
            // so a replacement only runs the start script again, which replaces the container.
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );

        // Removal on destroy runs from the operator's machine, so that a destroy still finishes
        // when the droplet is already gone (a remote command cannot even dial it then).
        this.teardown = new command.local.Command(
            `${name}-teardown`,
            {
                delete: TEARDOWN_COMMAND,
                environment: {
                    REGISTRY_SSH_HOST: args.connection.host,
                    REGISTRY_SSH_PRIVATE_KEY: pulumi.secret(pulumi.output(args.connection.privateKey).apply((k) => k ?? "")),
                    REGISTRY_SSH_HOST_KEY: pulumi.output(args.connection.hostKey).apply((k) => k ?? ""),
                    REGISTRY_STOP_SCRIPT: renderHostStopScript({ behindBalancer: args.drain !== undefined }),
                },
            },
            // Deleted before the start command and the host it runs on.
            { parent: this, dependsOn: [this.startCommand] },
        );

        this.logins = deployed.map((d) => ({ user: d.user, password: pulumi.secret(d.password) }));
        this.username = pulumi.output(primary.name);
        this.password = pulumi.secret(deployed[args.users.indexOf(primary)].password);

        this.registerOutputs({ username: this.username });
    }
}

/**
 * A registry's generated secrets, children of `parent` under the names a single service always
 * gave them, so that an existing stack keeps its passwords.
 */
function generateSecrets(name: string, users: RegistryUser[], primary: RegistryUser, generation: number, parent: pulumi.Resource): RegistryServiceSecrets {
    // Generation 0 has no keepers, so stacks from before rotation keep their passwords.
    const keepers = generation === 0 ? undefined : { credentialRotation: String(generation) };
    const logins = users.map((user) => {
        const names = passwordResourceNames(name, user, user === primary);
        // Alphanumeric only: the login is pasted into shells, YAML and CI secret stores.
        const password = new random.RandomPassword(names.password, { length: 32, special: false, keepers }, { parent });
        // A fixed salt kept in state makes the htpasswd line stable, so `pulumi up` is a no-op
        // when nothing changed instead of restarting the registry each time.
        const salt = new random.RandomString(
            names.salt,
            { length: BCRYPT_SALT_LENGTH, lower: false, upper: false, numeric: false, special: true, overrideSpecial: BCRYPT_SALT_ALPHABET },
            { parent },
        );
        return { user, password: password.result, salt: salt.result };
    });
    const httpSecret = new random.RandomPassword(`${name}-http-secret`, { length: 48, special: false }, { parent });
    // The front's own login to the registry (deployment.ts UPSTREAM_USERNAME). No keepers: it
    // never leaves the droplet, and a rotation of the users' passwords must not restart the
    // registry with a login the running front does not send yet.
    const upstreamPassword = new random.RandomPassword(`${name}-upstream-password`, { length: 32, special: false }, { parent });
    const upstreamSalt = new random.RandomString(
        `${name}-upstream-salt`,
        { length: BCRYPT_SALT_LENGTH, lower: false, upper: false, numeric: false, special: true, overrideSpecial: BCRYPT_SALT_ALPHABET },
        { parent },
    );
    return { logins, httpSecret: httpSecret.result, upstreamLogin: { password: upstreamPassword.result, salt: upstreamSalt.result } };
}
