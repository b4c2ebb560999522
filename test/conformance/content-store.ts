// The content store conformance suite: every implementation (memory, Node fs, OPFS) must pass it. A test file
// calls describeContentStore with a factory that makes an empty store; a reopen function, when given, checks
// that committed blobs survive and half-written ones do not. The cases are a plain list so that the same ones can
// run in Chromium against OPFS (test/e2e/opfs/), where only vitest's `expect` is available.
import { describe, expect, it } from "vitest";
import type { ContentStore } from "../../engine/content/index.ts";
import { writeBlob } from "../../engine/content/index.ts";
import { isEngineError } from "../../engine/errors.ts";
import { type Digest, digestOf } from "../../engine/oci/index.ts";

export interface ContentStoreHarness {
  store: ContentStore;
  /** Opens the same storage again, as a new page or process would. */
  reopen?: () => Promise<ContentStore>;
  dispose?: () => Promise<void>;
}

const encode = (text: string) => new TextEncoder().encode(text);

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function listDigests(store: ContentStore): Promise<Digest[]> {
  const digests: Digest[] = [];
  for await (const info of store.list()) digests.push(info.digest);
  return digests.sort();
}

async function kindOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (isEngineError(error)) return error.kind;
    throw error;
  }
  return undefined;
}

/** One case of a conformance suite: vitest runs them here; test/e2e/opfs runs the same list in Chromium. */
export interface ConformanceCase<Harness> {
  name: string;
  run(harness: Harness): Promise<void>;
}

const hello = encode("hello, drydock");
const helloBlob = { digest: digestOf(hello), size: hello.byteLength };

export const contentStoreCases: readonly ConformanceCase<ContentStoreHarness>[] = [
  {
    name: "commits written bytes under their digest and reads them back",
    async run({ store }) {
      const writer = await store.writer({ expected: helloBlob });
      await writer.write(hello.subarray(0, 5));
      await writer.write(hello.subarray(5));
      expect(writer.offset).toBe(hello.byteLength);
      const info = await writer.commit(helloBlob);
      expect(info).toMatchObject(helloBlob);
      expect(info.createdAt).toBeInstanceOf(Date);
      expect(await store.readBytes(helloBlob.digest)).toEqual(hello);
      expect(await collect(await store.read(helloBlob.digest))).toEqual(hello);
      expect(await store.info(helloBlob.digest)).toMatchObject(helloBlob);
    },
  },
  {
    name: "tells the digest of what was written, for content named only once written",
    async run({ store }) {
      const writer = await store.writer();
      await writer.write(hello);
      expect(await writer.digest()).toBe(helloBlob.digest);
      expect(await writer.digest()).toBe(helloBlob.digest);
      expect(await kindOf(writer.write(hello))).toBe("conflict");
      await writer.commit({ digest: await writer.digest(), size: writer.offset });
      expect(await store.readBytes(helloBlob.digest)).toEqual(hello);
    },
  },
  {
    name: "reads byte ranges",
    async run({ store }) {
      await writeBlob(store, hello, helloBlob);
      const text = async (offset: number, length?: number) =>
        new TextDecoder().decode(await store.readBytes(helloBlob.digest, { offset, length }));
      expect(await text(7)).toBe("drydock");
      expect(await text(0, 5)).toBe("hello");
      expect(await text(7, 100)).toBe("drydock");
      expect(await text(hello.byteLength)).toBe("");
      const streamed = await collect(await store.read(helloBlob.digest, { offset: 2, length: 3 }));
      expect(new TextDecoder().decode(streamed)).toBe("llo");
      expect(await kindOf(store.readBytes(helloBlob.digest, { offset: hello.byteLength + 1 }))).toBe("invalidArgument");
    },
  },
  {
    name: "streams a large blob in pieces and returns it whole",
    async run({ store }) {
      const big = new Uint8Array(3 * 1024 * 1024 + 17);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
      const expected = { digest: digestOf(big), size: big.byteLength };
      const writer = await store.writer({ expected });
      for (let offset = 0; offset < big.length; offset += 100_000) {
        await writer.write(big.subarray(offset, offset + 100_000));
      }
      await writer.commit(expected);
      // Compared by digest: deep equality of megabytes is slow in the test runner.
      const streamed = await collect(await store.read(expected.digest));
      expect(streamed.byteLength).toBe(big.byteLength);
      expect(digestOf(streamed)).toBe(expected.digest);
      expect(await store.readBytes(expected.digest, { offset: 2_000_000, length: 10 })).toEqual(
        big.slice(2_000_000, 2_000_010),
      );
    },
  },
  {
    name: "refuses a wrong digest with dataLoss and leaves nothing visible",
    async run({ store }) {
      const wrong = { digest: digestOf(encode("something else")), size: hello.byteLength };
      const writer = await store.writer();
      await writer.write(hello);
      expect(await kindOf(writer.commit(wrong))).toBe("dataLoss");
      await writer.abort();
      expect(await kindOf(store.info(wrong.digest))).toBe("notFound");
      expect(await kindOf(store.info(helloBlob.digest))).toBe("notFound");
      expect(await listDigests(store)).toEqual([]);
      expect(await store.usage()).toEqual({ count: 0, size: 0 });
    },
  },
  {
    name: "refuses a short write (a truncated download) with dataLoss",
    async run({ store }) {
      const writer = await store.writer({ expected: helloBlob });
      await writer.write(hello.subarray(0, 4));
      expect(await kindOf(writer.commit(helloBlob))).toBe("dataLoss");
      expect(await listDigests(store)).toEqual([]);
    },
  },
  {
    name: "stops a write as soon as more bytes than expected arrive",
    async run({ store }) {
      const writer = await store.writer({ expected: helloBlob });
      await writer.write(hello);
      expect(await kindOf(writer.write(encode("!")))).toBe("dataLoss");
      await writer.abort();
      expect(await listDigests(store)).toEqual([]);
    },
  },
  {
    name: "shows nothing of an aborted write",
    async run({ store }) {
      const writer = await store.writer({ expected: helloBlob });
      await writer.write(hello);
      await writer.abort();
      await writer.abort();
      expect(await kindOf(writer.commit(helloBlob))).toBe("conflict");
      expect(await listDigests(store)).toEqual([]);
    },
  },
  {
    name: "keeps one copy when the same content is committed twice",
    async run({ store }) {
      await writeBlob(store, hello, helloBlob);
      await writeBlob(store, hello, helloBlob);
      expect(await store.usage()).toEqual({ count: 1, size: hello.byteLength });
    },
  },
  {
    name: "lists, measures and deletes blobs",
    async run({ store }) {
      const other = encode("other");
      const otherBlob = { digest: digestOf(other), size: other.byteLength };
      const empty = new Uint8Array(0);
      const emptyBlob = { digest: digestOf(empty), size: 0 };
      await writeBlob(store, hello, helloBlob);
      await writeBlob(store, other, otherBlob);
      await writeBlob(store, empty, emptyBlob);
      expect(await listDigests(store)).toEqual([helloBlob.digest, otherBlob.digest, emptyBlob.digest].sort());
      expect(await store.usage()).toEqual({ count: 3, size: hello.byteLength + other.byteLength });
      expect(await store.readBytes(emptyBlob.digest)).toEqual(empty);
      await store.delete(otherBlob.digest);
      expect(await kindOf(store.readBytes(otherBlob.digest))).toBe("notFound");
      expect(await kindOf(store.delete(otherBlob.digest))).toBe("notFound");
      expect(await store.usage()).toEqual({ count: 2, size: hello.byteLength });
    },
  },
  {
    name: "lets concurrent writers of the same content both succeed",
    async run({ store }) {
      const [first, second] = await Promise.all([store.writer(), store.writer()]);
      await first.write(hello);
      await second.write(hello);
      await Promise.all([first.commit(helloBlob), second.commit(helloBlob)]);
      expect(await listDigests(store)).toEqual([helloBlob.digest]);
    },
  },
  {
    name: "answers notFound for an unknown digest",
    async run({ store }) {
      const missing = digestOf(encode("missing"));
      expect(await kindOf(store.info(missing))).toBe("notFound");
      expect(await kindOf(store.read(missing))).toBe("notFound");
      expect(await kindOf(store.readBytes(missing))).toBe("notFound");
    },
  },
  {
    name: "keeps committed blobs and drops half-written ones across a reopen",
    async run({ store, reopen }) {
      if (!reopen) return;
      await writeBlob(store, hello, helloBlob);
      const pending = await store.writer();
      await pending.write(encode("half"));
      const reopened = await reopen();
      expect(await listDigests(reopened)).toEqual([helloBlob.digest]);
      expect(await reopened.readBytes(helloBlob.digest)).toEqual(hello);
      expect(await reopened.usage()).toEqual({ count: 1, size: hello.byteLength });
      await pending.abort();
    },
  },
];

/** Runs a case against a fresh harness from `open`, disposing of it afterwards. */
export async function runCase<Harness extends { dispose?: () => Promise<void> }>(
  open: () => Promise<Harness>,
  testCase: ConformanceCase<Harness>,
): Promise<void> {
  const harness = await open();
  try {
    await testCase.run(harness);
  } finally {
    await harness.dispose?.();
  }
}

export function describeContentStore(name: string, open: () => Promise<ContentStoreHarness>): void {
  describe(`content store conformance: ${name}`, () => {
    for (const testCase of contentStoreCases) it(testCase.name, () => runCase(open, testCase));
  });
}
