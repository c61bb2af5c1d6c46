import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, ofType, optionsRecorder, RecordedOptions, RecordedResource, settle, single } from "../support/mocks";
import type * as AlertsModule from "../../components/alerts";

// Mocks must be in place before any component module loads (see the dynamic import below).
const recorded: RecordedResource[] = installMocks();
let alerts: typeof AlertsModule;

const MONITOR = "digitalocean:index/monitorAlert:MonitorAlert";
const CHECK = "digitalocean:index/uptimeCheck:UptimeCheck";
const UPTIME_ALERT = "digitalocean:index/uptimeAlert:UptimeAlert";
const EMAILS = ["ops@example.com", "oncall@example.com"];

interface Built {
    component: AlertsModule.RegistryAlerts;
    resources: RecordedResource[];
    options: RecordedOptions[];
}

async function build(name: string, args: Partial<AlertsModule.RegistryAlertsArgs>): Promise<Built> {
    const options: RecordedOptions[] = [];
    const start = recorded.length;
    const component = new alerts.RegistryAlerts(
        name,
        { dropletId: "1000", emails: EMAILS, certificateTrusted: true, ...args },
        { transformations: [optionsRecorder(options)] },
    );
    await settle(recorded);
    return { component, resources: recorded.slice(start), options };
}

function monitor(b: Built, type: string): Record<string, any> {
    const found = ofType(b.resources, MONITOR).filter((r) => r.inputs.type === `v1/insights/droplet/${type}`);
    assert.equal(found.length, 1, `one ${type} alert`);
    return found[0].inputs;
}

before(async () => {
    alerts = await import("../../components/alerts.js");
});

describe("public registry with a Let's Encrypt certificate", () => {
    let b: Built;
    before(async () => {
        b = await build("le", { publicUrl: "https://registry.example.com/v2/" });
    });

    it("alerts on the droplet's CPU, memory and disk, by e-mail", () => {
        assert.equal(ofType(b.resources, MONITOR).length, 3);
        const expected = { cpu: [90, "10m"], memory_utilization_percent: [90, "10m"], disk_utilization_percent: [80, "5m"] };
        for (const [type, [value, window]] of Object.entries(expected)) {
            const alert = monitor(b, type);
            assert.deepEqual([alert.compare, alert.value, alert.window], ["GreaterThan", value, window], type);
            assert.deepEqual(alert.entities, ["1000"]);
            assert.deepEqual(alert.alerts, { emails: EMAILS });
            assert.match(alert.description, /^le: /);
        }
    });

    it("checks the registry's root over HTTPS from two regions, not /v2/ (401 counts as down)", () => {
        const check = single(b.resources, CHECK).inputs;
        assert.deepEqual([check.type, check.target, check.regions, check.enabled], ["https", "https://registry.example.com/", ["us_east", "eu_west"], true]);
    });

    it("e-mails when the registry is down for two minutes, and 14 days before the certificate expires", () => {
        const [down, ssl] = ["le-down", "le-ssl-expiry"].map((n) => b.resources.find((r) => r.type === UPTIME_ALERT && r.name === n)?.inputs);
        assert.deepEqual([down?.checkId, down?.type, down?.period, down?.notifications], ["le-uptime-id", "down", "2m", [{ emails: EMAILS }]]);
        // doctl refuses an uptime alert without a comparison; for "down", less_than 1 as others send it.
        assert.deepEqual([down?.comparison, down?.threshold], ["less_than", 1]);
        assert.deepEqual([ssl?.checkId, ssl?.type, ssl?.threshold, ssl?.comparison], ["le-uptime-id", "ssl_expiry", 14, "less_than"]);
        assert.deepEqual(ssl?.notifications, [{ emails: EMAILS }]);
        assert.equal(ofType(b.resources, UPTIME_ALERT).length, 2);
    });

    it("parents every resource on the component, named after it", () => {
        assert.equal(b.resources[0].type, "private-registry:monitoring:RegistryAlerts");
        for (const o of b.options.filter((x) => x.type.startsWith("digitalocean:"))) {
            assert.equal(o.opts.parent, b.component, o.name);
            assert.match(o.name, /^le-/);
        }
        assert.equal(b.options.filter((x) => x.type.startsWith("digitalocean:")).length, 6);
    });
});

describe("which uptime resources exist", () => {
    it("none in tunnel mode (no public URL): only the droplet alerts", async () => {
        const b = await build("tun", {});
        assert.equal(ofType(b.resources, MONITOR).length, 3);
        assert.equal(ofType(b.resources, CHECK).length, 0);
        assert.equal(ofType(b.resources, UPTIME_ALERT).length, 0);
        assert.equal(b.component.uptimeCheck, undefined);
    });

    it("none with the private CA: no SSL expiry alert, and no check whose verdict is unknown", async () => {
        const b = await build("ca", { publicUrl: "https://203.0.113.10", certificateTrusted: false });
        assert.equal(ofType(b.resources, MONITOR).length, 3);
        assert.equal(ofType(b.resources, UPTIME_ALERT).filter((r) => r.inputs.type === "ssl_expiry").length, 0);
        assert.equal(ofType(b.resources, CHECK).length, 0);
        assert.equal(ofType(b.resources, UPTIME_ALERT).length, 0);
    });

    it("takes the URL from an Output, as the registry gives it", async () => {
        const b = await build("out", { publicUrl: pulumi.output("https://203-0-113-10.sslip.io") });
        assert.equal(single(b.resources, CHECK).inputs.target, "https://203-0-113-10.sslip.io/");
    });

    it("uses thresholds given instead of the defaults", async () => {
        const b = await build("thr", { cpuPercent: 95, memoryPercent: 85, diskPercent: 70 });
        assert.deepEqual(["cpu", "memory_utilization_percent", "disk_utilization_percent"].map((t) => monitor(b, t).value), [95, 85, 70]);
    });
});

describe("arguments are checked before anything is created", () => {
    it("refuses an empty list and a bad address, naming alertEmails, and declares nothing", async () => {
        const start = recorded.length;
        assert.throws(() => new alerts.RegistryAlerts("bad", { dropletId: "1", emails: [], certificateTrusted: true }), /alertEmails must list at least one e-mail address.*got \[\]/);
        assert.throws(
            () => new alerts.RegistryAlerts("bad", { dropletId: "1", emails: ["ops@example"], certificateTrusted: true }),
            (e: Error) => e.message.includes('RegistryAlerts "bad": invalid arguments (nothing was created)') && e.message.includes('alertEmails[0] must be an e-mail address such as ops@example.com; got "ops@example"'),
        );
        // Registration is asynchronous: wait, or a component declared before the throw goes unseen.
        await settle(recorded);
        assert.equal(recorded.length, start);
    });

    it("validateAlertEmails says what is allowed and what was given", () => {
        assert.deepEqual(alerts.validateAlertEmails(EMAILS), []);
        assert.deepEqual(alerts.validateAlertEmails([]), ["alertEmails must list at least one e-mail address of a member of the DigitalOcean team; got []"]);
        assert.deepEqual(alerts.validateAlertEmails(["ops@example.com", "Ops <ops@example.com>", "OPS@example.com"]), [
            'alertEmails[1] must be an e-mail address such as ops@example.com; got "Ops <ops@example.com>"',
            'alertEmails[2] must not repeat alertEmails[0]; got "OPS@example.com"',
        ]);
    });

    it("refuses thresholds outside 1-99 and a public URL that is not https", () => {
        const base = { dropletId: "1", emails: EMAILS, certificateTrusted: true };
        assert.deepEqual(alerts.validateRegistryAlertsArgs({ ...base, diskPercent: 100, cpuPercent: 0, publicUrl: "http://registry.example.com" }), [
            "cpuPercent must be a percent from 1 to 99; got 0",
            "diskPercent must be a percent from 1 to 99; got 100",
            'publicUrl must be an https:// URL such as https://registry.example.com; got "http://registry.example.com"',
        ]);
        assert.equal(alerts.uptimeTarget("https://203.0.113.10:443/v2/"), "https://203.0.113.10/");
    });
});
