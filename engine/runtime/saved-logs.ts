// A container's log kept in the engine's metadata store (beside containers.json), so `docker logs` of a container
// kept across an engine restart still shows what it printed. The store replaces whole documents, so the log is a
// ring of small documents, `log-<id>.0` … `log-<id>.7`, each at most 128 KiB: output goes into the newest one, which
// is rewritten in batches (a short timer, the end of a run, `saved()`); when it is full the next one starts, and the
// ninth replaces the first. A container keeps at most its newest 1 MiB of output (dockerd's json-file keeps all of it
// unless told otherwise; OPFS is not to be filled by one chatty container), and a write never costs more than 128 KiB.
//
// A document is binary: "DDL1", its generation (u32, counting the documents the container filled), then each entry as
// its time (ms since the epoch, f64), its stream (0 stdout, 1 stderr), its length (u32) and its bytes; little-endian.
import type { MetadataStore } from "../content/metadata.ts";
import { EngineError } from "../errors.ts";
import type { LogEntry } from "./logs.ts";

export const LOG_SLOTS = 8;
export const LOG_SLOT_BYTES = 128 * 1024;
/** The most a container's kept log takes in the store. */
export const SAVED_LOG_LIMIT_BYTES = LOG_SLOTS * LOG_SLOT_BYTES;
/** How long output waits to be written: a crash of the page loses at most this much of it. */
export const LOG_FLUSH_DELAY_MS = 1000;

const MAGIC = [0x44, 0x44, 0x4c, 0x31]; // "DDL1"
const SLOT_HEADER_BYTES = 8;
const ENTRY_HEADER_BYTES = 13;

/**
 * The name of one document of a container's log.
 * @example
 * logDocumentName("ab12…", 0); // "log-ab12….0"
 */
export function logDocumentName(id: string, slot: number): string {
  return `log-${id}.${slot}`;
}

function encodeEntry(entry: LogEntry): Uint8Array {
  const bytes = new Uint8Array(ENTRY_HEADER_BYTES + entry.data.length);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, entry.time, true);
  view.setUint8(8, entry.stream === "stderr" ? 1 : 0);
  view.setUint32(9, entry.data.length, true);
  bytes.set(entry.data, ENTRY_HEADER_BYTES);
  return bytes;
}

/**
 * One document's bytes: its generation and its entries, already encoded.
 * @example
 * encodeLogSlot(0, [encoded]);
 */
function encodeLogSlot(generation: number, parts: Uint8Array[]): Uint8Array {
  const size = parts.reduce((sum, part) => sum + part.length, SLOT_HEADER_BYTES);
  const bytes = new Uint8Array(size);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint32(4, generation, true);
  let at = SLOT_HEADER_BYTES;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

export interface DecodedLogSlot {
  generation: number;
  entries: LogEntry[];
}

/**
 * A stored document's generation and entries; one Drydock cannot read is an error naming it.
 * @example
 * decodeLogSlot(await store.read("log-ab12….0"), "log-ab12….0").entries;
 */
export function decodeLogSlot(bytes: Uint8Array, name: string): DecodedLogSlot {
  const broken = (what: string) =>
    new EngineError("dataLoss", `the kept container log ${name} is not in a format Drydock knows (${what})`);
  if (bytes.length < SLOT_HEADER_BYTES || MAGIC.some((byte, i) => bytes[i] !== byte)) throw broken("no DDL1 header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const generation = view.getUint32(4, true);
  const entries: LogEntry[] = [];
  for (let at = SLOT_HEADER_BYTES; at < bytes.length; ) {
    if (at + ENTRY_HEADER_BYTES > bytes.length) throw broken(`an entry's header is cut at byte ${at}`);
    const time = view.getFloat64(at, true);
    const stream = view.getUint8(at + 8);
    const length = view.getUint32(at + 9, true);
    if (stream > 1) throw broken(`unknown stream ${stream} at byte ${at}`);
    const start = at + ENTRY_HEADER_BYTES;
    if (start + length > bytes.length) throw broken(`an entry is cut at byte ${at}`);
    entries.push({ time, stream: stream === 1 ? "stderr" : "stdout", data: bytes.slice(start, start + length) });
    at = start + length;
  }
  return { generation, entries };
}

/**
 * The ring's state without any I/O: which document output goes to, and which documents need writing. Pure, so the
 * cap is tested apart from any store.
 * @example
 * const ring = new LogRing();
 * ring.add(entry);
 * for (const { slot, bytes } of ring.takeWrites()) await store.write(logDocumentName(id, slot), bytes);
 */
export class LogRing {
  /** The generation of the document output goes to now (its slot is `generation % slots`). */
  #generation = 0;
  #parts: Uint8Array[] = [];
  #size = SLOT_HEADER_BYTES;
  #dirty = false;
  /** Documents filled and closed but not written yet, by slot (a later generation replaces an earlier one). */
  readonly #filled = new Map<number, Uint8Array>();

  constructor(
    readonly slots = LOG_SLOTS,
    readonly slotBytes = LOG_SLOT_BYTES,
  ) {}

  /**
   * The ring as an earlier run of the engine left it, and the entries it holds, oldest first. Documents that cannot
   * be read are left out (`unreadable` names them); output goes on in the newest document.
   */
  static restore(
    documents: Array<{ name: string; bytes: Uint8Array | undefined }>,
    slots = LOG_SLOTS,
    slotBytes = LOG_SLOT_BYTES,
  ): { ring: LogRing; entries: LogEntry[]; unreadable: EngineError[] } {
    const ring = new LogRing(slots, slotBytes);
    const decoded: DecodedLogSlot[] = [];
    const unreadable: EngineError[] = [];
    for (const { name, bytes } of documents) {
      if (bytes === undefined) continue;
      try {
        decoded.push(decodeLogSlot(bytes, name));
      } catch (error) {
        unreadable.push(error as EngineError);
      }
    }
    decoded.sort((a, b) => a.generation - b.generation);
    const newest = decoded.at(-1);
    if (newest) {
      ring.#generation = newest.generation;
      ring.#parts = newest.entries.map(encodeEntry);
      ring.#size = ring.#parts.reduce((sum, part) => sum + part.length, SLOT_HEADER_BYTES);
    }
    // Only the last `slots` generations can be there; anything older is a leftover.
    const kept = decoded.filter((slot) => newest && slot.generation > newest.generation - slots);
    return { ring, entries: kept.flatMap((slot) => slot.entries), unreadable };
  }

  /**
   * Takes the entry into the newest document, starting the next one (over the oldest) when it is full. A chunk
   * longer than a document holds is kept as several entries of the same time and stream.
   */
  add(entry: LogEntry): void {
    const room = this.slotBytes - SLOT_HEADER_BYTES - ENTRY_HEADER_BYTES;
    for (let at = 0; at < entry.data.length; at += room) {
      const part = encodeEntry({ ...entry, data: entry.data.subarray(at, at + room) });
      if (this.#size + part.length > this.slotBytes && this.#parts.length > 0) {
        this.#filled.set(this.#generation % this.slots, encodeLogSlot(this.#generation, this.#parts));
        this.#generation++;
        this.#parts = [];
        this.#size = SLOT_HEADER_BYTES;
      }
      this.#parts.push(part);
      this.#size += part.length;
      this.#dirty = true;
    }
  }

  /** The documents to write for everything added since the last call, oldest first. */
  takeWrites(): Array<{ slot: number; bytes: Uint8Array }> {
    const writes = new Map(this.#filled);
    this.#filled.clear();
    if (this.#dirty) {
      const slot = this.#generation % this.slots;
      // The newest document goes last (a slot filled and reused in the same batch holds the newest).
      writes.delete(slot);
      writes.set(slot, encodeLogSlot(this.#generation, this.#parts));
    }
    this.#dirty = false;
    return [...writes].map(([slot, bytes]) => ({ slot, bytes }));
  }

  /** A write failed: the newest document is written again next time. */
  retry(): void {
    this.#dirty = true;
  }
}

/**
 * One container's kept log in a metadata store: `add` each entry as it comes; it is written within
 * `LOG_FLUSH_DELAY_MS`, or at once by `flush`.
 * @example
 * const log = new SavedLog(store, id);
 * log.add(logs.append("stdout", chunk));
 * await log.flush();
 */
export class SavedLog {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #removed = false;
  /** The last write's failure, until a write succeeds. */
  error: unknown;

  constructor(
    readonly store: MetadataStore,
    readonly id: string,
    readonly ring = new LogRing(),
  ) {}

  /**
   * Reads a container's kept log: the log to go on with and the entries kept, oldest first.
   * @example
   * const { log, entries } = await SavedLog.open(store, id);
   */
  static async open(
    store: MetadataStore,
    id: string,
  ): Promise<{ log: SavedLog; entries: LogEntry[]; unreadable: EngineError[] }> {
    const documents = await Promise.all(
      Array.from({ length: LOG_SLOTS }, async (_, slot) => {
        const name = logDocumentName(id, slot);
        return { name, bytes: await store.read(name).catch(() => undefined) };
      }),
    );
    const { ring, entries, unreadable } = LogRing.restore(documents);
    return { log: new SavedLog(store, id, ring), entries, unreadable };
  }

  /**
   * Removes a container's kept log from the store (its documents that exist).
   * @example
   * await SavedLog.discard(store, id);
   */
  static async discard(store: MetadataStore, id: string): Promise<void> {
    await Promise.all(Array.from({ length: LOG_SLOTS }, (_, slot) => store.remove(logDocumentName(id, slot))));
  }

  add(entry: LogEntry): void {
    if (this.#removed) return;
    this.ring.add(entry);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, LOG_FLUSH_DELAY_MS);
  }

  /** Writes what was added so far; settles when it is written (a failure is kept in `error`, never thrown). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#writing = this.#writing.then(async () => {
      if (this.#removed) return;
      const writes = this.ring.takeWrites();
      try {
        for (const { slot, bytes } of writes) await this.store.write(logDocumentName(this.id, slot), bytes);
        if (writes.length) this.error = undefined;
      } catch (error) {
        this.error = error;
        this.ring.retry();
      }
    });
    return this.#writing;
  }

  /** The container is gone: nothing more is written and its documents are removed. */
  async remove(): Promise<void> {
    this.#removed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    await SavedLog.discard(this.store, this.id);
  }
}
