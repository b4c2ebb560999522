import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { containerJson, cpuPercent, createOptions, parseSignal } from "./containers.ts";
import { parseFilters } from "./filters.ts";
import { registryAuth } from "./images.ts";
import { splitHijackedBody, streamContentType } from "./streams.ts";

function refusal(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (isEngineError(error, "invalidArgument")) return error.message;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("createOptions: Docker's create body as run options", () => {
  it("maps what the docker CLI sends for run -it -m --cpus --pids-limit --rm --name", () => {
    const options = createOptions(
      {
        Image: "busybox",
        Cmd: ["sh"],
        Entrypoint: null,
        Env: ["A=b"],
        WorkingDir: "/tmp",
        User: "1000:1000",
        Hostname: "",
        Tty: true,
        OpenStdin: true,
        HostConfig: {
          Memory: 33554432,
          NanoCpus: 500000000,
          PidsLimit: 20,
          AutoRemove: true,
          NetworkMode: "default",
          PortBindings: {},
          Binds: null,
          ConsoleSize: [40, 120],
        },
      },
      "/web",
    );
    expect(options).toEqual({
      cmd: ["sh"],
      env: ["A=b"],
      workdir: "/tmp",
      user: "1000:1000",
      tty: true,
      openStdin: true,
      memory: 33554432,
      cpus: 0.5,
      pidsLimit: 20,
      rm: true,
      consoleSize: { rows: 40, cols: 120 },
      name: "web",
      networkMode: "default",
    });
  });

  it("reads CpuQuota/CpuPeriod as a CPU share and --entrypoint '' as no entrypoint", () => {
    expect(createOptions({ HostConfig: { CpuQuota: 25000, CpuPeriod: 100000 } }, undefined).cpus).toBe(0.25);
    expect(createOptions({ Entrypoint: [""], Cmd: ["ls"] }, undefined)).toEqual({ entrypoint: [], cmd: ["ls"] });
  });

  it("reads -v, --mount and --tmpfs into mount requests, and refuses a bad one in dockerd's words", () => {
    const mounts = createOptions(
      {
        Volumes: { "/cache": {} },
        HostConfig: {
          Binds: ["data:/var/lib/db:ro", "/srv/site:/site"],
          Mounts: [{ Type: "tmpfs", Target: "/scratch", TmpfsOptions: { SizeBytes: 1048576 } }],
          Tmpfs: { "/run": "size=64m" },
        },
      },
      "",
    ).mounts;
    expect(mounts?.map((m) => [m.type, m.source, m.target, m.readonly])).toEqual([
      ["volume", "data", "/var/lib/db", true],
      ["bind", "/srv/site", "/site", false],
      ["tmpfs", "", "/scratch", false],
      ["tmpfs", "", "/run", false],
      ["volume", "", "/cache", false],
    ]);
    expect(refusal(() => createOptions({ HostConfig: { Binds: ["data:relative"] } }, ""))).toMatch(
      /^invalid volume specification: 'data:relative'/,
    );
    expect(refusal(() => createOptions({ HostConfig: { Binds: ["aa:/x", "bb:/x"] } }, ""))).toBe(
      "Duplicate mount point: /x",
    );
  });

  it("reads --restart and --volumes-from, refuses bad values, saying what is wrong", () => {
    expect(createOptions({ HostConfig: { VolumesFrom: ["web", "db:ro"] } }, "").volumesFrom).toEqual(["web", "db:ro"]);
    expect(refusal(() => createOptions({ HostConfig: { VolumesFrom: "web" } }, ""))).toBe(
      "HostConfig.VolumesFrom must be a list of strings",
    );
    // --restart: each policy as the CLI sends it; what it sends without --restart is no policy.
    expect(createOptions({ HostConfig: { RestartPolicy: { Name: "always" } } }, "").restartPolicy).toEqual({
      name: "always",
      maximumRetryCount: 0,
    });
    expect(
      createOptions({ HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 } } }, "").restartPolicy,
    ).toEqual({ name: "on-failure", maximumRetryCount: 3 });
    expect(
      createOptions({ HostConfig: { RestartPolicy: { Name: "no", MaximumRetryCount: 0 } } }, "").restartPolicy,
    ).toBeUndefined();
    expect(createOptions({ HostConfig: { RestartPolicy: { Name: "" } } }, "").restartPolicy).toBeUndefined();
    expect(refusal(() => createOptions({ HostConfig: { RestartPolicy: { Name: "weekly" } } }, ""))).toMatch(
      /unknown policy 'weekly'/,
    );
    expect(refusal(() => createOptions({ Cmd: [1, 2] }, ""))).toBe("Cmd must be a list of strings");
    expect(
      refusal(() =>
        createOptions({ HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "::1", HostPort: "80" }] } } }, ""),
      ),
    ).toMatch(/no IPv6/);
    expect(refusal(() => createOptions({ HostConfig: { PortBindings: { web: [] } } }, ""))).toBe(
      'invalid port specification: "web"',
    );
  });

  it("reads what the docker CLI sends for --network, --network-alias, --ip, -p, -P, --add-host and --dns", () => {
    const options = createOptions(
      {
        Image: "busybox",
        HostConfig: {
          NetworkMode: "backend",
          PortBindings: {
            "80/tcp": [{ HostIp: "", HostPort: "8080" }],
            "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }],
          },
          PublishAllPorts: true,
          ExtraHosts: ["db:10.0.0.5"],
          Dns: ["10.0.0.2"],
        },
        NetworkingConfig: {
          EndpointsConfig: { backend: { Aliases: ["api"], IPAMConfig: { IPv4Address: "172.18.0.9" } } },
        },
      },
      "",
    );
    expect(options).toMatchObject({
      networkMode: "backend",
      endpoints: { backend: { aliases: ["api"], ipv4Address: "172.18.0.9" } },
      portBindings: {
        "80/tcp": [{ hostIp: "", hostPort: "8080" }],
        "53/udp": [{ hostIp: "127.0.0.1", hostPort: "" }],
      },
      publishAllPorts: true,
      extraHosts: ["db:10.0.0.5"],
      dns: ["10.0.0.2"],
    });
  });
});

describe("signals, filters, auth", () => {
  it("parses signals as docker kill --signal takes them", () => {
    expect([parseSignal(undefined), parseSignal("TERM"), parseSignal("SIGUSR1"), parseSignal("2")]).toEqual([
      9, 15, 10, 2,
    ]);
    expect(refusal(() => parseSignal("NOPE"))).toBe("Invalid signal: NOPE");
  });

  it("reads filters in both of Docker's forms", () => {
    expect(parseFilters('{"status":["exited"],"name":{"web":true}}')).toEqual({ status: ["exited"], name: ["web"] });
    expect(refusal(() => parseFilters("{"))).toMatch(/invalid filters/);
  });

  it("decodes X-Registry-Auth (base64url JSON); empty means none", () => {
    const header = btoa(JSON.stringify({ username: "me", password: "pw?>", serveraddress: "r" }))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect(registryAuth(header)).toEqual({ username: "me", password: "pw?>" });
    expect(registryAuth(btoa("{}"))).toBeUndefined();
    expect(registryAuth(undefined)).toBeUndefined();
    expect(refusal(() => registryAuth("!!!"))).toMatch(/X-Registry-Auth/);
  });
});

describe("stream framing", () => {
  it("names the content type as dockerd does per API version", () => {
    expect(streamContentType(false, "1.43")).toBe("application/vnd.docker.multiplexed-stream");
    expect(streamContentType(false, "1.41")).toBe("application/vnd.docker.raw-stream");
    expect(streamContentType(true, "1.43")).toBe("application/vnd.docker.raw-stream");
  });

  it("splits a hijacked exec start into its JSON config and the stdin that follows on the same stream", async () => {
    const config = JSON.stringify({ Detach: false, Tty: false });
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(new TextEncoder().encode(`${config}typed`));
        controller.enqueue(new TextEncoder().encode(" more"));
        controller.close();
      },
    });
    const request = new Request("http://docker/exec/x/start", {
      method: "POST",
      body,
      headers: { "content-length": String(config.length) },
      duplex: "half",
    } as RequestInit);
    const split = await splitHijackedBody(request);
    expect(split.config).toEqual({ Detach: false, Tty: false });
    expect(await new Response(split.stdin).text()).toBe("typed more");
  });
});

describe("containerJson: a container as docker ps lists it", () => {
  it("quotes an argument with a space in Command, as dockerd does", () => {
    const json = containerJson({
      id: "a".repeat(64),
      name: "web",
      image: "busybox",
      imageId: "sha256:b",
      runtime: "drydock",
      restarting: false,
      restartCount: 0,
      command: ["sh", "-c", "echo hi; sleep 60"],
      status: "exited",
      created: Date.now(),
      labels: { tier: "web" },
      exposedPorts: ["80/tcp"],
      network: { mode: "default", networks: [], ports: [] },
    });
    expect(json.Command).toBe("sh -c 'echo hi; sleep 60'");
    expect(json.Names).toEqual(["/web"]);
    expect(json.Status).toMatch(/^Exited \(0\) /);
    expect(json.Labels).toEqual({ tier: "web" });
    // An exited container has no network endpoint: nothing is listed, as with dockerd.
    expect(json.Ports).toEqual([]);
  });

  it("lists what a running container exposes, as the CLI prints 80/tcp", () => {
    const json = containerJson({
      id: "b".repeat(64),
      name: "web",
      image: "nginx",
      imageId: "sha256:c",
      runtime: "drydock",
      restarting: false,
      restartCount: 0,
      command: ["nginx"],
      status: "running",
      created: Date.now(),
      labels: {},
      exposedPorts: ["80/tcp", "53/udp"],
      network: {
        mode: "default",
        networks: [],
        ports: [{ proto: "tcp", containerPort: 80, hostIp: "0.0.0.0", hostPort: 8080 }],
      },
    });
    // Published with its host side (the CLI prints 0.0.0.0:8080->80/tcp), exposed only as the port.
    expect(json.Ports).toEqual([
      { IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
      { PrivatePort: 53, Type: "udp" },
    ]);
  });
});

describe("cpuPercent: top's C column", () => {
  it.each([
    [50, 200, 25],
    [0, 1000, 0],
    [500, 100, 99],
    [10, 0, 0],
  ])("%i ticks of CPU over %i ticks of life is %i%%", (cpu, age, percent) => {
    expect(cpuPercent(cpu, age)).toBe(percent);
  });
});

describe("createOptions: labels and exposed ports", () => {
  it("keeps --label and --expose", () => {
    const options = createOptions({ Image: "busybox", Labels: { a: "1" }, ExposedPorts: { "80/tcp": {} } }, undefined);
    expect(options.labels).toEqual({ a: "1" });
    expect(options.exposedPorts).toEqual(["80/tcp"]);
  });

  it("refuses labels that are not strings", () => {
    expect(refusal(() => createOptions({ Image: "busybox", Labels: { a: 1 } }, undefined))).toMatch(/Labels/);
  });
});
