import { CONFIG_NAMESPACE, Settings } from "./settings";
import { FAIL2BAN_DEFAULTS, FAILED_LOGIN_IPV6_PREFIX } from "./render/fail2ban";
import { SPACES_AVAILABILITY_URL, spacesEndpoint } from "./render/spaces";
import { loadSettings } from "./stackConfig";

/**
 * What the program tells a user beyond hard errors: settings it does not know (likely misspelt)
 * and what the chosen settings imply. Pure.
 */

/** Every key the program reads from its namespace, found by loading through a recording source. */
export function configKeys(): string[] {
    const read = new Set<string>();
    loadSettings({ get: (k) => (read.add(k), undefined) }, new Map([["region", "us-east-1"]]));
    return [...read].sort();
}

/** Edit distance, for "did you mean" on a misspelt key. */
function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}

/**
 * Warnings for keys in the project's namespace that the program does not read: the CLI lets them
 * through, and a misspelt `dropletSise` would otherwise be ignored without a word.
 *
 * @param presentKeys every config key of the stack, namespaced (`pulumi.runtime.allConfig()`)
 */
export function unknownKeyWarnings(presentKeys: readonly string[], namespace: string = CONFIG_NAMESPACE): string[] {
    const known = configKeys();
    const prefix = `${namespace}:`;
    // A project made from this one under another name still has stack files in the old namespace.
    const renamed =
        namespace === CONFIG_NAMESPACE
            ? []
            : presentKeys
                  .filter((k) => k.startsWith(`${CONFIG_NAMESPACE}:`) && known.includes(k.slice(CONFIG_NAMESPACE.length + 1)))
                  .map((k) => `${k} is ignored: this project is named ${namespace}, so the setting is ${prefix}${k.slice(CONFIG_NAMESPACE.length + 1)}`);
    return renamed.concat(presentKeys
        .filter((k) => k.startsWith(prefix) && !known.includes(k.slice(prefix.length)))
        .map((k) => {
            const name = k.slice(prefix.length);
            const [closest] = [...known].sort((a, b) => editDistance(name.toLowerCase(), a.toLowerCase()) - editDistance(name.toLowerCase(), b.toLowerCase()));
            const near = editDistance(name.toLowerCase(), closest.toLowerCase()) <= Math.max(2, Math.floor(closest.length / 4));
            return `${k} is not a setting of this program and is ignored${near ? `; did you mean ${prefix}${closest}?` : ""} (the settings are listed in Pulumi.yaml)`;
        }));
}

/** What a user should hear before the deploy starts: how the registry is served, and the risks. */
export function deploymentNotices(settings: Settings): { level: "info" | "warn"; text: string }[] {
    const notices: { level: "info" | "warn"; text: string }[] = [];
    if (settings.tls === "letsencrypt" && settings.domain === undefined) {
        notices.push({
            level: "warn",
            text: "tls=letsencrypt without a domain uses <ip>.sslip.io, whose Let's Encrypt rate limit is shared by every sslip.io user; if issuance fails the deploy fails. Set a domain, or use tls=private-ca.",
        });
    }
    if (settings.tls === "letsencrypt" && settings.domain !== undefined && settings.dnsZone === undefined) {
        notices.push({
            level: "info",
            text: `${settings.domain} must resolve to the droplet's reserved IP before Let's Encrypt is asked. Until it does, pulumi up starts the registry without a certificate and names the A record to create; run pulumi up again once it resolves.`,
        });
    }
    // Caddy v2.11.9 caddytls.DefaultIssuers: ZeroSSL joins Let's Encrypt as a second ACME issuer
    // only with an account e-mail, which it needs to obtain ZeroSSL's EAB credentials.
    if (settings.tls === "letsencrypt" && settings.letsencryptEmail === undefined && settings.acmeServer === undefined) {
        notices.push({
            level: "info",
            text: "letsencryptEmail is not set, so the front asks Let's Encrypt only. With an e-mail it falls back to ZeroSSL when Let's Encrypt refuses (rate limits, an outage).",
        });
    }
    if (settings.tls === "letsencrypt" && settings.acmeServer !== undefined) {
        notices.push({
            level: "info",
            text: `The front asks ${settings.acmeServer} alone for its certificate: no fallback to Let's Encrypt or ZeroSSL when it refuses.${settings.acmeServerCa === undefined ? "" : " Clients must trust the CA in acmeServerCa, as the deploy's own checks do."}`,
        });
    }
    const how = { letsencrypt: settings.acmeServer === undefined ? "HTTPS with a Let's Encrypt certificate" : `HTTPS with a certificate from the ACME server ${settings.acmeServer}`, "private-ca": "HTTPS with a certificate from this stack's private CA (clients need the caCertificate output)", none: "loopback only, through an SSH tunnel (sshTunnelCommand output)" }[settings.tls];
    notices.push({ level: "info", text: `The registry is served ${settings.exposure === "public" ? "publicly" : "privately"}: ${how}.` });
    const ipv6 = settings.exposure === "public" ? settings.httpsAllowedCidrs.filter((cidr) => cidr.includes(":")) : [];
    if (ipv6.length > 0) {
        // The failed-login guard counts and bans an IPv6 client by its /64 (render/fail2ban.ts
        // FAILED_LOGIN_IPV6_PREFIX), so its neighbours there share its ban.
        notices.push({
            level: "info",
            text: `httpsAllowedCidrs admits IPv6 (${ipv6.join(", ")}): failed logins from IPv6 are counted and banned per /${FAILED_LOGIN_IPV6_PREFIX}, so every client in a guesser's /${FAILED_LOGIN_IPV6_PREFIX} is refused with it for ${FAIL2BAN_DEFAULTS.banTimeSeconds / 60} minutes.`,
        });
    }
    if (settings.storage === "spaces" && settings.spacesRegion !== undefined) {
        notices.push(
            settings.spacesRegion === settings.dropletRegion
                ? { level: "info", text: `The layers are stored in DigitalOcean Spaces, in ${settings.spacesRegion} beside the droplet (${spacesEndpoint(settings.spacesRegion)}); nothing is made in AWS.` }
                : {
                      level: "warn",
                      text: `The droplet's region ${settings.dropletRegion} has no Spaces, so the bucket is made in ${settings.spacesRegion}, the nearest region that has them (${SPACES_AVAILABILITY_URL}). Pushes and streamed pulls cross between the two regions.`,
                  },
        );
    }
    if (!settings.forceDestroy) {
        notices.push({ level: "info", text: "forceDestroy is off: `pulumi destroy` keeps going until the bucket, and stops there while it holds images. Empty it first, or set forceDestroy=true to delete the images too." });
    }
    return notices;
}
