import { describe, expect, it } from "vitest";
import { MemoryMetadataStore } from "../content/metadata.ts";
import type { LogEntry } from "./logs.ts";
import { decodeLogSlot, LOG_SLOTS, LogRing, logDocumentName, SAVED_LOG_LIMIT_BYTES, SavedLog } from "./saved-logs.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (entries: LogEntry[]) => entries.map((e) => `${e.stream}:${new TextDecoder().decode(e.data)}`);
const id = "c".repeat(64);

/** Writes everything the ring has for the store and reads the ring back as an engine start does. */
function roundTrip(ring: LogRing, documents = new Map<number, Uint8Array>()) {
  for (const { slot, bytes } of ring.takeWrites()) documents.set(slot, bytes);
  const found = Array.from({ length: ring.slots }, (_, slot) => ({
    name: `log.${slot}`,
    bytes: documents.get(slot),
  }));
  return { documents, ...LogRing.restore(found, ring.slots, ring.slotBytes) };
}

describe("a container's kept log", () => {
  it("keeps each entry's time, stream and exact bytes", () => {
    const ring = new LogRing();
    const binary = new Uint8Array([0, 255, 10, 13, 0x80]);
    ring.add({ time: 1_700_000_000_123.5, stream: "stdout", data: bytes("hello\n") });
    ring.add({ time: 1_700_000_001_000, stream: "stderr", data: binary });
    const writes = ring.takeWrites();
    expect(writes.map((w) => w.slot)).toEqual([0]);
    const decoded = decodeLogSlot(writes[0]!.bytes, "log.0");
    expect(decoded.generation).toBe(0);
    expect(decoded.entries).toEqual([
      { time: 1_700_000_000_123.5, stream: "stdout", data: bytes("hello\n") },
      { time: 1_700_000_001_000, stream: "stderr", data: binary },
    ]);
    // Nothing new: nothing to write.
    expect(ring.takeWrites()).toEqual([]);
  });

  it("keeps only the newest output once the ring is full, and never more than its cap", () => {
    const ring = new LogRing(4, 64);
    // 13 + 8 bytes an entry: two fit in a 64-byte document (with its 8-byte header), a third starts the next one.
    for (let i = 0; i < 40; i++) ring.add({ time: i, stream: "stdout", data: bytes(`line ${i}\n`.padStart(8, "0")) });
    const { documents, entries } = roundTrip(ring);
    expect(documents.size).toBe(4);
    for (const document of documents.values()) expect(document.length).toBeLessThanOrEqual(64);
    // Four documents of two entries: the last eight lines, oldest first.
    expect(entries.map((e) => e.time)).toEqual([32, 33, 34, 35, 36, 37, 38, 39]);
  });

  it("goes on in the newest document after a restart, in order", () => {
    const first = new LogRing(4, 64);
    first.add({ time: 1, stream: "stdout", data: bytes("run one\n") });
    const before = roundTrip(first);
    expect(text(before.entries)).toEqual(["stdout:run one\n"]);
    before.ring.add({ time: 2, stream: "stderr", data: bytes("run two\n") });
    before.ring.add({ time: 3, stream: "stdout", data: bytes("more 2\n") });
    const after = roundTrip(before.ring, before.documents);
    expect(text(after.entries)).toEqual(["stdout:run one\n", "stderr:run two\n", "stdout:more 2\n"]);
    expect(after.entries.map((e) => e.time)).toEqual([1, 2, 3]);
  });

  it("cuts a chunk longer than a document into entries of the same time and stream", () => {
    const ring = new LogRing(4, 64);
    const long = bytes("x".repeat(100));
    ring.add({ time: 7, stream: "stderr", data: long });
    const { documents, entries } = roundTrip(ring);
    for (const document of documents.values()) expect(document.length).toBeLessThanOrEqual(64);
    expect(entries.every((e) => e.time === 7 && e.stream === "stderr")).toBe(true);
    expect(entries.map((e) => new TextDecoder().decode(e.data)).join("")).toBe("x".repeat(100));
  });

  it("leaves out a document it cannot read, naming it, and keeps the others", () => {
    const ring = new LogRing(4, 64);
    for (let i = 0; i < 4; i++) ring.add({ time: i, stream: "stdout", data: bytes(`line ${i}\n`) });
    const documents = new Map(ring.takeWrites().map(({ slot, bytes }) => [slot, bytes]));
    expect(documents.size).toBe(2);
    documents.set(0, bytes("{not a log}"));
    const { entries, unreadable } = LogRing.restore(
      [0, 1, 2, 3].map((slot) => ({ name: `log.${slot}`, bytes: documents.get(slot) })),
      4,
      64,
    );
    expect(entries.map((e) => e.time)).toEqual([2, 3]);
    expect(unreadable.map((e) => e.message)).toEqual([
      "the kept container log log.0 is not in a format Drydock knows (no DDL1 header)",
    ]);
    const cut = documents.get(1)!.subarray(0, 20);
    expect(() => decodeLogSlot(cut, "log.1")).toThrow(/log\.1 .*cut at byte 8/);
  });

  it("writes in batches to the store, reads back what it wrote, and removes it all", async () => {
    const store = new MemoryMetadataStore();
    const log = new SavedLog(store, id);
    log.add({ time: 1, stream: "stdout", data: bytes("a\n") });
    log.add({ time: 2, stream: "stdout", data: bytes("b\n") });
    // Batched: nothing written until the timer or a flush.
    expect(await store.read(logDocumentName(id, 0))).toBeUndefined();
    await log.flush();
    const { entries } = await SavedLog.open(store, id);
    expect(text(entries)).toEqual(["stdout:a\n", "stdout:b\n"]);
    // Fill every document of the real ring: no more than the cap is kept.
    const chunk = new Uint8Array(30_000);
    for (let i = 0; i < 40; i++) log.add({ time: 10 + i, stream: "stdout", data: chunk });
    await log.flush();
    let stored = 0;
    for (let slot = 0; slot < LOG_SLOTS; slot++) stored += (await store.read(logDocumentName(id, slot)))?.length ?? 0;
    expect(stored).toBeLessThanOrEqual(SAVED_LOG_LIMIT_BYTES);
    expect(stored).toBeGreaterThan(SAVED_LOG_LIMIT_BYTES - 128 * 1024);
    const reread = await SavedLog.open(store, id);
    expect(reread.entries.at(-1)?.time).toBe(49);
    await log.remove();
    for (let slot = 0; slot < LOG_SLOTS; slot++) expect(await store.read(logDocumentName(id, slot))).toBeUndefined();
    // Gone for good: a late entry writes nothing.
    log.add({ time: 99, stream: "stdout", data: bytes("late\n") });
    await log.flush();
    expect(await store.read(logDocumentName(id, 0))).toBeUndefined();
  });
});
