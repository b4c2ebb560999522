// Conformance suite for metadata stores (memory, Node fs, OPFS): small documents replaced atomically.
import { describe, expect, it } from "vitest";
import type { MetadataStore } from "../../engine/content/index.ts";

export interface MetadataStoreHarness {
  store: MetadataStore;
  reopen?: () => Promise<MetadataStore>;
  dispose?: () => Promise<void>;
}

export function describeMetadataStore(name: string, open: () => Promise<MetadataStoreHarness>): void {
  describe(`metadata store conformance: ${name}`, () => {
    it("reads back what was written, and undefined for what never was", async () => {
      const { store, reopen, dispose } = await open();
      try {
        expect(await store.read("images.json")).toBeUndefined();
        await store.write("images.json", new TextEncoder().encode("one"));
        await store.write("images.json", new TextEncoder().encode("two"));
        expect(new TextDecoder().decode(await store.read("images.json"))).toBe("two");
        if (reopen) expect(new TextDecoder().decode(await (await reopen()).read("images.json"))).toBe("two");
      } finally {
        await dispose?.();
      }
    });
  });
}
