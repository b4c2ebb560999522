import { describe, expect, it } from "vitest";
import { MAX_JSON_BODY_BYTES, requestBodyLimit } from "./body-limit.ts";

describe("requestBodyLimit", () => {
  it("bounds JSON bodies and lets archives through, versioned or not", () => {
    expect(requestBodyLimit({ method: "POST", target: "/v1.43/containers/create?name=a" })).toBe(MAX_JSON_BODY_BYTES);
    expect(requestBodyLimit({ method: "POST", target: "/exec/abc/start" })).toBe(MAX_JSON_BODY_BYTES);
    expect(requestBodyLimit({ method: "POST", target: "/v1.43/build?t=x" })).toBe(Number.POSITIVE_INFINITY);
    expect(requestBodyLimit({ method: "POST", target: "/images/load" })).toBe(Number.POSITIVE_INFINITY);
    expect(requestBodyLimit({ method: "PUT", target: "/v1.41/containers/web/archive?path=/" })).toBe(
      Number.POSITIVE_INFINITY,
    );
    // The same path with another method is not an upload.
    expect(requestBodyLimit({ method: "GET", target: "/containers/web/archive?path=/" })).toBe(MAX_JSON_BODY_BYTES);
    expect(requestBodyLimit({ method: "POST", target: "http://docker/v1.43/build" })).toBe(Number.POSITIVE_INFINITY);
  });
});
