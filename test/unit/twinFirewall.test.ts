import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderCloudFirewall } from "../harness/twinNetwork";

describe("the twin's cloud firewall, rendered from the program's inbound rules", () => {
    it("passes replies, admits each rule's port from its IPv4 sources, and drops the rest", () => {
        const rules = renderCloudFirewall([
            { protocol: "tcp", portRange: "22", sourceAddresses: ["10.1.2.3/32", "::/0"] },
            { protocol: "tcp", portRange: "443", sourceAddresses: ["0.0.0.0/0", "::/0"] },
        ]);
        assert.deepEqual(rules, [
            ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-p", "tcp", "-s", "10.1.2.3/32", "--dport", "22", "-j", "ACCEPT"],
            ["-p", "tcp", "--dport", "443", "-j", "ACCEPT"],
            ["-j", "DROP"],
        ]);
    });

    it("renders a port range as iptables writes it, and icmp without ports", () => {
        const rules = renderCloudFirewall([
            { protocol: "udp", portRange: "1000-2000", sourceAddresses: ["192.0.2.0/24"] },
            { protocol: "icmp", sourceAddresses: ["0.0.0.0/0"] },
        ]);
        assert.deepEqual(rules.slice(1, 3), [
            ["-p", "udp", "-s", "192.0.2.0/24", "--dport", "1000:2000", "-j", "ACCEPT"],
            ["-p", "icmp", "-j", "ACCEPT"],
        ]);
    });

    it("admits nothing but replies when no rule names a source", () => {
        assert.deepEqual(renderCloudFirewall([{ protocol: "tcp", portRange: "443", sourceAddresses: [] }]).length, 2);
    });

    it("refuses a protocol DigitalOcean's firewall does not have", () => {
        assert.throws(() => renderCloudFirewall([{ protocol: "sctp", portRange: "1" }]), /protocol must be tcp, udp or icmp; got "sctp"/);
    });
});
