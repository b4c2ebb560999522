// The /networks routes over Networking with a fake guest: dockerd's shapes, statuses and words.
import { describe, expect, it } from "vitest";
import type { ContainerService } from "../container-service.ts";
import { ImageService } from "../image-service.ts";
import { FakeGuestNetwork } from "../network/fake-guest.ts";
import { Networking } from "../network/index.ts";
import { createApiApp } from "./app.ts";

async function setUp() {
  const guest = new FakeGuestNetwork();
  const networking = new Networking({ guest });
  const web = { id: "a".repeat(64), name: "web", running: false };
  const containers = {
    networking,
    connect: (network: string, ref: string, config: { aliases: string[] }) => {
      if (ref !== "web") return Promise.reject(Object.assign(new Error(`no such container: ${ref}`)));
      return networking.connect(network, web, config);
    },
    disconnect: (network: string) => networking.disconnect(network, web),
  } as unknown as ContainerService;
  const app = createApiApp({ images: await ImageService.open(), containers });
  const call = async (method: string, path: string, body?: unknown) => {
    const answer = await app.fetch(
      new Request(`http://docker/v1.43${path}`, {
        method,
        ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      }),
    );
    const text = await answer.text();
    return { status: answer.status, body: text ? JSON.parse(text) : undefined };
  };
  return { guest, networking, web, call };
}

describe("/networks", () => {
  it("lists bridge, host and none in dockerd's shape, and filters them", async () => {
    const { call } = await setUp();
    const { status, body } = await call("GET", "/networks");
    expect(status).toBe(200);
    expect(body.map((n: { Name: string }) => n.Name)).toEqual(["bridge", "host", "none"]);
    expect(body[0]).toMatchObject({
      Driver: "bridge",
      Scope: "local",
      IPAM: { Driver: "default", Config: [{ Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }] },
      Options: { "com.docker.network.bridge.name": "docker0" },
    });
    await call("POST", "/networks/create", { Name: "app", Labels: { team: "a" } });
    const custom = await call("GET", `/networks?filters=${encodeURIComponent('{"type":["custom"]}')}`);
    expect(custom.body.map((n: { Name: string }) => n.Name)).toEqual(["app"]);
    const labelled = await call("GET", `/networks?filters=${encodeURIComponent('{"label":["team=a"]}')}`);
    expect(labelled.body).toHaveLength(1);
    const bad = await call("GET", `/networks?filters=${encodeURIComponent('{"colour":["red"]}')}`);
    expect(bad).toEqual({ status: 400, body: { message: "invalid filter 'colour'" } });
  });

  it("creates (201), refuses a taken name (409) and an overlapping subnet (403), inspects (404 unknown)", async () => {
    const { call, guest } = await setUp();
    const created = await call("POST", "/networks/create", {
      Name: "lab",
      Driver: "bridge",
      IPAM: { Driver: "default", Config: [{ Subnet: "10.5.0.0/16", Gateway: "10.5.0.1", IPRange: "10.5.1.0/24" }] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ Id: expect.stringMatching(/^[0-9a-f]{64}$/), Warning: "" });
    expect(guest.calls[0]).toBe(`createBridge br-${created.body.Id.slice(0, 12)} 10.5.0.1/16`);
    expect(await call("POST", "/networks/create", { Name: "lab" })).toEqual({
      status: 409,
      body: { message: "network with name lab already exists" },
    });
    expect(
      await call("POST", "/networks/create", { Name: "clash", IPAM: { Config: [{ Subnet: "10.5.9.0/24" }] } }),
    ).toEqual({
      status: 403,
      body: { message: "invalid pool request: Pool overlaps with other one on this address space" },
    });
    const inspected = await call("GET", "/networks/lab");
    expect(inspected.body).toMatchObject({
      Name: "lab",
      Id: created.body.Id,
      IPAM: { Config: [{ Subnet: "10.5.0.0/16", IPRange: "10.5.1.0/24", Gateway: "10.5.0.1" }] },
      Containers: {},
    });
    expect(await call("GET", "/networks/nosuch")).toEqual({
      status: 404,
      body: { message: "network nosuch not found" },
    });
  });

  it("removes (204), refuses a predefined network (403) and one in use (409), prunes the unused", async () => {
    const { call, networking, web } = await setUp();
    expect(await call("DELETE", "/networks/host")).toEqual({
      status: 403,
      body: { message: "host is a pre-defined network and cannot be removed" },
    });
    await call("POST", "/networks/create", { Name: "busy" });
    await call("POST", "/networks/create", { Name: "idle" });
    await call("POST", "/networks/create", { Name: "gone" });
    networking.register(
      web.id,
      {
        networkMode: "busy",
        endpoints: {},
        portBindings: {},
        publishAllPorts: false,
        extraHosts: [],
        dns: [],
        dnsSearch: [],
        dnsOptions: [],
      },
      () => {
        throw new Error("no peer");
      },
    );
    await networking.setUp(
      {
        id: web.id,
        name: "web",
        hostname: "web",
        exposedPorts: [],
        request: {
          networkMode: "busy",
          endpoints: {},
          portBindings: {},
          publishAllPorts: false,
          extraHosts: [],
          dns: [],
          dnsSearch: [],
          dnsOptions: [],
        },
      },
      () => {
        throw new Error("no peer");
      },
    );
    const inUse = await call("DELETE", "/networks/busy");
    expect(inUse.status).toBe(409);
    expect(inUse.body.message).toBe(
      `error while removing network: network busy has active endpoints (name:"web" id:"${"a".repeat(12)}")`,
    );
    const busy = await call("GET", "/networks/busy");
    expect(busy.body.Containers[web.id]).toMatchObject({
      Name: "web",
      IPv4Address: "172.18.0.2/16",
      MacAddress: "02:42:ac:12:00:02",
    });
    expect((await call("DELETE", "/networks/gone")).status).toBe(204);
    expect(await call("POST", "/networks/prune")).toEqual({ status: 200, body: { NetworksDeleted: ["idle"] } });
    expect((await call("GET", "/networks")).body.map((n: { Name: string }) => n.Name)).toEqual([
      "bridge",
      "host",
      "none",
      "busy",
    ]);
  });

  it("connects and disconnects a container (200), refusing a second connect and a network it is not on (403)", async () => {
    const { call, networking, web } = await setUp();
    await call("POST", "/networks/create", { Name: "back" });
    networking.register(
      web.id,
      {
        networkMode: "default",
        endpoints: {},
        portBindings: {},
        publishAllPorts: false,
        extraHosts: [],
        dns: [],
        dnsSearch: [],
        dnsOptions: [],
      },
      () => {
        throw new Error("no peer");
      },
    );
    const connected = await call("POST", "/networks/back/connect", {
      Container: "web",
      EndpointConfig: { Aliases: ["api"], IPAMConfig: { IPv4Address: "172.18.0.50" } },
    });
    expect(connected.status).toBe(200);
    expect(networking.networksOf(web.id).map((n) => [n.network.name, n.config])).toEqual([
      ["bridge", { aliases: [] }],
      ["back", { aliases: ["api"], ipv4Address: "172.18.0.50" }],
    ]);
    expect(await call("POST", "/networks/back/connect", { Container: "web" })).toEqual({
      status: 403,
      body: { message: "endpoint with name web already exists in network back" },
    });
    expect((await call("POST", "/networks/back/disconnect", { Container: "web" })).status).toBe(200);
    expect(await call("POST", "/networks/back/disconnect", { Container: "web" })).toEqual({
      status: 403,
      body: { message: `container ${"a".repeat(12)} is not connected to network back` },
    });
    expect((await call("POST", "/networks/nosuch/connect", { Container: "web" })).status).toBe(404);
  });
});
