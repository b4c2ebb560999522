// The distribution client: resolves image references to the linux/386 manifest and config, authenticates the way
// the registry's challenge asks, and streams blobs with retries and Range resume. It stores nothing itself.
export { type Challenge, challengeParam, formatChallenges, isScheme, parseChallenges } from "./challenge.ts";
export {
  type BlobProgress,
  type Credentials,
  type FetchBlobOptions,
  proxyEndpoint,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryEndpoint,
  type RegistryExchange,
  type RegistryRequest,
  type ResolvedImage,
  type ResolvedManifest,
} from "./client.ts";
export {
  type BlobPushProgress,
  type BlobPushStatus,
  type BlobReader,
  DEFAULT_CHUNK_SIZE,
  type PushBlobOptions,
  pushBlob,
  pushManifest,
} from "./push.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.ts";
