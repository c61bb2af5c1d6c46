import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface RegistryCertificateArgs {
    /** IP addresses the server certificate is valid for (the reserved IP). */
    ipAddresses: pulumi.Input<pulumi.Input<string>[]>;
    /** DNS names the server certificate is valid for. */
    dnsNames?: pulumi.Input<pulumi.Input<string>[]>;
}

/** The server certificate is re-issued on the first `pulumi up` within this window of expiry. */
const SERVER_VALIDITY_HOURS = 2 * 365 * 24;
const SERVER_EARLY_RENEWAL_HOURS = 30 * 24;
const CA_VALIDITY_HOURS = 10 * 365 * 24;

/**
 * A private CA and a server certificate signed by it: the TLS that always works, with no domain
 * and no Let's Encrypt budget to share. Clients trust the CA by dropping {@link caCertificate}
 * into `/etc/docker/certs.d/HOST/ca.crt`.
 */
export class RegistryCertificate extends pulumi.ComponentResource {
    /** PEM of the CA that signs the registry's certificate; public. */
    public readonly caCertificate: pulumi.Output<string>;
    public readonly certificate: pulumi.Output<string>;
    /** PEM of the server's private key; a secret. */
    public readonly privateKey: pulumi.Output<string>;

    constructor(name: string, args: RegistryCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("private-registry:tls:RegistryCertificate", name, {}, opts);

        const caKey = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const ca = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: caKey.privateKeyPem,
                isCaCertificate: true,
                subject: { commonName: "private-registry CA", organization: "private-registry" },
                validityPeriodHours: CA_VALIDITY_HOURS,
                allowedUses: ["cert_signing", "crl_signing"],
            },
            { parent: this },
        );

        const serverKey = new tls.PrivateKey(`${name}-server-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const request = new tls.CertRequest(
            `${name}-server-csr`,
            {
                privateKeyPem: serverKey.privateKeyPem,
                subject: { commonName: "private-registry", organization: "private-registry" },
                ipAddresses: args.ipAddresses,
                dnsNames: args.dnsNames,
            },
            { parent: this },
        );
        const server = new tls.LocallySignedCert(
            `${name}-server-cert`,
            {
                certRequestPem: request.certRequestPem,
                caPrivateKeyPem: caKey.privateKeyPem,
                caCertPem: ca.certPem,
                validityPeriodHours: SERVER_VALIDITY_HOURS,
                earlyRenewalHours: SERVER_EARLY_RENEWAL_HOURS,
                allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
            },
            { parent: this },
        );

        this.caCertificate = ca.certPem;
        this.certificate = server.certPem;
        this.privateKey = pulumi.secret(serverKey.privateKeyPem);

        this.registerOutputs({ caCertificate: this.caCertificate });
    }
}
