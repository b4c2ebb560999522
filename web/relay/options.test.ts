import { describe, expect, it } from "vitest";
import { parseBytes, relayOptions, settingsFromEnv } from "./options.ts";
import { DEFAULT_ALLOWLIST } from "./policy.ts";

describe("relay settings", () => {
  it("adds --allow entries to the default allowlist, or replaces it with --no-default-allowlist", () => {
    expect(relayOptions({ allow: ["pkgs.example.org,*.mirror.example"] }).allow).toEqual([
      ...DEFAULT_ALLOWLIST,
      "pkgs.example.org",
      "*.mirror.example",
    ]);
    expect(relayOptions({ allow: ["Only.Example."], noDefaultAllowlist: true }).allow).toEqual(["only.example"]);
  });

  it("reads the DRYDOCK_RELAY_* environment the dev server and the standalone relay share", () => {
    const settings = settingsFromEnv({
      DRYDOCK_RELAY_ALLOW: "a.example b.example",
      DRYDOCK_RELAY_PORTS: "80,443,8080",
      DRYDOCK_RELAY_ALLOW_PRIVATE: "a.example",
      DRYDOCK_RELAY_BYTES_PER_MINUTE: "1G",
      DRYDOCK_RELAY_CONCURRENT_STREAMS: "8",
    });
    const options = relayOptions(settings);
    expect(options.allow).toEqual(expect.arrayContaining(["a.example", "b.example"]));
    expect(options.ports).toEqual([80, 443, 8080]);
    expect(options.privateNames).toEqual(["a.example"]);
    expect(options.limits).toEqual({ bytesPerMinute: 1024 ** 3, concurrentStreams: 8 });
  });

  it("says which setting is wrong", () => {
    expect(() => relayOptions({ allow: ["https://x.example/"] })).toThrow(
      "--allow wants a host name or *.domain, got https://x.example/",
    );
    expect(() => relayOptions({ ports: ["80,ssh"] })).toThrow("--ports wants port numbers, got ssh");
    expect(() => relayOptions({ concurrentStreams: "0" })).toThrow(
      "--concurrent-streams wants a positive whole number",
    );
    expect(() => parseBytes("lots")).toThrow("not a size: lots");
    expect(parseBytes("512M")).toBe(512 * 1024 ** 2);
  });
});
