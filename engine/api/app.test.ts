// The API app over an image service in memory: negotiation headers, versioned paths, errors, without any socket.
import { describe, expect, it } from "vitest";
import { ImageService } from "../image-service.ts";
import { createApiApp } from "./app.ts";
import { API_VERSION } from "./version.ts";

const app = createApiApp({ images: await ImageService.open() });
const get = (path: string, init?: RequestInit) => app.fetch(new Request(`http://docker${path}`, init));

describe("API app", () => {
  it("answers /_ping with OK and the API version, on GET and HEAD", async () => {
    const ping = await get("/_ping");
    expect(ping.status).toBe(200);
    expect(await ping.text()).toBe("OK");
    expect(ping.headers.get("Api-Version")).toBe(API_VERSION);
    const head = await get("/_ping", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("Api-Version")).toBe(API_VERSION);
  });

  it("serves the same routes on versioned and unversioned paths", async () => {
    for (const path of ["/version", "/v1.41/version", `/v${API_VERSION}/version`]) {
      const answer = await get(path);
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { ApiVersion: string }).ApiVersion).toBe(API_VERSION);
    }
    expect(await (await get("/v1.41/images/json")).json()).toEqual([]);
    expect(await (await get("/containers/json?all=1")).json()).toEqual([]);
  });

  it("refuses a too-new version with Docker's 400 and message, with the header still set", async () => {
    const answer = await get("/v1.99/version");
    expect(answer.status).toBe(400);
    expect(answer.headers.get("Api-Version")).toBe(API_VERSION);
    expect(await answer.json()).toEqual({
      message: `client version 1.99 is too new. Maximum supported API version is ${API_VERSION}`,
    });
  });

  it("maps engine errors to Docker's statuses and words", async () => {
    const missing = await get("/images/127.0.0.1:5000/nosuch:latest/json");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: "No such image: 127.0.0.1:5000/nosuch:latest" });
    const removed = await get("/v1.41/images/nosuch", { method: "DELETE" });
    expect(removed.status).toBe(404);
    const pull = await get("/images/create", { method: "POST" });
    expect(pull.status).toBe(400);
    const unknown = await get("/nowhere");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ message: "page not found" });
  });
});

describe("a subscriber that does not keep up", () => {
  it("loses events past its buffer of 1024 instead of growing the engine's memory, as dockerd's does", async () => {
    const images = await ImageService.open();
    const events = await createApiApp({ images }).fetch(new Request("http://docker/events"));
    for (let i = 0; i < 5000; i++) {
      images.events.emit({ type: "image", action: "tag", id: `sha256:${i}`, attributes: { name: `app:${i}` } });
    }
    const reader = events.body!.getReader();
    const decoder = new TextDecoder();
    let lines = "";
    // Everything queued is there at once; the rest was dropped. A later event is delivered again once there is room.
    for (let text = ""; !lines.includes('"app:1023"'); lines += text) {
      const { value } = await reader.read();
      text = decoder.decode(value);
    }
    images.events.emit({ type: "image", action: "tag", id: "sha256:last", attributes: { name: "app:last" } });
    const { value } = await reader.read();
    lines += decoder.decode(value);
    expect(lines.trim().split("\n").length).toBe(1025);
    expect(lines).toContain('"app:last"');
    expect(lines).not.toContain('"app:1024"');
    await reader.cancel();
  });
});
