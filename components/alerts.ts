import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { SettingsError } from "./settings";
import { isEmail, shown } from "./settingsRules";

/**
 * E-mail alerts for the registry's droplet (DigitalOcean Monitoring) and, where it can be judged
 * from outside, for its HTTPS endpoint (DigitalOcean Uptime). docs/ALERTS-NOTES.md has the
 * sources for every value below.
 */

export interface RegistryAlertsArgs {
    /** The droplet's ID: alert policies name droplets by ID, as strings. */
    dropletId: pulumi.Input<string>;
    /** More droplets serving the same registry (replicas), watched by the same policies. */
    moreDropletIds?: pulumi.Input<string>[];
    /**
     * Who is e-mailed. Plain, because it is checked before anything is created. DigitalOcean
     * accepts only addresses of members of the team that owns the token.
     */
    emails: string[];
    /**
     * The registry's public URL (`https://host` or `https://host/v2/`; only the origin is used).
     * Omit in tunnel mode: nothing outside can reach the registry then.
     */
    publicUrl?: pulumi.Input<string>;
    /** True for a publicly trusted certificate (Let's Encrypt); false for the stack's private CA. */
    certificateTrusted: boolean;
    /** Alert when CPU use stays above this percent for {@link WINDOWS}.cpu. Default 90. */
    cpuPercent?: number;
    /** Alert when memory use stays above this percent for {@link WINDOWS}.memory. Default 90. */
    memoryPercent?: number;
    /** Alert when root-disk use stays above this percent for {@link WINDOWS}.disk. Default 80. */
    diskPercent?: number;
}

export const DEFAULT_THRESHOLDS = { cpuPercent: 90, memoryPercent: 90, diskPercent: 80 } as const;

/**
 * How long a threshold must be exceeded. DigitalOcean allows 5m, 10m, 30m or 1h. Disk fills
 * steadily (layers live in S3; what grows here is logs, images, the OS), so the shortest window
 * only filters one odd sample. A push buffers one S3 part per upload and hashes layers: bursts
 * that end within minutes, so memory and CPU must stay high for 10 minutes before anyone is woken.
 */
export const WINDOWS = { cpu: "10m", memory: "10m", disk: "5m" } as const;

/**
 * Two probe regions on two continents: a failure seen from one is a network path, from both an
 * outage. More regions would only add one-region false alarms (a `down` alert fires on any one).
 */
export const UPTIME_REGIONS = ["us_east", "eu_west"];
/** Down for two minutes: long enough to ride out a container restart, short enough for CI. */
export const DOWN_PERIOD = "2m";
/**
 * The "down" alert's comparison and threshold. The API calls the threshold "N/A (Not required)"
 * for `down` (digitalocean/openapi specification/resources/uptime/create_alert.yml), but doctl
 * refuses an alert whose comparison is not `greater_than` or `less_than`
 * (digitalocean/doctl commands/uptime_alerts.go, `getUptimeAlertComparator`), and the Terraform
 * provider under @pulumi/digitalocean 4.80.1 sends its empty default otherwise
 * (digitalocean/terraform-provider-digitalocean digitalocean/uptime/resource_uptime_alert.go).
 * Public configurations send `less_than` with threshold 1 (terraform-do-modules/
 * terraform-digitalocean-monitoring variables.tf: `comparison` "less_than", `threshold` 1).
 * The values are the API's snake case, as for ssl_expiry below; the "lessThan" in the
 * provider's generated docs is only its camel-casing of the doc text.
 */
export const DOWN_COMPARISON = { comparison: "less_than", threshold: 1 } as const;
/** autocert renews 30 days (at most a third of the lifetime) before expiry; 14 left means renewal has been failing. */
export const SSL_EXPIRY_DAYS = 14;


/** Problems with the `alertEmails` setting, one line each; empty when it is fine. */
export function validateAlertEmails(list: readonly string[]): string[] {
    if (list.length === 0) {
        return ["alertEmails must list at least one e-mail address of a member of the DigitalOcean team; got []"];
    }
    const problems: string[] = [];
    const seen = new Map<string, number>();
    list.forEach((email, i) => {
        if (!isEmail(email)) {
            problems.push(`alertEmails[${i}] must be an e-mail address such as ops@example.com; got ${shown(email)}`);
        } else if (seen.has(email.toLowerCase())) {
            problems.push(`alertEmails[${i}] must not repeat alertEmails[${seen.get(email.toLowerCase())}]; got ${shown(email)}`);
        } else {
            seen.set(email.toLowerCase(), i);
        }
    });
    return problems;
}

/**
 * The uptime check's target: the registry's root, which answers 200 without credentials while
 * the registry and its storage are healthy and 503 when storage fails. `/v2/` answers 401 without
 * credentials, and DigitalOcean counts anything outside 200-299 as down.
 */
export function uptimeTarget(publicUrl: string): string {
    const url = URL.canParse(publicUrl) ? new URL(publicUrl) : undefined;
    if (url?.protocol !== "https:") {
        throw new Error(`publicUrl must be an https:// URL such as https://registry.example.com; got ${shown(publicUrl)}`);
    }
    return `${url.origin}/`;
}

/**
 * The URL an uptime check watches, or undefined for none (one check, billed, per registry). None
 * for the private CA: DigitalOcean does not document whether its probe verifies the chain, so the
 * check would read either "down" for ever or nothing about TLS; and it is the only mode that may
 * narrow httpsAllowedCidrs, which would shut the probes out.
 */
export function uptimeUrl(args: Pick<RegistryAlertsArgs, "publicUrl" | "certificateTrusted">): pulumi.Input<string> | undefined {
    return args.certificateTrusted ? args.publicUrl : undefined;
}

/** Every problem with the arguments known now; empty when they are fine. */
export function validateRegistryAlertsArgs(args: RegistryAlertsArgs): string[] {
    const problems = validateAlertEmails(args.emails);
    for (const key of ["cpuPercent", "memoryPercent", "diskPercent"] as const) {
        const value = args[key];
        if (value !== undefined && !(Number.isFinite(value) && value >= 1 && value <= 99)) {
            problems.push(`${key} must be a percent from 1 to 99; got ${value}`);
        }
    }
    if (typeof args.publicUrl === "string") {
        try {
            uptimeTarget(args.publicUrl);
        } catch (e) {
            problems.push((e as Error).message);
        }
    }
    return problems;
}

/** Monitoring alerts on the droplet, and an uptime check with its alerts on the public endpoint. */
export class RegistryAlerts extends pulumi.ComponentResource {
    public readonly cpuAlert: digitalocean.MonitorAlert;
    public readonly memoryAlert: digitalocean.MonitorAlert;
    public readonly diskAlert: digitalocean.MonitorAlert;
    public readonly uptimeCheck?: digitalocean.UptimeCheck;
    public readonly downAlert?: digitalocean.UptimeAlert;
    public readonly sslExpiryAlert?: digitalocean.UptimeAlert;

    constructor(name: string, args: RegistryAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
        // Checked before anything, the component included, is registered.
        const problems = validateRegistryAlertsArgs(args);
        if (problems.length > 0) {
            throw new pulumi.RunError(new SettingsError(problems, `RegistryAlerts "${name}": invalid arguments (nothing was created):`).message);
        }
        super("private-registry:monitoring:RegistryAlerts", name, {}, opts);

        const emails = [...args.emails];
        const droplet = (suffix: string, type: string, value: number, window: string, what: string) =>
            new digitalocean.MonitorAlert(
                `${name}-${suffix}`,
                {
                    type: `v1/insights/droplet/${type}`,
                    compare: "GreaterThan",
                    value,
                    window,
                    entities: [args.dropletId, ...(args.moreDropletIds ?? [])],
                    alerts: { emails },
                    description: `${name}: ${what} above ${value}% for ${window}`,
                },
                { parent: this },
            );
        const d = DEFAULT_THRESHOLDS;
        this.cpuAlert = droplet("cpu", "cpu", args.cpuPercent ?? d.cpuPercent, WINDOWS.cpu, "CPU use");
        this.memoryAlert = droplet("memory", "memory_utilization_percent", args.memoryPercent ?? d.memoryPercent, WINDOWS.memory, "memory use");
        this.diskAlert = droplet("disk", "disk_utilization_percent", args.diskPercent ?? d.diskPercent, WINDOWS.disk, "disk use");

        const url = uptimeUrl(args);
        if (url !== undefined) {
            const notifications = [{ emails }];
            this.uptimeCheck = new digitalocean.UptimeCheck(
                `${name}-uptime`,
                { name: `${name} registry`, type: "https", target: pulumi.output(url).apply(uptimeTarget), regions: UPTIME_REGIONS, enabled: true },
                { parent: this },
            );
            this.downAlert = new digitalocean.UptimeAlert(
                `${name}-down`,
                { name: `${name}: registry unreachable`, checkId: this.uptimeCheck.id, type: "down", ...DOWN_COMPARISON, period: DOWN_PERIOD, notifications },
                { parent: this },
            );
            this.sslExpiryAlert = new digitalocean.UptimeAlert(
                `${name}-ssl-expiry`,
                {
                    name: `${name}: certificate expires within ${SSL_EXPIRY_DAYS} days`,
                    checkId: this.uptimeCheck.id,
                    type: "ssl_expiry",
                    threshold: SSL_EXPIRY_DAYS,
                    comparison: "less_than",
                    // Expiry moves by the day: a longer period only filters a failed probe.
                    period: "1h",
                    notifications,
                },
                { parent: this },
            );
        }

        this.registerOutputs({ uptimeCheckId: this.uptimeCheck?.id });
    }
}
