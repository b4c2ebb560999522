// A container's network counters as `docker stats` shows them: the kernel's per-interface counters, read from
// /proc/<pid>/net/dev of a process in the container's network namespace, for the interfaces of its endpoints (dockerd
// counts those only, not lo), in the shape of the Engine API's stats `networks` field.

/** One interface's counters, named as the Engine API's stats JSON names them. */
export interface InterfaceCounters {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/**
 * Parses /proc/net/dev: two header lines, then `name: ` and sixteen counters per interface (receive: bytes packets
 * errs drop fifo frame compressed multicast; transmit: bytes packets errs drop fifo colls carrier compressed).
 * Lines that are not an interface's are skipped.
 * @example
 * parseNetDev("  eth0: 1296 16 0 0 0 0 0 0 656 8 0 0 0 0 0 0\n").eth0.rx_bytes; // 1296
 */
export function parseNetDev(text: string): Record<string, InterfaceCounters> {
  const interfaces: Record<string, InterfaceCounters> = {};
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (!name || name.includes("|") || fields.length < 16 || !fields.every((f) => /^\d+$/.test(f))) continue;
    const n = fields.map(Number);
    interfaces[name] = {
      rx_bytes: n[0]!,
      rx_packets: n[1]!,
      rx_errors: n[2]!,
      rx_dropped: n[3]!,
      tx_bytes: n[8]!,
      tx_packets: n[9]!,
      tx_errors: n[10]!,
      tx_dropped: n[11]!,
    };
  }
  return interfaces;
}

/**
 * The counters of the named interfaces only (a container's endpoints: `eth0`, `eth1`…), as dockerd reports them.
 * @example
 * endpointCounters(parseNetDev(text), ["eth0"]); // { eth0: {…} }, without lo
 */
export function endpointCounters(
  all: Record<string, InterfaceCounters>,
  ifnames: readonly string[],
): Record<string, InterfaceCounters> {
  const picked: Record<string, InterfaceCounters> = {};
  for (const name of ifnames) {
    const counters = all[name];
    if (counters) picked[name] = counters;
  }
  return picked;
}
