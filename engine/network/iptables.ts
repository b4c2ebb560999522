// The iptables rules dockerd writes for bridge networks and published ports, with its userland proxy on (Docker's
// default), as argument lists for the guest's `iptables` (legacy x_tables). Pure functions: guest.ts runs them.
//
// nat:    PREROUTING and OUTPUT (the guest's own traffic to its addresses, 127.0.0.0/8 left to the proxy) jump to
//         DOCKER for local destinations; DOCKER has a DNAT rule per published port, after one RETURN per bridge, so
//         containers reach published ports through the proxy as under Docker; POSTROUTING masquerades what a bridge's
//         subnet sends out of any other interface.
// filter: FORWARD jumps to DOCKER-USER and DOCKER-ISOLATION-STAGE-1, then per bridge: replies back in, DOCKER (an
//         ACCEPT per published port), and out; the two isolation stages drop traffic from one bridge to another.

/** A rule as the arguments after `iptables` (`-t nat -A DOCKER …`). */
export type Rule = string[];

export const NAT_CHAINS = ["DOCKER"] as const;
export const FILTER_CHAINS = ["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"] as const;

/**
 * The chains and the jumps into them, made once per guest (before any bridge's rules).
 * @example
 * baseRules()[0]; // ["-t", "nat", "-N", "DOCKER"]
 */
export function baseRules(): Rule[] {
  return [
    ...NAT_CHAINS.map((chain) => ["-t", "nat", "-N", chain]),
    ...FILTER_CHAINS.map((chain) => ["-t", "filter", "-N", chain]),
    ["-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
    ["-t", "nat", "-A", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER"],
    ["-t", "filter", "-A", "FORWARD", "-j", "DOCKER-USER"],
    ["-t", "filter", "-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1"],
    ["-t", "filter", "-A", "DOCKER-ISOLATION-STAGE-1", "-j", "RETURN"],
    ["-t", "filter", "-A", "DOCKER-ISOLATION-STAGE-2", "-j", "RETURN"],
    ["-t", "filter", "-A", "DOCKER-USER", "-j", "RETURN"],
  ];
}

/** What a bridge network's rules need to know. */
export interface BridgeRuleOptions {
  bridge: string;
  subnet: string;
  /** Destinations its containers reach by their own addresses (a cluster's container blocks): not masqueraded. */
  routed?: string;
}

/**
 * A bridge network's rules, in the order they are added (`-A`/`-I`); `deleting` turns them into `-D` rules.
 * @example
 * bridgeRules({ bridge: "docker0", subnet: "172.17.0.0/16" })[0];
 * // ["-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"]
 */
export function bridgeRules(o: BridgeRuleOptions): Rule[] {
  const b = o.bridge;
  return [
    ...(o.routed ? [["-t", "nat", "-I", "POSTROUTING", "-s", o.subnet, "-d", o.routed, "-j", "RETURN"]] : []),
    ["-t", "nat", "-A", "POSTROUTING", "-s", o.subnet, "!", "-o", b, "-j", "MASQUERADE"],
    // Containers on a bridge reach published ports through the proxy (Docker's "skip DNAT" with the proxy on).
    ["-t", "nat", "-I", "DOCKER", "-i", b, "-j", "RETURN"],
    ["-t", "filter", "-A", "FORWARD", "-o", b, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ["-t", "filter", "-A", "FORWARD", "-o", b, "-j", "DOCKER"],
    ["-t", "filter", "-A", "FORWARD", "-i", b, "!", "-o", b, "-j", "ACCEPT"],
    ["-t", "filter", "-A", "FORWARD", "-i", b, "-o", b, "-j", "ACCEPT"],
    ["-t", "filter", "-I", "DOCKER-ISOLATION-STAGE-1", "-i", b, "!", "-o", b, "-j", "DOCKER-ISOLATION-STAGE-2"],
    ["-t", "filter", "-I", "DOCKER-ISOLATION-STAGE-2", "-o", b, "-j", "DROP"],
  ];
}

/** A published port as its rules need it. */
export interface PortRuleOptions {
  proto: "tcp" | "udp";
  /** "0.0.0.0" (or "") for every address of the guest. */
  hostIp: string;
  hostPort: number;
  bridge: string;
  targetIp: string;
  targetPort: number;
}

/**
 * A published port's rules: the DNAT in nat's DOCKER chain, the masquerade of a container reaching itself, and the
 * ACCEPT in filter's DOCKER chain.
 * @example
 * portRules({ proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, bridge: "docker0", targetIp: "172.17.0.2", targetPort: 80 })[0];
 * // ["-t", "nat", "-A", "DOCKER", "!", "-i", "docker0", "-p", "tcp", "-m", "tcp", "--dport", "8080",
 * //  "-j", "DNAT", "--to-destination", "172.17.0.2:80"]
 */
export function portRules(p: PortRuleOptions): Rule[] {
  // Every value here is one word (checked addresses, ports and interface names), so a rule splits on spaces.
  const words = (text: string): Rule => text.split(" ");
  const match = `-p ${p.proto} -m ${p.proto}`;
  const hostIp = p.hostIp && p.hostIp !== "0.0.0.0" ? `-d ${p.hostIp}/32 ` : "";
  const target = `${p.targetIp}/32`;
  return [
    words(
      `-t nat -A DOCKER ${hostIp}! -i ${p.bridge} ${match} --dport ${p.hostPort} -j DNAT --to-destination ${p.targetIp}:${p.targetPort}`,
    ),
    words(`-t nat -A POSTROUTING -s ${target} -d ${target} ${match} --dport ${p.targetPort} -j MASQUERADE`),
    words(
      `-t filter -A DOCKER -d ${target} ! -i ${p.bridge} -o ${p.bridge} ${match} --dport ${p.targetPort} -j ACCEPT`,
    ),
  ];
}

/** The same rules as deletions (`-A`/`-I` → `-D`), last added first. */
export function deleting(rules: Rule[]): Rule[] {
  return rules.map((rule) => rule.map((arg) => (arg === "-A" || arg === "-I" ? "-D" : arg))).reverse();
}

/**
 * Rules as `iptables-restore --noflush` input: one block per table, new chains (`-N`) declared first, the rules in
 * the order given (every argument here is a plain word: names, addresses, numbers).
 * @example
 * restoreInput([["-t", "nat", "-A", "DOCKER", "-i", "docker0", "-j", "RETURN"]]);
 * // "*nat\n-A DOCKER -i docker0 -j RETURN\nCOMMIT\n"
 */
export function restoreInput(rules: Rule[]): string {
  const tables = new Map<string, { chains: string[]; lines: string[] }>();
  for (const rule of rules) {
    const table = rule[0] === "-t" ? rule[1]! : "filter";
    const rest = rule[0] === "-t" ? rule.slice(2) : rule;
    const block = tables.get(table) ?? { chains: [], lines: [] };
    tables.set(table, block);
    if (rest[0] === "-N") block.chains.push(`:${rest[1]} - [0:0]`);
    else block.lines.push(rest.join(" "));
  }
  return [...tables]
    .map(([table, { chains, lines }]) => `*${table}\n${[...chains, ...lines].join("\n")}\nCOMMIT\n`)
    .join("");
}
