import { describe, expect, it } from "vitest";
import { parsePublish } from "./publish-option.ts";

describe("-p as docker's client reads it", () => {
  it.each([
    ["8080:80", { "80/tcp": [{ HostIp: "", HostPort: "8080" }] }],
    ["80", { "80/tcp": [{ HostIp: "", HostPort: "" }] }],
    ["127.0.0.1:8080:80/udp", { "80/udp": [{ HostIp: "127.0.0.1", HostPort: "8080" }] }],
    ["127.0.0.1::80", { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] }],
    ["8000-8001:80-81", { "80/tcp": [{ HostIp: "", HostPort: "8000" }], "81/tcp": [{ HostIp: "", HostPort: "8001" }] }],
    ["8000-8010:80", { "80/tcp": [{ HostIp: "", HostPort: "8000-8010" }] }],
  ])("%s", (spec, bindings) => {
    expect(parsePublish([spec]).bindings).toEqual(bindings);
  });

  it("exposes what it publishes, and refuses what docker refuses with its words", () => {
    expect(parsePublish(["8080:80", "9090:80", "53/udp"]).exposed).toEqual(["80/tcp", "53/udp"]);
    expect(() => parsePublish(["8080:web"])).toThrow("invalid containerPort: web");
    expect(() => parsePublish(["x:80"])).toThrow("invalid hostPort: x");
    expect(() => parsePublish(["80/icmp"])).toThrow("invalid proto: icmp");
    expect(() => parsePublish(["8000-8002:80-81"])).toThrow(/invalid ranges/);
    expect(() => parsePublish(["8080:"])).toThrow("no port specified: 8080:<empty>");
  });
});
