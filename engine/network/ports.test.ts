import { describe, expect, it } from "vitest";
import { PortAllocator, parseHostPort, parsePortKey, readPortBindings } from "./ports.ts";

describe("published ports", () => {
  it("reads PortBindings as the docker CLI sends them", () => {
    expect(
      readPortBindings({
        "80/tcp": [{ HostIp: "", HostPort: "8080" }],
        "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }],
        "443": null,
      }),
    ).toEqual({
      "80/tcp": [{ hostIp: "", hostPort: "8080" }],
      "53/udp": [{ hostIp: "127.0.0.1", hostPort: "" }],
      "443/tcp": [{ hostIp: "", hostPort: "" }],
    });
    expect(() => readPortBindings({ "80/tcp": [{ HostIp: "localhost", HostPort: "1" }] })).toThrow(
      "invalid IP address: localhost",
    );
    expect(() => readPortBindings({ "80/tcp": [{ HostPort: "70000" }] })).toThrow("invalid hostPort: 70000");
    expect(parsePortKey("53/UDP")).toEqual({ port: 53, proto: "udp" });
    expect(parseHostPort("8000-8002")).toEqual({ low: 8000, high: 8002 });
  });

  it("gives ephemeral ports from 32768 on, following the last, as dockerd's allocator does", () => {
    const ports = new PortAllocator();
    expect(ports.allocate("tcp", "0.0.0.0")).toBe(32768);
    expect(ports.allocate("tcp", "0.0.0.0")).toBe(32769);
    expect(ports.allocate("udp", "0.0.0.0")).toBe(32768);
    ports.release("tcp", "0.0.0.0", 32768);
    expect(ports.allocate("tcp", "0.0.0.0")).toBe(32770);
  });

  it("refuses a port taken on the same address or on 0.0.0.0, with Docker's words", () => {
    const ports = new PortAllocator();
    expect(ports.allocate("tcp", "0.0.0.0", { low: 8080, high: 8080 })).toBe(8080);
    expect(() => ports.allocate("tcp", "0.0.0.0", { low: 8080, high: 8080 })).toThrow(
      "Bind for 0.0.0.0:8080 failed: port is already allocated",
    );
    expect(() => ports.allocate("tcp", "127.0.0.1", { low: 8080, high: 8080 })).toThrow(/already allocated/);
    // Another protocol, or the next port of a range, is free.
    expect(ports.allocate("udp", "0.0.0.0", { low: 8080, high: 8080 })).toBe(8080);
    expect(ports.allocate("tcp", "0.0.0.0", { low: 8080, high: 8081 })).toBe(8081);
    expect(ports.allocate("tcp", "127.0.0.1", { low: 9000, high: 9000 })).toBe(9000);
    expect(ports.allocate("tcp", "127.0.0.2", { low: 9000, high: 9000 })).toBe(9000);
    expect(() => ports.allocate("tcp", "0.0.0.0", { low: 9000, high: 9000 })).toThrow(/already allocated/);
  });
});
