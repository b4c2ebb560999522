// The relay's rules with the proxy's address checker and a fake resolver: nothing here touches the network.
import { describe, expect, it } from "vitest";
import { Allowlist, DEFAULT_ALLOWLIST, Refusal, RelayPolicy, registryHosts } from "./policy.ts";

// A fake DNS: names of the test, each with the answer a real resolver might give. No address here is ever connected to.
const ZONE: Record<string, string[]> = {
  "mirror.example": ["203.0.114.7", "2001:4860::7"],
  "cdn.mirror.example": ["203.0.114.8"],
  "rebind.example": ["203.0.114.9", "10.0.0.5"],
  "metadata.example": ["169.254.169.254"],
  "local-mirror.example": ["127.0.0.1"],
};
const fakeResolve = async (name: string) => {
  const answer = ZONE[name];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  return answer;
};

function policy(extra: Partial<ConstructorParameters<typeof RelayPolicy>[0]> = {}) {
  return new RelayPolicy({
    resolve: fakeResolve,
    allow: ["*.mirror.example", "rebind.example", "metadata.example", "local-mirror.example"],
    ...extra,
  });
}

async function refusal(promise: Promise<unknown>): Promise<Refusal> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Refusal);
  return error as Refusal;
}

describe("Allowlist", () => {
  it("matches exact hosts, and a *.domain entry for the domain and every name under it", () => {
    const list = new Allowlist(["registry.example", "*.pkgs.example"]);
    expect(list.allows("registry.example")).toBe(true);
    expect(list.allows("REGISTRY.example.")).toBe(true);
    expect(list.allows("sub.registry.example")).toBe(false);
    expect(list.allows("pkgs.example")).toBe(true);
    expect(list.allows("a.b.pkgs.example")).toBe(true);
    expect(list.allows("evilpkgs.example")).toBe(false);
    expect(list.allows("pkgs.example.evil")).toBe(false);
  });

  it("refuses entries that are not host names", () => {
    expect(() => new Allowlist(["http://x.example/"])).toThrow(/not a host name/);
    expect(() => new Allowlist(["*"])).toThrow(/not a host name/);
    expect(() => new Allowlist(["a.*.example"])).toThrow(/not a host name/);
  });

  it("by default allows the package mirrors' domains and the proxy's registries, and nothing else", () => {
    const list = new Allowlist(DEFAULT_ALLOWLIST);
    expect(DEFAULT_ALLOWLIST).toEqual(expect.arrayContaining(["*.debian.org", "*.alpinelinux.org"]));
    for (const host of registryHosts()) expect(list.allows(host)).toBe(true);
    expect(list.allows("ghcr.io")).toBe(true);
    expect(list.allows("example.com")).toBe(false);
    expect(list.allows("debian.org.example.com")).toBe(false);
  });
});

describe("RelayPolicy.resolveFor", () => {
  it("resolves an allowlisted name", async () => {
    expect(await policy().resolveFor("c1", "Mirror.Example.")).toEqual({
      name: "mirror.example",
      addresses: ["203.0.114.7", "2001:4860::7"],
    });
  });

  it("refuses a name off the allowlist without resolving it", async () => {
    let asked = false;
    const p = policy({
      resolve: async () => {
        asked = true;
        return ["203.0.114.1"];
      },
    });
    const error = await refusal(p.resolveFor("c1", "unlisted.example"));
    expect(error.kind).toBe("blocked");
    expect(error.message).toMatch(/unlisted\.example is not on the relay's allowlist/);
    expect(asked).toBe(false);
  });

  it("refuses local names and address literals", async () => {
    expect((await refusal(policy({ allow: ["*.localhost"] }).resolveFor("c1", "x.localhost"))).message).toMatch(
      /local name/,
    );
    expect((await refusal(policy().resolveFor("c1", "10.0.0.1"))).message).toMatch(/an address, not a name/);
  });

  it("refuses an allowlisted name when any of its addresses is not public, naming the address and its kind", async () => {
    expect((await refusal(policy().resolveFor("c1", "rebind.example"))).message).toBe(
      "rebind.example resolves to 10.0.0.5, a private address, which the relay never connects to",
    );
    expect((await refusal(policy().resolveFor("c1", "metadata.example"))).message).toMatch(
      /169\.254\.169\.254, a linkLocal address/,
    );
    expect((await refusal(policy().resolveFor("c1", "local-mirror.example"))).message).toMatch(/a loopback address/);
  });

  it("lets the operator name an allowlisted host that may be private (their own mirror)", async () => {
    const p = policy({ privateNames: ["local-mirror.example"] });
    expect((await p.resolveFor("c1", "local-mirror.example")).addresses).toEqual(["127.0.0.1"]);
    expect(await p.checkConnect("c1", "127.0.0.1", 80)).toEqual({ address: "127.0.0.1", name: "local-mirror.example" });
    // Only for that client, and only the name the operator named.
    expect((await refusal(p.checkConnect("c2", "127.0.0.1", 80))).message).toMatch(/a loopback address/);
    expect((await refusal(p.resolveFor("c1", "rebind.example"))).message).toMatch(/private address/);
  });

  it("tells a name that does not exist from a resolver that failed", async () => {
    expect((await refusal(policy().resolveFor("c1", "nothing.mirror.example"))).kind).toBe("notFound");
    const broken = policy({ resolve: async () => Promise.reject(new Error("connection timed out")) });
    expect((await refusal(broken.resolveFor("c1", "mirror.example"))).kind).toBe("unavailable");
  });
});

describe("RelayPolicy.checkConnect", () => {
  it("lets a client connect to an address only after the resolver handed it that address", async () => {
    const p = policy();
    expect((await refusal(p.checkConnect("c1", "203.0.114.7", 443))).message).toMatch(
      /203\.0\.114\.7 was not handed out by the relay's resolver for an allowlisted name/,
    );
    await p.resolveFor("c1", "mirror.example");
    expect(await p.checkConnect("c1", "203.0.114.7", 443)).toEqual({ address: "203.0.114.7", name: "mirror.example" });
    // Another client (another address) was handed nothing.
    expect((await refusal(p.checkConnect("c2", "203.0.114.7", 443))).kind).toBe("blocked");
  });

  it("forgets handed-out addresses after a while", async () => {
    let now = 0;
    const p = policy({ handedOutMs: 60_000, now: () => now });
    await p.resolveFor("c1", "mirror.example");
    now = 59_000;
    await expect(p.checkConnect("c1", "203.0.114.7", 80)).resolves.toBeDefined();
    now = 61_000;
    await refusal(p.checkConnect("c1", "203.0.114.7", 80));
  });

  it("refuses private, loopback, link-local and shared-NAT addresses whatever was handed out", async () => {
    const p = policy();
    for (const [address, kind] of [
      ["10.1.2.3", "private"],
      ["192.168.86.1", "private"],
      ["127.0.0.1", "loopback"],
      ["169.254.169.254", "linkLocal"],
      ["100.64.0.1", "sharedNat"],
      ["::ffff:10.0.0.1", "private"],
      ["[::1]", "loopback"],
    ]) {
      expect((await refusal(p.checkConnect("c1", address!, 80))).message).toMatch(`a ${kind} address`);
    }
  });

  it("allows ports 80 and 443 only by default", async () => {
    const p = policy();
    await p.resolveFor("c1", "mirror.example");
    expect((await refusal(p.checkConnect("c1", "203.0.114.7", 22))).message).toBe(
      "port 22 is not allowed (the relay allows 80, 443)",
    );
    const wider = policy({ ports: [80, 443, 8080] });
    await wider.resolveFor("c1", "mirror.example");
    await expect(wider.checkConnect("c1", "203.0.114.7", 8080)).resolves.toBeDefined();
  });

  it("resolves a named destination under the same rules and connects to the address it checked", async () => {
    const p = policy();
    expect(await p.checkConnect("c1", "cdn.mirror.example", 80)).toEqual({
      address: "203.0.114.8",
      name: "cdn.mirror.example",
    });
    expect((await refusal(p.checkConnect("c1", "unlisted.example", 80))).message).toMatch(
      /not on the relay's allowlist/,
    );
    expect((await refusal(p.checkConnect("c1", "rebind.example", 80))).message).toMatch(/10\.0\.0\.5, a private/);
  });
});
