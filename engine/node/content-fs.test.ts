import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeContentStore } from "../../test/conformance/content-store.ts";
import { describeMetadataStore } from "../../test/conformance/metadata-store.ts";
import { FsContentStore, FsMetadataStore } from "./content-fs.ts";

describeContentStore("node fs", async () => {
  const root = await mkdtemp(join(tmpdir(), "drydock-content-"));
  return {
    store: await FsContentStore.open(root),
    reopen: () => FsContentStore.open(root),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
});

describeMetadataStore("node fs", async () => {
  const root = await mkdtemp(join(tmpdir(), "drydock-metadata-"));
  return {
    store: await FsMetadataStore.open(root),
    reopen: () => FsMetadataStore.open(root),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
});
