// pinnedFetch: the connection goes to the address the proxy checked, whatever DNS would say at connect time.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pinnedFetch } from "./node.ts";

let server: ReturnType<typeof createServer>;
let port: number;
const hosts: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    hosts.push(request.headers.host ?? "");
    response.writeHead(200, { "content-type": "text/plain" }).end("pinned");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("pinnedFetch", () => {
  it("connects to the checked address, not to wherever the name resolves, and keeps the name for the server", async () => {
    // `.invalid` never resolves (RFC 6761): only the pinned address can have answered.
    const response = await pinnedFetch(new Request(`http://registry.invalid:${port}/v2/`), { address: "127.0.0.1" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("pinned");
    expect(hosts).toEqual([`registry.invalid:${port}`]);
  });

  it("does not follow redirects itself (each hop is checked by the proxy)", async () => {
    const redirecting = createServer((_request, response) => {
      response.writeHead(307, { location: "http://10.0.0.1/elsewhere" }).end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve));
    try {
      const { port: other } = redirecting.address() as AddressInfo;
      const response = await pinnedFetch(new Request(`http://registry.invalid:${other}/v2/x`), {
        address: "127.0.0.1",
      });
      expect(response.status).toBe(307);
      expect(response.headers.get("location")).toBe("http://10.0.0.1/elsewhere");
    } finally {
      await new Promise<void>((resolve) => redirecting.close(() => resolve()));
    }
  });
});
