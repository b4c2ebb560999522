import { describe, expect, it } from "vitest";
import { previewLocation } from "../preview/index.ts";
import { httpRequest } from "./client.ts";
import { serveHttpConnection } from "./index.ts";

/** A client's end of an in-memory connection that engine/http's own server answers with `handler`. */
function connection(handler: (request: Request) => Response | Promise<Response>) {
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  void serveHttpConnection({ readable: toServer.readable, writable: toClient.writable }, handler);
  return { readable: toClient.readable, writable: toServer.writable };
}

describe("httpRequest", () => {
  it("sends headers as given and a streamed body chunked, and reads a chunked answer", async () => {
    let seen: { cookie: string | null; body: string } | undefined;
    const answer = await httpRequest(
      connection(async (request) => {
        seen = { cookie: request.headers.get("cookie"), body: await request.text() };
        return new Response(new Blob(["he", "llo"]).stream(), { status: 201, headers: { "x-app": "yes" } });
      }),
      {
        method: "POST",
        target: "/form?a=1",
        headers: [
          ["host", "example"],
          ["cookie", "a=b"],
        ],
      },
      new Blob(["name=", "drydock"]).stream(),
    );
    expect(answer.head.status).toBe(201);
    expect(answer.head.headers).toContainEqual(["x-app", "yes"]);
    expect(await new Response(answer.body).text()).toBe("hello");
    expect(seen).toEqual({ cookie: "a=b", body: "name=drydock" });
  });

  it("reads a Content-Length answer and leaves redirects to the caller; HEAD and 304 have no body", async () => {
    const redirect = await httpRequest(
      connection(() => new Response(null, { status: 302, headers: { location: "/login" } })),
      { method: "GET", target: "/", headers: [["host", "example"]] },
    );
    expect(redirect.head.status).toBe(302);
    expect(redirect.head.headers).toContainEqual(["location", "/login"]);
    const head = await httpRequest(
      connection(() => new Response("ignored", { headers: { "content-length": "7" } })),
      { method: "HEAD", target: "/", headers: [["host", "example"]] },
    );
    expect(head.body).toBeNull();
  });

  it("fails clearly when the server closes without answering", async () => {
    const toClient = new TransformStream<Uint8Array, Uint8Array>();
    void toClient.writable.close();
    await expect(
      httpRequest(
        { readable: toClient.readable, writable: new WritableStream() },
        { method: "GET", target: "/", headers: [] },
      ),
    ).rejects.toThrow("the server closed the connection without an answer");
  });
});

describe("previewLocation", () => {
  const base = new URL("http://page.example/preview/8080");
  const app = new URL("http://page.example/dir/page");
  it("moves the app's own paths and URLs under the preview, and leaves other sites alone", () => {
    expect(previewLocation("/login", app, base)).toBe("http://page.example/preview/8080/login");
    expect(previewLocation("next?x=1", app, base)).toBe("http://page.example/preview/8080/dir/next?x=1");
    expect(previewLocation("http://page.example/a", app, base)).toBe("http://page.example/preview/8080/a");
    expect(previewLocation("https://other.example/", app, base)).toBe("https://other.example/");
  });
});
