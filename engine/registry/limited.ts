// Reading a registry's small answers (manifests, tokens, error bodies) within a byte limit that holds while they
// stream: a registry that sends no Content-Length, or a false one, is cut off at the limit, never read whole first.
import { EngineError } from "../errors.ts";

/**
 * A response's body, at most `limit` bytes: refused at once when Content-Length says more, and cancelled as soon as
 * the bytes that arrive pass it.
 * @example
 * const bytes = await readLimited(response, 4 * 1024 * 1024, "the manifest of alpine:3.20");
 */
export async function readLimited(response: Response, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw new EngineError("invalidArgument", `${what} is ${declared} bytes, more than the ${limit} allowed`);
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new EngineError("invalidArgument", `${what} is more than the ${limit} bytes allowed`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
