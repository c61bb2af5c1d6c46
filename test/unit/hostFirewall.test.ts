import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderHostFirewallScript } from "../../components/render/hostFirewall";
import { shellcheck, StubPath } from "../support/shell";

describe("the host firewall script", () => {
    it("passes shellcheck", () => {
        const { status, output } = shellcheck(renderHostFirewallScript([443]));
        assert.equal(status, 0, output);
    });

    it("allows each public port in ufw and says what ufw's status is", () => {
        const stubs = new StubPath({ ufw: `[ "$1" = status ] && echo "Status: active"; exit 0` });
        const result = stubs.run(renderHostFirewallScript([443]));
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(stubs.calls(), ["ufw allow 443/tcp", "ufw status"]);
        assert.match(result.stdout, /host firewall \(ufw, active\) allows 443\/tcp/);
    });

    it("fails the deploy when ufw refuses the rule", () => {
        const stubs = new StubPath({ ufw: `echo "ERROR: Could not update running firewall" >&2; exit 1` });
        const result = stubs.run(renderHostFirewallScript([443]));
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, /Could not update running firewall/);
    });

    it("succeeds without ufw, where the image has no host firewall", () => {
        const stubs = new StubPath({});
        // The stubs' PATH has /usr/bin and /bin, where no ufw is installed (Debian puts it in /usr/sbin).
        const result = stubs.run(renderHostFirewallScript([443]));
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stdout, /ufw is not installed/);
    });

    it("refuses a port outside 1-65535", () => {
        assert.throws(() => renderHostFirewallScript([0]), /a public port must be an integer from 1 to 65535; got 0/);
        assert.throws(() => renderHostFirewallScript([443.5]), /got 443.5/);
    });
});
