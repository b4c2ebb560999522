import { describe, expect, it } from "vitest";
import { createOptions } from "../api/containers.ts";
import { encodeFrame } from "../conventions/index.ts";
import { isEngineError } from "../errors.ts";
import { validateRunOptions } from "../runtime/index.ts";
import { type ApiTransport, type CliIO, runCli } from "./index.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  requests: string[];
}

/** Runs the CLI against `handler` (a fake daemon) with pipes for stdio. */
async function cli(
  argv: string[],
  handler: (request: Request) => Response | Promise<Response> = () => new Response(null, { status: 500 }),
): Promise<Run> {
  const chunks = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const sink = (into: Uint8Array[]) => new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk) });
  const io: CliIO = {
    stdin: new ReadableStream({ start: (controller) => controller.close() }),
    stdout: sink(chunks.stdout),
    stderr: sink(chunks.stderr),
    isTTY: { stdin: false, stdout: false },
    env: {},
    cwd: "/",
    size: () => undefined,
    onResize: () => () => {},
    setRawMode: async () => {},
  };
  const requests: string[] = [];
  const transport: ApiTransport = async (request) => {
    const url = new URL(request.url);
    requests.push(`${request.method} ${url.pathname}${url.search}`);
    if (url.pathname === "/_ping") return new Response("OK", { headers: { "api-version": "1.43" } });
    return handler(request);
  };
  const code = await runCli(argv, io, transport);
  const decode = (parts: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(parts));
  return { code, stdout: decode(chunks.stdout), stderr: decode(chunks.stderr), requests };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("runCli", () => {
  it("docker --help lists every verb from its descriptor; a verb's --help shows its options", async () => {
    const root = await cli(["--help"]);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/^Usage: {2}docker \[OPTIONS\] COMMAND$/m);
    for (const verb of ["run", "ps", "exec", "logs", "images", "rmi", "pull", "inspect", "stats", "version"])
      expect(root.stdout).toMatch(new RegExp(`^  ${verb} +\\S`, "m"));
    expect(root.stdout).toMatch(/^ {2}system +Manage Docker$/m);
    const ps = await cli(["ps", "--help"]);
    expect(ps.stdout).toContain("Usage:  docker ps [OPTIONS]\n\nList containers\n\nOptions:\n  -a, --all ");
    expect(ps.requests).toEqual([]);
    const run = await cli(["run", "--help"]);
    expect(run.stdout).toMatch(/^ {2}-h, --hostname string +Container host name$/m);
  });

  it("usage errors: unknown verb (1), unknown flag (125), missing argument (1)", async () => {
    expect(await cli(["nosuch"])).toMatchObject({
      code: 1,
      stderr: "docker: 'nosuch' is not a docker command.\nSee 'docker --help'\n",
    });
    expect(await cli(["rename", "a", "b"])).toMatchObject({
      code: 1,
      stderr:
        "docker: 'rename' is a docker command that Drydock does not have yet.\nSee 'docker --help' for the ones it has.\n",
    });
    expect(await cli(["ps", "--foo"])).toMatchObject({
      code: 125,
      stderr: "unknown flag: --foo\nSee 'docker ps --help'.\n",
    });
    const missing = await cli(["run"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^"docker run" requires at least 1 argument\.\nSee 'docker run --help'\.\n\nUsage: {2}docker run \[OPTIONS\] IMAGE/,
    );
  });

  it("ps renders docker's table from the API's list", async () => {
    const created = Math.floor(Date.now() / 1000) - 5;
    const result = await cli(["ps", "-a"], (request) => {
      expect(new URL(request.url).searchParams.get("all")).toBe("1");
      return json([
        {
          Id: "84c38e09019ad74b9",
          Names: ["/web"],
          Image: "busybox",
          ImageID: "sha256:2ced",
          Command: "sleep 1000",
          Created: created,
          State: "exited",
          Status: "Exited (3) 2 seconds ago",
        },
      ]);
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      "CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS                     PORTS     NAMES\n" +
        '84c38e09019a   busybox   "sleep 1000"   5 seconds ago   Exited (3) 2 seconds ago             web\n',
    );
  });

  it("daemon errors: docker's wording, and 'No such container' for a missing one", async () => {
    const stop = await cli(["stop", "web"], () => json({ message: "No such container: web" }, 404));
    expect(stop).toMatchObject({ code: 1, stderr: "Error response from daemon: No such container: web\n" });
    const logs = await cli(["logs", "web"], () => json({ message: "No such container: web" }, 404));
    expect(logs).toMatchObject({ code: 1, stderr: "Error: No such container: web\n" });
  });

  it("run: -p, -v, --mount and --network reach the daemon, which says what is wrong (not 'unknown flag')", async () => {
    // The daemon's side is the API's own create translation, so the words are the ones a learner sees.
    const daemon = async (request: Request) => {
      try {
        validateRunOptions(createOptions((await request.json()) as Record<string, unknown>, undefined));
        return json({ Id: "c1", Warnings: [] }, 201);
      } catch (error) {
        if (isEngineError(error, "invalidArgument")) return json({ message: error.message }, 400);
        throw error;
      }
    };
    const cases: [string[], RegExp][] = [
      [["-p", "127.0.0.1:8080:80/sctp"], /Drydock's port proxy forwards tcp and udp, not sctp/],
      [["-v", "data:relative"], /invalid volume specification: 'data:relative'/],
      [["--mount", "type=volume,source=x,target=/data"], /volume name is too short/],
      [["--mount", "type=bind,source=tmp,target=/data"], /mount path must be absolute/],
      [["--network", "container:web", "--hostname", "x"], /conflicting options: hostname and the network mode/],
      [["--dns", "resolver"], /resolver is not an ip address/],
    ];
    for (const [flags, message] of cases) {
      const result = await cli(["create", ...flags, "busybox"], daemon);
      expect(result.stderr).not.toContain("unknown");
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(125);
    }
    // What the flags send is what the daemon reads.
    for (const flags of [
      ["--network", "none"],
      ["-p", "8080:80", "-P"],
      ["--network", "app", "--network-alias", "api", "--ip", "172.18.0.9"],
    ]) {
      expect((await cli(["create", ...flags, "busybox"], daemon)).stdout).toBe("c1\n");
    }
    // Client-side refusals, in docker's words.
    expect((await cli(["create", "-p", "80:web", "busybox"], daemon)).stderr).toMatch(
      /^docker: invalid containerPort: web\./,
    );
    expect((await cli(["create", "--network-alias", "api", "busybox"], daemon)).stderr).toMatch(
      /network-scoped alias is supported only for containers in user defined networks/,
    );
  });

  it("system prune -f: stopped containers, dangling images and build cache, with docker's report", async () => {
    const result = await cli(["system", "prune", "-f"], (request) => {
      const path = new URL(request.url).pathname.replace(/^\/v1\.43/, "");
      if (path === "/containers/prune") return json({ ContainersDeleted: ["c1"], SpaceReclaimed: 4096 });
      if (path === "/images/prune")
        return json({ ImagesDeleted: [{ Untagged: "old:1" }, { Deleted: "sha256:aa" }], SpaceReclaimed: 1000 });
      if (path === "/build/prune") return json({ CachesDeleted: null, SpaceReclaimed: 0 });
      return json({ message: "page not found" }, 404);
    });
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toBe(
      "Deleted Containers:\nc1\n\nDeleted Images:\nuntagged: old:1\ndeleted: sha256:aa\n\nTotal reclaimed space: 5.096kB\n",
    );
    expect(result.requests.filter((r) => r.startsWith("POST")).map((r) => r.split("?")[0])).toEqual([
      "POST /v1.43/containers/prune",
      "POST /v1.43/images/prune",
      "POST /v1.43/build/prune",
    ]);
    // Without -f it asks, and "no" (here: stdin at its end) removes nothing.
    const asked = await cli(["system", "prune"]);
    expect(asked.stdout).toContain("WARNING! This will remove:\n  - all stopped containers\n  - all dangling images");
    expect(asked.requests.filter((r) => r.startsWith("POST"))).toEqual([]);
  });

  it("create: the confinement flags as Docker's HostConfig", async () => {
    let body: unknown;
    const result = await cli(
      [
        ...["create", "--cap-add", "net_admin", "--cap-drop", "ALL", "--privileged", "--read-only"],
        ...["--security-opt", "no-new-privileges", "--device", "/dev/kmsg:r", "--device", "/dev/ttyS1:/dev/serial"],
        ...["--user", "nobody:nogroup", "busybox"],
      ],
      async (request) => {
        body = await request.json();
        return json({ Id: "c1", Warnings: [] }, 201);
      },
    );
    expect(result.code).toBe(0);
    expect(body).toMatchObject({
      User: "nobody:nogroup",
      HostConfig: {
        CapAdd: ["CAP_NET_ADMIN"],
        CapDrop: ["ALL"],
        Privileged: true,
        ReadonlyRootfs: true,
        SecurityOpt: ["no-new-privileges"],
        Devices: [
          { PathOnHost: "/dev/kmsg", PathInContainer: "/dev/kmsg", CgroupPermissions: "r" },
          { PathOnHost: "/dev/ttyS1", PathInContainer: "/dev/serial", CgroupPermissions: "rwm" },
        ],
      },
    });
    const bad = await cli(["create", "--device", "/dev/a:/dev/b:rx", "busybox"], () => json({}, 500));
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid argument "/dev/a:/dev/b:rx" for "--device" flag: invalid device mode: rx');
  });

  it("create: --restart and --volumes-from as Docker's HostConfig; --restart with --rm is refused", async () => {
    let body: unknown;
    const result = await cli(
      ["create", "--restart", "on-failure:3", "--volumes-from", "data:ro", "busybox"],
      async (request) => {
        body = await request.json();
        return json({ Id: "c1", Warnings: [] }, 201);
      },
    );
    expect(result.code).toBe(0);
    expect(body).toMatchObject({
      HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 }, VolumesFrom: ["data:ro"] },
    });
    const both = await cli(["run", "--rm", "--restart", "always", "busybox"], () => json({}, 500));
    expect(both.code).toBe(125);
    expect(both.stderr).toContain("Conflicting options: cannot specify both --restart and --rm");
    const count = await cli(["run", "--restart", "on-failure:x", "busybox"], () => json({}, 500));
    expect(count.stderr).toContain("maximum retry count must be an integer");
  });

  it("run: create, attach, wait, start, demultiplexed output, the container's exit code", async () => {
    const result = await cli(["run", "--rm", "-e", "A=1", "busybox", "sh", "-c", "x"], async (request) => {
      const path = new URL(request.url).pathname.replace(/^\/v1\.43/, "");
      if (path === "/containers/create") {
        const body = (await request.json()) as { Cmd: string[]; Env: string[]; HostConfig: { AutoRemove: boolean } };
        expect(body).toMatchObject({ Cmd: ["sh", "-c", "x"], Env: ["A=1"], HostConfig: { AutoRemove: true } });
        return json({ Id: "c1", Warnings: [] }, 201);
      }
      if (path === "/containers/c1/attach") {
        const frames = [
          encodeFrame("stdout", new TextEncoder().encode("hi\n")),
          encodeFrame("stderr", new TextEncoder().encode("oops\n")),
        ];
        return new Response(new Blob(frames), {
          headers: { "content-type": "application/vnd.docker.multiplexed-stream" },
        });
      }
      if (path === "/containers/c1/wait") return json({ StatusCode: 3 });
      if (path === "/containers/c1/start") return new Response(null, { status: 204 });
      return json({ message: "page not found" }, 404);
    });
    expect(result).toMatchObject({ code: 3, stdout: "hi\n", stderr: "oops\n" });
    const order = result.requests.map((line) => line.replace(/\?.*/, ""));
    expect(order.indexOf("POST /v1.43/containers/c1/attach")).toBeLessThan(
      order.indexOf("POST /v1.43/containers/c1/start"),
    );
    expect(result.requests).toContain("POST /v1.43/containers/c1/wait?condition=removed");
  });

  it("run: a missing image is pulled (progress on stderr), a command not found exits 127", async () => {
    let created = 0;
    const result = await cli(["run", "busybox", "nope"], (request) => {
      const path = new URL(request.url).pathname.replace(/^\/v1\.43/, "");
      if (path === "/containers/create")
        return created++ === 0 ? json({ message: "No such image: busybox:latest" }, 404) : json({ Id: "c2" }, 201);
      if (path === "/images/create")
        return new Response(
          '{"status":"Pulling from library/busybox","id":"latest"}\r\n{"status":"Status: Downloaded newer image for busybox:latest"}\r\n',
        );
      if (path === "/containers/c2/attach") return new Response(new Blob([]));
      if (path === "/containers/c2/wait") return json({ StatusCode: 127 });
      if (path === "/containers/c2/start")
        return json({ message: 'failed to create task: exec: "nope": executable file not found in $PATH' }, 400);
      return json({ message: "page not found" }, 404);
    });
    expect(result.stderr).toBe(
      "Unable to find image 'busybox:latest' locally\nlatest: Pulling from library/busybox\nStatus: Downloaded newer image for busybox:latest\n" +
        'docker: Error response from daemon: failed to create task: exec: "nope": executable file not found in $PATH.\n',
    );
    expect(result.code).toBe(127);
  });

  it("a daemon that does not answer: docker's connection message", async () => {
    const io = await cli(["ps"]);
    expect(io.code).toBe(1);
    const unreachable = await runCliUnreachable();
    expect(unreachable).toContain(
      "Cannot connect to the Docker daemon at unix:///nowhere.sock. Is the docker daemon running?",
    );
  });

  it("service logs names each line's task and node as docker does; --raw, --no-task-ids, -t", async () => {
    const serviceId = "s".repeat(25);
    const taskId = "lrt5ukcc8ss6abcdefghijklm";
    const nodeId = "n".repeat(25);
    const details = `com.docker.swarm.node.id=${nodeId},com.docker.swarm.service.id=${serviceId},com.docker.swarm.task.id=${taskId}`;
    const stamp = "2026-12-06T01:02:03.000000000Z";
    const asked: string[] = [];
    const daemon = (request: Request) => {
      const url = new URL(request.url);
      url.pathname = url.pathname.replace(/^\/v[\d.]+/, "");
      if (url.pathname === `/services/client`) {
        return json({ ID: serviceId, Spec: { Name: "client", TaskTemplate: { ContainerSpec: { Image: "busybox" } } } });
      }
      if (url.pathname === `/services/${serviceId}`) {
        return json({ ID: serviceId, Spec: { Name: "client", TaskTemplate: { ContainerSpec: { Image: "busybox" } } } });
      }
      if (url.pathname === "/nodes") return json([{ ID: nodeId, Description: { Hostname: "node2" } }]);
      if (url.pathname === `/tasks/${taskId}`) return json({ ID: taskId, ServiceID: serviceId, Slot: 1 });
      if (url.pathname === `/services/${serviceId}/logs`) {
        asked.push(url.search);
        const withDetails = url.searchParams.get("details") === "1";
        const stamped = url.searchParams.get("timestamps") === "1";
        const line = (text: string) => `${stamped ? `${stamp} ` : ""}${withDetails ? `${details} ` : ""}${text}\n`;
        const frames = [
          encodeFrame("stdout", new TextEncoder().encode(line("node3"))),
          encodeFrame("stderr", new TextEncoder().encode(line("oops"))),
        ];
        return new Response(new Blob(frames));
      }
      return json({ message: `no route ${url.pathname}` }, 404);
    };
    const pretty = await cli(["service", "logs", "client"], daemon);
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toBe("client.1.lrt5ukcc8ss6@node2    | node3\n");
    expect(pretty.stderr).toBe("client.1.lrt5ukcc8ss6@node2    | oops\n");
    const raw = await cli(["service", "logs", "--raw", "client"], daemon);
    expect(raw.stdout).toBe("node3\n");
    const short = await cli(["service", "logs", "--no-task-ids", "-t", "client"], daemon);
    expect(short.stdout).toBe(`${stamp} client.1@node2    | node3\n`);
    // The details are asked for unless the output is raw: they are what names the task.
    expect(asked).toEqual([
      expect.stringContaining("details=1"),
      expect.not.stringContaining("details"),
      expect.stringContaining("details=1"),
    ]);
    const missing = await cli(["service", "logs", "nothing"], daemon);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no such task or service: nothing");
  });
});

async function runCliUnreachable(): Promise<string> {
  const parts: Uint8Array[] = [];
  const io: CliIO = {
    stdin: new ReadableStream({ start: (controller) => controller.close() }),
    stdout: new WritableStream(),
    stderr: new WritableStream({ write: (chunk) => void parts.push(chunk) }),
    isTTY: { stdin: false, stdout: false },
    env: {},
    cwd: "/",
    size: () => undefined,
    onResize: () => () => {},
    setRawMode: async () => {},
  };
  await runCli(["-H", "unix:///nowhere.sock", "ps"], io, {
    defaultHost: "unix:///var/run/docker.sock",
    connect: () => async () => {
      throw new Error("connect ENOENT");
    },
  });
  return new TextDecoder().decode(Buffer.concat(parts));
}
