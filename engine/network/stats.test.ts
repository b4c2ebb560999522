import { describe, expect, it } from "vitest";
import { endpointCounters, parseNetDev } from "./stats.ts";

// /proc/net/dev as Linux 6.1 writes it, in a container with two endpoints.
const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     336       4    0    0    0     0          0         0      336       4    0    0    0     0       0          0
  eth0: 4294967311   10234    2    5    0     0          0         0    65536     812    1    3    0     0       0          0
  eth1:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
`;

describe("a container's network counters", () => {
  it("reads each interface's receive and transmit bytes, packets, errors and drops from /proc/net/dev", () => {
    const all = parseNetDev(NET_DEV);
    expect(Object.keys(all)).toEqual(["lo", "eth0", "eth1"]);
    expect(all.eth0).toEqual({
      rx_bytes: 4294967311,
      rx_packets: 10234,
      rx_errors: 2,
      rx_dropped: 5,
      tx_bytes: 65536,
      tx_packets: 812,
      tx_errors: 1,
      tx_dropped: 3,
    });
  });

  it("skips the header and lines that are not an interface's counters", () => {
    expect(parseNetDev("Inter-|   Receive\n face |bytes\n")).toEqual({});
    expect(parseNetDev("eth0: 1 2 3\n")).toEqual({});
    expect(parseNetDev("")).toEqual({});
  });

  it("keeps the endpoints' interfaces only, as dockerd: no lo, none that is gone", () => {
    const picked = endpointCounters(parseNetDev(NET_DEV), ["eth0", "eth2"]);
    expect(Object.keys(picked)).toEqual(["eth0"]);
    expect(picked.eth0?.tx_bytes).toBe(65536);
  });
});
