import { describe, expect, it } from "vitest";
import { type ApiPort, apiOverPort, serveApiOverPort } from "./api-link.ts";

/** The tests run in Node, whose MessagePort types differ from the DOM's the link is shaped after. */
const port = (p: unknown) => p as ApiPort;

describe("an Engine API over a MessagePort", () => {
  it("carries a request's method, headers and body, and the answer's status, headers and body", async () => {
    const channel = new MessageChannel();
    serveApiOverPort(port(channel.port2), async (request) => {
      const body = await request.text();
      return new Response(`${request.method} ${new URL(request.url).pathname} ${request.headers.get("x-a")} ${body}`, {
        status: 201,
        headers: { "api-version": "1.43" },
      });
    });
    const fetchNode = apiOverPort(port(channel.port1), "node2");
    const answer = await fetchNode(
      new Request("http://docker/v1.43/containers/create", { method: "POST", headers: { "x-a": "1" }, body: "{}" }),
    );
    expect(answer.status).toBe(201);
    expect(answer.headers.get("api-version")).toBe("1.43");
    expect(await answer.text()).toBe("POST /v1.43/containers/create 1 {}");
    const empty = await fetchNode(new Request("http://docker/_ping", { method: "HEAD" }));
    expect(empty.status).toBe(201);
    channel.port1.close();
  });

  it("streams a hijacked exchange both ways: stdin in as it is typed, output back as it is made", async () => {
    const channel = new MessageChannel();
    serveApiOverPort(port(channel.port2), async (request) => {
      // An echo: every chunk of the request body comes back upper-cased, before the body has ended.
      const upper = new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) =>
          controller.enqueue(new TextEncoder().encode(new TextDecoder().decode(chunk).toUpperCase())),
      });
      void request.body?.pipeTo(upper.writable);
      return new Response(upper.readable, { headers: { "content-type": "application/vnd.docker.raw-stream" } });
    });
    const fetchNode = apiOverPort(port(channel.port1), "node2");
    const stdin = new TransformStream<Uint8Array, Uint8Array>();
    const answer = await fetchNode(
      new Request("http://docker/exec/x/start", {
        method: "POST",
        body: stdin.readable,
        duplex: "half",
      } as RequestInit),
    );
    const reader = answer.body!.getReader();
    const writer = stdin.writable.getWriter();
    await writer.write(new TextEncoder().encode("hello"));
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("HELLO");
    await writer.write(new TextEncoder().encode("again"));
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("AGAIN");
    await writer.close();
    expect((await reader.read()).done).toBe(true);
    channel.port1.close();
  });

  it("a failing server and a closed link are errors naming the node", async () => {
    const channel = new MessageChannel();
    serveApiOverPort(port(channel.port2), async () => {
      throw new Error("the guest failed");
    });
    const fetchNode = apiOverPort(port(channel.port1), "node3");
    await expect(fetchNode(new Request("http://docker/_ping"))).rejects.toThrow(
      "node3 did not answer: the guest failed",
    );
    fetchNode.close("node rm node3");
    await expect(fetchNode(new Request("http://docker/_ping"))).rejects.toThrow("node3 is gone: node rm node3");
    channel.port1.close();
  });
});
