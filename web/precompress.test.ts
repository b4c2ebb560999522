import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pickEncoding, precompressDirectory, servePrecompressed } from "./precompress.ts";

describe("pickEncoding", () => {
  it("prefers brotli, then gzip, among what the client accepts and what is there", () => {
    expect(pickEncoding("gzip, deflate, br, zstd", ["br", "gzip"])).toBe("br");
    expect(pickEncoding("gzip, deflate", ["br", "gzip"])).toBe("gzip");
    expect(pickEncoding("gzip, br", ["gzip"])).toBe("gzip");
    expect(pickEncoding("*", ["gzip"])).toBe("gzip");
  });

  it("sends identity when nothing fits or a coding is refused with q=0", () => {
    expect(pickEncoding(undefined, ["br", "gzip"])).toBeUndefined();
    expect(pickEncoding("identity", ["br", "gzip"])).toBeUndefined();
    expect(pickEncoding("br;q=0, deflate", ["br", "gzip"])).toBeUndefined();
    expect(pickEncoding("BR;q=0.5", ["br"])).toBe("br");
  });
});

describe("precompressed build files", () => {
  let dir: string;
  let server: Server;
  let port: number;
  const wasm = new Uint8Array(64 * 1024).map((_, i) => (i % 251 === 0 ? i & 0xff : 0));
  const state = new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drydock-precompress-"));
    await mkdir(join(dir, "assets"));
    await mkdir(join(dir, "guest"));
    await writeFile(join(dir, "assets/v86-abc.wasm"), wasm);
    await writeFile(join(dir, "assets/tiny.js"), "export {};\n");
    await writeFile(join(dir, "guest/state-abc.v86state.zst"), state);
    const handle = servePrecompressed(dir, "/");
    server = createServer((req, res) =>
      handle(req, res, () => {
        res.statusCode = 404;
        res.end("fell through");
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, acceptEncoding?: string) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
      (resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port, path, headers: acceptEncoding ? { "accept-encoding": acceptEncoding } : {} },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
            );
          },
        );
        req.on("error", reject);
        req.end();
      },
    );

  it("writes smaller brotli and gzip copies of compressible files, and none of tiny or already compressed ones", async () => {
    expect(await precompressDirectory(dir)).toEqual([join(dir, "assets/v86-abc.wasm")]);
    const br = await readFile(join(dir, "assets/v86-abc.wasm.br"));
    expect(br.length).toBeLessThan(wasm.length / 4);
    expect(new Uint8Array(brotliDecompressSync(br))).toEqual(wasm);
    expect(new Uint8Array(gunzipSync(await readFile(join(dir, "assets/v86-abc.wasm.gz"))))).toEqual(wasm);
    await expect(readFile(join(dir, "guest/state-abc.v86state.zst.br"))).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(dir, "assets/tiny.js.gz"))).rejects.toThrow(/ENOENT/);
  });

  it("serves the copy the browser accepts, with the file's type and a long cache", async () => {
    const br = await get("/assets/v86-abc.wasm", "gzip, deflate, br, zstd");
    expect(br.status).toBe(200);
    expect(br.headers["content-encoding"]).toBe("br");
    expect(br.headers["content-type"]).toBe("application/wasm");
    expect(br.headers.vary).toBe("Accept-Encoding");
    expect(br.headers["cache-control"]).toContain("immutable");
    expect(new Uint8Array(brotliDecompressSync(br.body))).toEqual(wasm);
    const gz = await get("/assets/v86-abc.wasm", "gzip");
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(new Uint8Array(gunzipSync(gz.body))).toEqual(wasm);
  });

  it("leaves a request that accepts no encoding to the static server", async () => {
    const plain = await get("/assets/v86-abc.wasm");
    expect(plain.status).toBe(404);
    expect(plain.body.toString()).toBe("fell through");
  });

  it("serves the zstd state as it is, typed, never compressed again", async () => {
    const zst = await get("/guest/state-abc.v86state.zst", "gzip, br");
    expect(zst.status).toBe(200);
    expect(zst.headers["content-encoding"]).toBeUndefined();
    expect(zst.headers["content-type"]).toBe("application/octet-stream");
    expect(new Uint8Array(zst.body)).toEqual(state);
  });

  it("serves nothing outside the build", async () => {
    const outside = await get("/../../etc/passwd.js", "br");
    expect(outside.status).toBe(404);
  });
});
