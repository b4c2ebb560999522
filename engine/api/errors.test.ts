import { describe, expect, it } from "vitest";
import { EngineError } from "../errors.ts";
import { errorBody, statusOfKind } from "./errors.ts";

describe("error mapping", () => {
  it("gives each engine error kind Docker's status", () => {
    expect(statusOfKind("notFound")).toBe(404);
    expect(statusOfKind("conflict")).toBe(409);
    expect(statusOfKind("alreadyExists")).toBe(409);
    expect(statusOfKind("invalidArgument")).toBe(400);
    expect(statusOfKind("unauthorized")).toBe(401);
    expect(statusOfKind("unavailable")).toBe(503);
    expect(statusOfKind("internal")).toBe(500);
    expect(statusOfKind("dataLoss")).toBe(500);
    expect(statusOfKind("deadlineExceeded")).toBe(500);
  });

  it("answers {message} for engine errors and 500 for anything else", () => {
    expect(errorBody(new EngineError("notFound", "no such image: x"))).toEqual({
      status: 404,
      body: { message: "no such image: x" },
    });
    expect(errorBody(new TypeError("boom"))).toEqual({ status: 500, body: { message: "boom" } });
  });
});
