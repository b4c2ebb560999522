import { describe, expect, it } from "vitest";
import { MemoryContextStore, resolveHost } from "./contexts.ts";
import { type ApiConnector, type CliIO, runCli } from "./index.ts";

/** Two daemons a connector can dial: each answers `docker ps` with a container named after it. */
function rig() {
  const store = new MemoryContextStore();
  const dialed: string[] = [];
  const daemons: Record<string, string> = {
    "unix:///var/run/docker.sock": "on-node1",
    "tcp://192.168.86.102:2375": "on-node2",
  };
  const connector: ApiConnector = {
    defaultHost: "unix:///var/run/docker.sock",
    contexts: store,
    connect: (host) => {
      const name = daemons[host];
      if (!name) throw new Error(`no daemon at ${host}`);
      return async (request) => {
        dialed.push(host);
        const url = new URL(request.url);
        if (url.pathname === "/_ping") return new Response("OK", { headers: { "api-version": "1.43" } });
        return new Response(
          JSON.stringify([
            {
              Id: "a".repeat(64),
              Names: [`/${name}`],
              Image: "busybox",
              ImageID: `sha256:${"b".repeat(64)}`,
              Command: "sh",
              Created: 0,
              Ports: [],
              Labels: {},
              State: "running",
              Status: "Up 1 second",
              Mounts: [],
              NetworkSettings: { Networks: {} },
            },
          ]),
          { headers: { "content-type": "application/json" } },
        );
      };
    },
  };
  const cli = async (argv: string[], env: Record<string, string> = {}) => {
    const chunks = { stdout: "", stderr: "" };
    const sink = (key: "stdout" | "stderr") =>
      new WritableStream<Uint8Array>({
        write: (chunk) => {
          chunks[key] += new TextDecoder().decode(chunk);
        },
      });
    const io: CliIO = {
      stdin: new ReadableStream({ start: (controller) => controller.close() }),
      stdout: sink("stdout"),
      stderr: sink("stderr"),
      isTTY: { stdin: false, stdout: false },
      env,
      cwd: "/",
      size: () => undefined,
      onResize: () => () => {},
      setRawMode: async () => {},
    };
    const code = await runCli(argv, io, connector);
    return { code, ...chunks };
  };
  return { store, dialed, cli };
}

describe("docker context", () => {
  it("create, ls, use, ps on the chosen daemon, and rm", async () => {
    const { cli, store } = rig();
    const created = await cli(["context", "create", "node2", "--docker", "host=tcp://192.168.86.102:2375"]);
    expect(created).toMatchObject({ code: 0, stdout: "node2\n", stderr: 'Successfully created context "node2"\n' });
    const ls = await cli(["context", "ls"]);
    expect(ls.stdout.split("\n")[0]).toMatch(/^NAME\s+DESCRIPTION\s+DOCKER ENDPOINT\s+ERROR$/);
    expect(ls.stdout).toMatch(
      /^default \*\s+Current DOCKER_HOST based configuration\s+unix:\/\/\/var\/run\/docker.sock/m,
    );
    expect(ls.stdout).toMatch(/^node2\s+tcp:\/\/192.168.86.102:2375/m);

    expect((await cli(["ps", "--format", "{{.Names}}"])).stdout).toBe("on-node1\n");
    expect(await cli(["context", "use", "node2"])).toMatchObject({ code: 0, stdout: "node2\n" });
    expect(store.current()).toBe("node2");
    expect((await cli(["context", "ls"])).stdout).toMatch(/^node2 \*/m);
    expect((await cli(["context", "show"])).stdout).toBe("node2\n");
    expect((await cli(["ps", "--format", "{{.Names}}"])).stdout).toBe("on-node2\n");

    const inUse = await cli(["context", "rm", "node2"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain('context "node2" is in use, set -f flag to force remove');
    expect(await cli(["context", "rm", "-f", "node2"])).toMatchObject({ code: 0, stdout: "node2\n" });
    expect(store.current()).toBe("default");
    expect((await cli(["ps", "--format", "{{.Names}}"])).stdout).toBe("on-node1\n");
  });

  it("--context, DOCKER_HOST and DOCKER_CONTEXT pick the daemon in docker's order", async () => {
    const { cli, store } = rig();
    store.create({ name: "node2", description: "", host: "tcp://192.168.86.102:2375" });
    expect((await cli(["--context", "node2", "ps", "--format", "{{.Names}}"])).stdout).toBe("on-node2\n");
    expect((await cli(["ps", "--format", "{{.Names}}"], { DOCKER_CONTEXT: "node2" })).stdout).toBe("on-node2\n");
    expect((await cli(["ps", "--format", "{{.Names}}"], { DOCKER_HOST: "tcp://192.168.86.102:2375" })).stdout).toBe(
      "on-node2\n",
    );
    store.use("node2");
    // DOCKER_HOST wins over the current context, and `use` warns of it.
    expect((await cli(["ps", "--format", "{{.Names}}"], { DOCKER_HOST: "unix:///var/run/docker.sock" })).stdout).toBe(
      "on-node1\n",
    );
    expect((await cli(["context", "use", "node2"], { DOCKER_HOST: "x" })).stderr).toContain(
      "DOCKER_HOST environment variable overrides the active context",
    );
    const both = await cli(["--context", "node2", "-H", "unix:///var/run/docker.sock", "ps"]);
    expect(both.stderr).toContain("conflicting options: either specify --host or --context, not both");
    expect(resolveHost({ context: undefined, hosts: [], env: {}, store: undefined, defaultHost: "d" })).toEqual({
      host: "d",
      context: "default",
    });
  });

  it("says what is wrong: a missing context, a bad name or endpoint, a duplicate, removing default", async () => {
    const { cli } = rig();
    expect((await cli(["--context", "nope", "ps"])).stderr).toContain('context "nope" does not exist');
    expect((await cli(["context", "use", "nope"])).stderr).toContain('context "nope" does not exist');
    expect((await cli(["context", "create", "-x"])).code).not.toBe(0);
    expect((await cli(["context", "create", "a/b"])).stderr).toContain('context name "a/b" is invalid');
    expect((await cli(["context", "create", "nx", "--docker", "host=192.168.86.102"])).stderr).toContain(
      "unable to parse docker host `192.168.86.102`",
    );
    expect((await cli(["context", "create", "nx", "--docker", "colour=red"])).stderr).toContain(
      "unrecognized config key: colour",
    );
    await cli(["context", "create", "n2", "--docker", "host=tcp://192.168.86.102:2375"]);
    expect((await cli(["context", "create", "n2"])).stderr).toContain('context "n2" already exists');
    expect((await cli(["context", "rm", "default"])).stderr).toContain("default context cannot be removed");
    expect((await cli(["context", "create", "n3", "--from", "n2"])).code).toBe(0);
    expect((await cli(["context", "ls", "-q"])).stdout).toBe("default\nn2\nn3\n");
  });
});
