// What the pull benchmark's page asks its worker, and the answers.

export type PullBenchRequest =
  | { op: "pull"; id: number; reference: string; proxy: string; hasher: "portable" | "wasm" }
  | { op: "hash"; id: number; megabytes: number; hasher: "portable" | "wasm" };

export type PullBenchAnswer = { id: number; ms: number; bytes: number } | { id: number; error: string };
