import { describe, expect, it } from "vitest";
import { type KeyValueStorage, ProgressStore } from "./progress.ts";

function memoryStorage(initial: Record<string, string> = {}): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

describe("ProgressStore", () => {
  it("keeps the open step and the steps done across a reload", () => {
    const storage = memoryStorage();
    const first = new ProgressStore(storage);
    first.setCurrent("01-images", "keep-a-container-running");
    first.markDone("01-images", "run-your-first-container");
    first.markDone("01-images", "run-your-first-container");
    const reloaded = new ProgressStore(storage);
    expect(reloaded.get("01-images")).toEqual({
      current: "keep-a-container-running",
      done: ["run-your-first-container"],
    });
    expect(reloaded.get("02-registries")).toEqual({ done: [] });
  });

  it("forgets one lesson on start over, and keeps the others", () => {
    const storage = memoryStorage();
    const store = new ProgressStore(storage);
    store.markDone("01", "a");
    store.markDone("02", "b");
    store.reset("01");
    expect(new ProgressStore(storage).get("01")).toEqual({ done: [] });
    expect(new ProgressStore(storage).get("02")).toEqual({ done: ["b"] });
  });

  it("treats unreadable saved data as no progress", () => {
    expect(new ProgressStore(memoryStorage({ "drydock.lessons.v1": "{not json" })).get("01")).toEqual({ done: [] });
    const odd = memoryStorage({ "drydock.lessons.v1": JSON.stringify({ "01": { current: 3, done: ["a", 4] } }) });
    expect(new ProgressStore(odd).get("01")).toEqual({ done: ["a"] });
  });
});
