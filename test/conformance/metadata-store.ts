// Conformance suite for metadata stores (memory, Node fs, OPFS): small documents replaced atomically. The cases are a
// plain list, as in content-store.ts, so that test/e2e/opfs/ can run them in Chromium.
import { describe, expect, it } from "vitest";
import type { MetadataStore } from "../../engine/content/index.ts";
import { type ConformanceCase, runCase } from "./content-store.ts";

export interface MetadataStoreHarness {
  store: MetadataStore;
  reopen?: () => Promise<MetadataStore>;
  dispose?: () => Promise<void>;
}

export const metadataStoreCases: readonly ConformanceCase<MetadataStoreHarness>[] = [
  {
    name: "reads back what was written, and undefined for what never was",
    async run({ store, reopen }) {
      expect(await store.read("images.json")).toBeUndefined();
      await store.write("images.json", new TextEncoder().encode("one"));
      await store.write("images.json", new TextEncoder().encode("two"));
      expect(new TextDecoder().decode(await store.read("images.json"))).toBe("two");
      if (reopen) expect(new TextDecoder().decode(await (await reopen()).read("images.json"))).toBe("two");
    },
  },
  {
    name: "removes a document for good, and removing a missing one is no error",
    async run({ store, reopen }) {
      await store.write("gone.log", new TextEncoder().encode("bye"));
      await store.write("stays.log", new TextEncoder().encode("hi"));
      await store.remove("gone.log");
      await store.remove("never-written.log");
      expect(await store.read("gone.log")).toBeUndefined();
      expect(new TextDecoder().decode(await store.read("stays.log"))).toBe("hi");
      if (reopen) expect(await (await reopen()).read("gone.log")).toBeUndefined();
    },
  },
];

export function describeMetadataStore(name: string, open: () => Promise<MetadataStoreHarness>): void {
  describe(`metadata store conformance: ${name}`, () => {
    for (const testCase of metadataStoreCases) it(testCase.name, () => runCase(open, testCase));
  });
}
