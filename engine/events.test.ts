import { describe, expect, it } from "vitest";
import { type EngineEvent, EventLog } from "./events.ts";

describe("EventLog", () => {
  it("tells listeners and keeps a bounded history for --since", () => {
    let now = 1000;
    const log = new EventLog(2, () => now);
    const seen: EngineEvent[] = [];
    const off = log.on((event) => seen.push(event));
    log.emit({ type: "container", action: "create", id: "a", attributes: {} });
    now = 2000;
    log.emit({ type: "container", action: "start", id: "a", attributes: {} });
    off();
    now = 3000;
    log.emit({ type: "image", action: "tag", id: "sha256:x", attributes: { name: "b:1" } });
    expect(seen.map((event) => event.action)).toEqual(["create", "start"]);
    // Only two are kept; since 2000 keeps the start and the tag.
    expect(log.history().map((event) => event.action)).toEqual(["start", "tag"]);
    expect(log.history(2500).map((event) => [event.action, event.time])).toEqual([["tag", 3000]]);
  });
});
