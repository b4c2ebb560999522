// The content-addressed blob store: Provider (read by digest), Ingester (write; commit only with the expected size
// and digest), Manager (list, delete, usage), with memory and OPFS implementations here and a Node fs one in
// engine/node/. Metadata stores keep the few mutable documents (image names) beside it.

export { MemoryContentStore, type MemoryContentStoreOptions } from "./memory.ts";
export { checkDocumentName, MemoryMetadataStore, type MetadataStore } from "./metadata.ts";
export { OpfsContentStore, type OpfsContentStoreOptions, type OpfsDirectory, OpfsMetadataStore } from "./opfs.ts";
export {
  BLOB_ALGORITHMS,
  blobNotFound,
  type ContentStore,
  type ContentWriter,
  checkNotTooLong,
  checkSameExpectation,
  checkWrite,
  clampRange,
  type Expected,
  hasContent,
  type Info,
  type Ingester,
  listBlobFiles,
  type Manager,
  type Provider,
  type ReadRange,
  sumUsage,
  type Usage,
  type WriterOptions,
  writeBlob,
  writerClosed,
} from "./store.ts";
