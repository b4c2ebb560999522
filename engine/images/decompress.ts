// Layer decompression as web streams: gzip through the platform's DecompressionStream (native in browsers and
// Node), zstd through fzstd (Chromium has no DecompressionStream("zstd")), plain tar as it is.
import { Decompress } from "fzstd";
import type { LayerCompression } from "../oci/index.ts";

function zstdStream(): TransformStream<Uint8Array, Uint8Array> {
  let decoder: Decompress;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      // fzstd may hand out views of its window buffer, which it overwrites later: copy each chunk.
      decoder = new Decompress((chunk) => {
        if (chunk.byteLength > 0) controller.enqueue(chunk.slice());
      });
    },
    transform(chunk) {
      decoder.push(chunk);
    },
    flush() {
      decoder.push(new Uint8Array(0), true);
    },
  });
}

export interface BytePipe {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/** A stream that turns a layer blob's bytes into the layer's tar bytes. */
export function decompressor(compression: LayerCompression): BytePipe {
  switch (compression) {
    case "gzip":
      return new DecompressionStream("gzip") as unknown as BytePipe;
    case "zstd":
      return zstdStream();
    case "none":
      return new TransformStream<Uint8Array, Uint8Array>();
  }
}
