import { describe, expect, it } from "vitest";
import { baseRules, bridgeRules, deleting, portRules, restoreInput } from "./iptables.ts";

describe("dockerd's iptables rules", () => {
  it("makes Docker's chains and jumps, once, as iptables-restore input", () => {
    const input = restoreInput(baseRules());
    expect(input).toBe(
      [
        "*nat",
        ":DOCKER - [0:0]",
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        "COMMIT",
        "*filter",
        ":DOCKER - [0:0]",
        ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
        ":DOCKER-ISOLATION-STAGE-2 - [0:0]",
        ":DOCKER-USER - [0:0]",
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
        "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
        "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
        "-A DOCKER-USER -j RETURN",
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  it("masquerades a bridge's subnet, lets its containers use the proxy, isolates it; a cluster's blocks stay routed", () => {
    const rules = bridgeRules({ bridge: "br-1a2b3c4d5e6f", subnet: "172.18.0.0/16" }).map((r) => r.join(" "));
    expect(rules).toContain("-t nat -A POSTROUTING -s 172.18.0.0/16 ! -o br-1a2b3c4d5e6f -j MASQUERADE");
    expect(rules).toContain("-t nat -I DOCKER -i br-1a2b3c4d5e6f -j RETURN");
    expect(rules).toContain("-t filter -I DOCKER-ISOLATION-STAGE-2 -o br-1a2b3c4d5e6f -j DROP");
    const routed = bridgeRules({ bridge: "docker0", subnet: "10.2.0.0/24", routed: "10.0.0.0/8" });
    expect(routed[0]!.join(" ")).toBe("-t nat -I POSTROUTING -s 10.2.0.0/24 -d 10.0.0.0/8 -j RETURN");
  });

  it("publishes a port with a DNAT rule, and deletes the same rules in reverse", () => {
    const rules = portRules({
      proto: "tcp",
      hostIp: "0.0.0.0",
      hostPort: 8080,
      bridge: "docker0",
      targetIp: "172.17.0.2",
      targetPort: 80,
    });
    expect(rules.map((r) => r.join(" "))).toEqual([
      "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
      "-t nat -A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
      "-t filter -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
    ]);
    const local = portRules({
      proto: "udp",
      hostIp: "127.0.0.1",
      hostPort: 53,
      bridge: "docker0",
      targetIp: "172.17.0.3",
      targetPort: 53,
    });
    expect(local[0]!.join(" ")).toBe(
      "-t nat -A DOCKER -d 127.0.0.1/32 ! -i docker0 -p udp -m udp --dport 53 -j DNAT --to-destination 172.17.0.3:53",
    );
    expect(restoreInput(deleting(rules))).toBe(
      [
        "*filter",
        "-D DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
        "COMMIT",
        "*nat",
        "-D POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "-D DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        "COMMIT",
        "",
      ].join("\n"),
    );
  });
});
