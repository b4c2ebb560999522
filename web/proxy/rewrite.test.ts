import { describe, expect, it } from "vitest";
import { formatChallenges, parseChallenges, parseScope, rewriteChallenge, rewriteTagsLink } from "./rewrite.ts";

describe("parseChallenges", () => {
  it("reads Docker Hub's challenge", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    );
    expect(c).toEqual({
      scheme: "Bearer",
      params: [
        ["realm", "https://auth.docker.io/token"],
        ["service", "registry.docker.io"],
        ["scope", "repository:library/alpine:pull"],
      ],
    });
  });

  it("reads several challenges, unquoted values, escapes and odd spacing", () => {
    const challenges = parseChallenges(
      'Basic realm="a \\"b\\"" , Bearer  realm=https://x/t, error="insufficient_scope"',
    );
    expect(challenges.map((c) => c.scheme)).toEqual(["Basic", "Bearer"]);
    expect(challenges[0]!.params).toEqual([["realm", 'a "b"']]);
    expect(challenges[1]!.params).toEqual([
      ["realm", "https://x/t"],
      ["error", "insufficient_scope"],
    ]);
  });

  it("keeps token68 challenges and survives garbage", () => {
    expect(parseChallenges("Negotiate abc==, Basic")).toEqual([
      { scheme: "Negotiate", params: [], token68: "abc==" },
      { scheme: "Basic", params: [] },
    ]);
    expect(parseChallenges('Bearer realm="unterminated')).toEqual([{ scheme: "Bearer", params: [] }]);
    expect(parseChallenges("")).toEqual([]);
  });

  it("round-trips through formatChallenges", () => {
    const header = 'Bearer realm="https://r/t",service="s", Basic realm="x\\"y"';
    expect(formatChallenges(parseChallenges(header))).toBe(header);
  });
});

describe("rewriteChallenge", () => {
  it("points the realm at the proxy and renames the scope's repository to the client's name", () => {
    const { header, original } = rewriteChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      "http://localhost:5173/registry/token",
      { upstream: "library/alpine", client: "alpine" },
    );
    expect(header).toBe(
      'Bearer realm="http://localhost:5173/registry/token",service="registry.docker.io",scope="repository:alpine:pull"',
    );
    expect(original).toEqual({ realm: "https://auth.docker.io/token", service: "registry.docker.io" });
  });

  it("renames only the matching repository among several scopes", () => {
    const { header } = rewriteChallenge(
      'Bearer realm="https://ghcr.io/token",scope="repository:o/a:pull repository:o/b:pull"',
      "http://p/token",
      { upstream: "o/a", client: "ghcr.io/o/a" },
    );
    expect(header).toBe('Bearer realm="http://p/token",scope="repository:ghcr.io/o/a:pull repository:o/b:pull"');
  });

  it("leaves Basic challenges alone: their realm is a label, not a URL", () => {
    expect(rewriteChallenge('Basic realm="Registry Realm"', "http://p/token").header).toBe(
      'Basic realm="Registry Realm"',
    );
  });
});

describe("parseScope", () => {
  it("allows colons in the resource name", () => {
    expect(parseScope("repository:localhost:5000/app:pull,push")).toEqual({
      type: "repository",
      name: "localhost:5000/app",
      actions: ["pull", "push"],
    });
    expect(parseScope("registry:catalog:*")).toEqual({ type: "registry", name: "catalog", actions: ["*"] });
    expect(parseScope("nonsense")).toBeUndefined();
  });
});

describe("rewriteTagsLink", () => {
  const upstream = "https://registry-1.docker.io/v2/library/alpine/tags/list?n=2";
  it("keeps pagination on the proxy", () => {
    expect(
      rewriteTagsLink(
        '</v2/library/alpine/tags/list?last=3.1&n=2>; rel="next"',
        upstream,
        "library/alpine",
        "/registry/v2/alpine/tags/list",
      ),
    ).toBe('</registry/v2/alpine/tags/list?last=3.1&n=2>; rel="next"');
  });
  it("drops links that would lead elsewhere", () => {
    expect(
      rewriteTagsLink(
        '<https://evil.example/v2/library/alpine/tags/list>; rel="next"',
        upstream,
        "library/alpine",
        "/x",
      ),
    ).toBeUndefined();
    expect(rewriteTagsLink('</v2/other/tags/list>; rel="next"', upstream, "library/alpine", "/x")).toBeUndefined();
  });
});
