import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { unknownKeyWarnings } from "../../components/notices";
import { SettingsError } from "../../components/settings";
import { loadSettings } from "../../components/stackConfig";

/** The problems a user is shown for these values. */
function problemsFor(values: Record<string, string>, region = "us-east-1"): string[] {
    try {
        loadSettings(new Map(Object.entries(values)), new Map([["region", region]]));
    } catch (e) {
        assert.ok(e instanceof SettingsError);
        return e.problems;
    }
    assert.fail(`expected ${JSON.stringify(values)} to be refused`);
}

describe("hints for common slips", () => {
    it("a bare address in a CIDR list: add /32 or /128", () => {
        assert.deepEqual(problemsFor({ sshAllowedCidrs: '["10.0.0.1"]' }), [
            'private-registry:sshAllowedCidrs must contain only IPv4 or IPv6 CIDRs such as 203.0.113.0/24; got "10.0.0.1" (a single address is written 10.0.0.1/32)',
        ]);
        assert.match(problemsFor({ httpsAllowedCidrs: '["2001:db8::1"]' })[0], /\(a single address is written 2001:db8::1\/128\)$/);
    });

    it("an availability zone for a region, yes for true, capitals in a slug", () => {
        assert.match(problemsFor({}, "us-east-1a")[0], /got "us-east-1a" \(that is an availability zone; its region is us-east-1\)$/);
        assert.match(problemsFor({ forceDestroy: "yes" })[0], /got "yes" \(write true or false\)$/);
        assert.match(problemsFor({ dropletRegion: "NYC3" })[0], /got "NYC3" \(slugs and names are lowercase: "nyc3"\)$/);
    });

    it("no hint where none applies", () => {
        assert.match(problemsFor({ sshAllowedCidrs: '["not-a-cidr"]' })[0], /got "not-a-cidr"$/);
    });
});

describe("keys the program does not read", () => {
    it("names the closest known key for a misspelling", () => {
        assert.deepEqual(unknownKeyWarnings(["private-registry:dropletSise", "aws:region"]), [
            "private-registry:dropletSise is not a setting of this program and is ignored; did you mean private-registry:dropletSize? (the settings are listed in Pulumi.yaml)",
        ]);
        assert.match(unknownKeyWarnings(["private-registry:sshallowedcidrs"])[0], /did you mean private-registry:sshAllowedCidrs\?/);
    });

    it("suggests nothing far-fetched, and says nothing of known keys or other namespaces", () => {
        assert.deepEqual(unknownKeyWarnings(["private-registry:colour"]), ["private-registry:colour is not a setting of this program and is ignored (the settings are listed in Pulumi.yaml)"]);
        assert.deepEqual(unknownKeyWarnings(["private-registry:dropletSize", "aws:region", "digitalocean:token", "other:dropletSise"]), []);
    });

    it("in a project renamed by pulumi new, points at settings left in the old namespace", () => {
        assert.deepEqual(unknownKeyWarnings(["private-registry:forceDestroy", "team-registry:dropletSize"], "team-registry"), [
            "private-registry:forceDestroy is ignored: this project is named team-registry, so the setting is team-registry:forceDestroy",
        ]);
    });
});
