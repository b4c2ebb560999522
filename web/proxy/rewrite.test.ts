import { describe, expect, it } from "vitest";
import { parseScope, rewriteChallenge, rewriteTagsLink } from "./rewrite.ts";

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
