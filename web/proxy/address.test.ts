import { describe, expect, it } from "vitest";
import { classifyAddress, isLocalName } from "./address.ts";

describe("classifyAddress", () => {
  it.each([
    ["8.8.8.8", "public"],
    ["104.16.0.1", "public"],
    ["127.0.0.1", "loopback"],
    ["127.255.1.2", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "sharedNat"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["198.18.0.1", "reserved"],
    ["192.0.2.1", "documentation"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["::", "unspecified"],
    ["2606:4700::1", "public"],
    ["2a00:1450:4001:82a::200e", "public"],
    ["fd00::1", "private"],
    ["fc12:3456::1", "private"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "documentation"],
    // IPv6 forms that reach an IPv4 address classify as that address.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:8.8.8.8", "public"],
    ["64:ff9b::a9fe:a9fe", "linkLocal"],
    ["2002:c0a8:0101::1", "private"],
    ["not-an-ip", "invalid"],
    ["1.2.3", "invalid"],
    ["01.2.3.4", "invalid"],
    ["1:2:3:4:5:6:7:8:9", "invalid"],
    ["1::2::3", "invalid"],
  ])("%s is %s", (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe("isLocalName", () => {
  it("knows names that never leave the machine or the LAN", () => {
    expect(isLocalName("localhost")).toBe(true);
    expect(isLocalName("registry.localhost.")).toBe(true);
    expect(isLocalName("printer.local")).toBe(true);
    expect(isLocalName("metadata.google.internal")).toBe(true);
    expect(isLocalName("ghcr.io")).toBe(false);
  });
});
