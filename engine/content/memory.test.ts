import { describeContentStore } from "../../test/conformance/content-store.ts";
import { describeMetadataStore } from "../../test/conformance/metadata-store.ts";
import { MemoryContentStore } from "./memory.ts";
import { MemoryMetadataStore } from "./metadata.ts";

describeContentStore("memory", async () => ({ store: new MemoryContentStore() }));
describeMetadataStore("memory", async () => ({ store: new MemoryMetadataStore() }));
