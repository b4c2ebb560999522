// What the pull benchmark's page asks its worker, and the answers.

export type PullBenchRequest =
  /** `offload`: the WebAssembly hashers in the page's hashing worker (web/hash-worker.ts), as the playground pulls. */
  | { op: "pull"; id: number; reference: string; proxy: string; hasher: "portable" | "wasm" | "offload" }
  | { op: "hash"; id: number; megabytes: number; hasher: "portable" | "wasm" | "webcrypto" }
  /** The last pull's layer blobs, read through the proxy and dropped: the network's and the proxy's share. */
  | { op: "fetch"; id: number; proxy: string; cache?: "no-store" }
  /** `megabytes` written to a fresh OPFS file in `chunk`-byte writes, as the content store writes. */
  | { op: "write"; id: number; megabytes: number; chunk: number }
  /** The last pull's layer blobs (read from memory) through DecompressionStream("gzip"). */
  | { op: "gunzip"; id: number };

export type PullBenchAnswer = { id: number; ms: number; bytes: number } | { id: number; error: string };
