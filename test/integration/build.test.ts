// docker build, commit, history and image prune against one booted guest: the real docker CLI's classic builder
// (DOCKER_BUILDKIT=0) and docker-py over the Node daemon's socket, engine/cli in Node, and `docker build .` typed in
// the guest (its docker applet relays to engine/cli, which reads the guest's own directory). A built image is pushed
// to Debian's docker-registry (basic auth), read back by skopeo and unpacked by umoci: its layers are standard OCI
// (a deleted file, a replaced directory).
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIO, runCli } from "../../engine/cli/index.ts";
import { processCliIO, unixConnector } from "../../engine/node/cli.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type GuestDockerFixture, startGuestDocker } from "../fixtures/guest-docker.ts";
import { startRegistry } from "../fixtures/registry.ts";

const run = promisify(execFile);
let guest: GuestDockerFixture;
let daemon: Daemon;
let dir: string;
let host: string;

/** A multi-stage build: a stage that generates a file (and deletes and replaces things), one that copies it. */
function dockerfile(base: string): string {
  return `FROM ${base} AS build
WORKDIR /src
COPY gen.sh data/ ./
RUN sh gen.sh > /generated.txt && rm /src/gen.sh
FROM ${base}
COPY --from=build /generated.txt /app/generated.txt
COPY . /ctx/
ENV GREETING=hello
CMD ["cat", "/app/generated.txt"]
`;
}

async function writeContext(path: string, base: string): Promise<void> {
  await mkdir(join(path, "data"), { recursive: true });
  await writeFile(join(path, "Dockerfile"), dockerfile(base));
  await writeFile(join(path, "gen.sh"), 'echo "generated $((6 * 7))"\n');
  await writeFile(join(path, "data", "kept.txt"), "kept\n");
  await writeFile(join(path, "secret.txt"), "do not send\n");
  await writeFile(join(path, ".dockerignore"), "secret.txt\n");
}

beforeAll(async () => {
  guest = await startGuestDocker();
  dir = await mkdtemp(join(tmpdir(), "drydock-build-"));
  daemon = await startDaemon({
    host: `unix://${join(dir, "docker.sock")}`,
    images: guest.images,
    containers: guest.containers,
  });
  host = `unix://${daemon.socketPath}`;
  await writeContext(join(dir, "app"), guest.busybox);
});

afterAll(async () => {
  await daemon?.close();
  await guest?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The real docker CLI with the classic builder. */
function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host, home: dir, env: { DOCKER_BUILDKIT: "0" } }, args);
}

/** engine/cli in this process, reading directories from Node's filesystem. */
async function drydockCli(args: string[], cwd = dir): Promise<Outcome> {
  const parts = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  const sink = (into: Uint8Array[]) => new WritableStream<Uint8Array>({ write: (chunk) => void into.push(chunk) });
  const host_ = processCliIO();
  const io: CliIO = {
    stdin: new ReadableStream({ start: (controller) => controller.close() }),
    stdout: sink(parts.stdout),
    stderr: sink(parts.stderr),
    isTTY: { stdin: false, stdout: false },
    env: { HOME: dir },
    cwd,
    size: () => undefined,
    onResize: () => () => {},
    setRawMode: async () => {},
    readDirectory: host_.readDirectory!,
    writeFile: host_.writeFile!,
  };
  const code = await runCli(["-H", host, ...args], io, unixConnector("unix:///var/run/docker.sock"));
  const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString("utf8");
  return { code, stdout: text(parts.stdout), stderr: text(parts.stderr) };
}

describe("docker build with the real docker CLI", () => {
  let firstId = "";

  it("builds a multi-stage Dockerfile whose image runs, leaving out what .dockerignore names", async () => {
    const built = await docker(["build", "-t", "app:1", "-t", "app:latest", join(dir, "app")]);
    expect(built.stderr).not.toMatch(/error/i);
    expect(built.code).toBe(0);
    expect(built.stdout).toMatch(/^Step 1\/9 : FROM .*busybox:latest AS build$/m);
    expect(built.stdout).toMatch(/^Step 4\/9 : RUN sh gen.sh > \/generated.txt && rm \/src\/gen.sh$/m);
    expect(built.stdout).toMatch(/^ ---> Running in [0-9a-f]{12}$/m);
    expect(built.stdout).toMatch(/^Successfully tagged app:1$/m);
    firstId = /^Successfully built ([0-9a-f]{12})$/m.exec(built.stdout)?.[1] ?? "";
    expect(firstId).toMatch(/^[0-9a-f]{12}$/);

    const ran = await docker(["run", "--rm", "app:1"]);
    expect(ran).toMatchObject({ code: 0, stdout: "generated 42\n" });
    const listed = await docker(["run", "--rm", "app:1", "ls", "-a", "/ctx"]);
    expect(listed.stdout.split("\n")).toEqual(
      expect.arrayContaining(["Dockerfile", "gen.sh", "data", ".dockerignore"]),
    );
    expect(listed.stdout).not.toContain("secret.txt");
  });

  it("builds again from the cache: every step after FROM says Using cache, and the ID is the same", async () => {
    const again = await docker(["build", "-t", "app:1", join(dir, "app")]);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/ ---> Using cache/g)).toHaveLength(7);
    expect(again.stdout).not.toContain("Running in");
    expect(again.stdout).toContain(`Successfully built ${firstId}`);
  });

  it("shows each step's CreatedBy in docker history, with no layer for metadata steps", async () => {
    const history = await docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "app:1"]);
    expect(history.code).toBe(0);
    const lines = history.stdout.trim().split("\n");
    expect(lines[0]).toBe('/bin/sh -c #(nop)  CMD ["cat","/app/generated.txt"]|0B');
    expect(lines[1]).toBe("/bin/sh -c #(nop)  ENV GREETING=hello|0B");
    expect(lines[2]).toMatch(/^\/bin\/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \/ctx\/ \|[1-9]/);
    expect(lines[3]).toMatch(/^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \/app\/generated.txt \|[1-9]/);
    // Each step's image is kept, so each row names it, as the classic builder's history does; the base image's own
    // steps below its top have no image here.
    const ids = (await docker(["history", "--format", "{{.ID}}", "app:1"])).stdout.trim().split("\n");
    expect(ids.slice(0, 5)).toEqual(ids.slice(0, 5).map(() => expect.stringMatching(/^[0-9a-f]{12}$/)));
    expect(new Set(ids.slice(0, 5)).size).toBe(5);
    expect(ids.at(-1)).toBe("<missing>");
  });

  it("reruns every step with --no-cache, and a failing RUN fails the build with the classic builder's words", async () => {
    const fresh = await docker(["build", "--no-cache", "-q", join(dir, "app")]);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fresh.stdout).not.toContain(firstId);

    const failing = join(dir, "failing");
    await mkdir(failing, { recursive: true });
    await writeFile(join(failing, "Dockerfile"), `FROM ${guest.busybox}\nRUN echo about to fail; exit 3\n`);
    const failed = await docker(["build", failing]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("about to fail");
    expect(failed.stderr).toContain("The command '/bin/sh -c echo about to fail; exit 3' returned a non-zero code: 3");
  });

  it("says a RUN failed for want of the network, instead of hanging", async () => {
    const offline = join(dir, "offline");
    await mkdir(offline, { recursive: true });
    // .invalid never resolves (RFC 2606), and this daemon has no relay: nothing leaves the guest, and the message says
    // which relay is missing and how to give one.
    await writeFile(join(offline, "Dockerfile"), `FROM ${guest.busybox}\nRUN wget -q -O- http://packages.invalid/\n`);
    const failed = await docker(["build", offline]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/needs? the network, but no relay is configured.*npm run relay.*--relay URL/);
  });
});

describe("docker build with docker-py", () => {
  it("builds the same context, the image runs, and a second build is all cache hits", async () => {
    const script = `
import json, sys, docker
client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")
out = {}
image, logs = client.images.build(path=sys.argv[2], tag="pyapp:1", rm=True)
out["first"] = [image.id, "".join(line.get("stream", "") for line in logs)]
image2, logs2 = client.images.build(path=sys.argv[2], tag="pyapp:1", rm=True)
out["second"] = [image2.id, "".join(line.get("stream", "") for line in logs2)]
out["run"] = client.containers.run("pyapp:1", remove=True).decode()
print(json.dumps(out))
`;
    const { stdout } = await run("python3", ["-c", script, daemon.socketPath, join(dir, "app")], { timeout: 120_000 });
    const out = JSON.parse(stdout) as { first: [string, string]; second: [string, string]; run: string };
    expect(out.first[0]).toMatch(/^sha256:/);
    expect(out.second[0]).toBe(out.first[0]);
    expect(out.second[1].match(/ ---> Using cache/g)).toHaveLength(7);
    expect(out.run).toBe("generated 42\n");
  });
});

describe("engine/cli: build, commit, history, image prune", () => {
  it("builds with -q and --iidfile, commits a container with -c changes, and prunes dangling images", async () => {
    const built = await drydockCli(["build", "-q", "--iidfile", join(dir, "iid"), "-t", "cli:1", "app"]);
    expect(built).toMatchObject({ code: 0, stderr: "" });
    const id = built.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await readFile(join(dir, "iid"), "utf8")).toBe(id);

    const made = await drydockCli([
      "run",
      "--name",
      "tocommit",
      "cli:1",
      "sh",
      "-c",
      "echo changed > /app/generated.txt",
    ]);
    expect(made.code).toBe(0);
    const committed = await drydockCli([
      "commit",
      "-m",
      "a note",
      "-c",
      'CMD ["cat", "/app/generated.txt"]',
      "-c",
      "ENV MODE=committed",
      "tocommit",
      "committed:1",
    ]);
    expect(committed.code).toBe(0);
    expect(committed.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const ran = await docker(["run", "--rm", "committed:1"]);
    expect(ran.stdout).toBe("changed\n");
    const env = await docker(["run", "--rm", "committed:1", "sh", "-c", "echo $MODE"]);
    expect(env.stdout).toBe("committed\n");
    const history = await drydockCli(["history", "--format", "{{.Comment}}", "committed:1"]);
    expect(history.stdout.split("\n")[0]).toBe("a note");
    await drydockCli(["rm", "tocommit"]);

    // An untagged build is dangling: prune takes it (and its own steps), and leaves tagged images alone.
    await writeFile(join(dir, "app", "extra.txt"), "makes the COPY . step new\n");
    const dangling = await drydockCli(["build", "-q", "app"]);
    await rm(join(dir, "app", "extra.txt"));
    const danglingId = dangling.stdout.trim();
    const pruned = await drydockCli(["image", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain(`deleted: ${danglingId}`);
    expect(pruned.stdout).toMatch(/^Total reclaimed space: \d/m);
    expect((await docker(["image", "inspect", "app:1"])).code).toBe(0);
    expect((await docker(["image", "inspect", danglingId])).code).toBe(1);
  });
});

describe("docker build typed in the guest's terminal", () => {
  it("reads the guest's own directory, builds, runs, and rebuilds from the cache", async () => {
    const write = (path: string, text: string) => guest.drydock.agent.writeFile(path, text);
    await guest.drydock.agent.mkdir("/root/app/data", { parents: true });
    await write("/root/app/Dockerfile", dockerfile(guest.busybox));
    await write("/root/app/gen.sh", 'echo "generated $((6 * 7))"\n');
    await write("/root/app/data/kept.txt", "kept\n");
    await write("/root/app/secret.txt", "do not send\n");
    await write("/root/app/.dockerignore", "secret.txt\n");
    const sh = (script: string) =>
      guest.drydock.agent.run(["sh", "-c", script], { env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], cwd: "/root/app" });
    const built = await sh("docker build -t guestapp .");
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    expect(built.stdout).toMatch(/^Sending build context to Docker daemon {2}\d/m);
    expect(built.stdout).toContain("Successfully tagged guestapp:latest");
    const ran = await sh("docker run --rm guestapp && docker run --rm guestapp ls /ctx");
    expect(ran.stdout).toContain("generated 42\n");
    expect(ran.stdout).not.toContain("secret.txt");
    const again = await sh("docker build -t guestapp .");
    expect(again.stdout.match(/ ---> Using cache/g)).toHaveLength(7);
  });
});

describe("the layers are standard OCI", () => {
  it("pushed to a registry with basic auth, skopeo reads the same digest and umoci unpacks the tree the build made", async () => {
    const context = join(dir, "oci");
    await mkdir(join(context, "old"), { recursive: true });
    await writeFile(join(context, "old", "a"), "a\n");
    await writeFile(join(context, "old", "b"), "b\n");
    await writeFile(join(context, "gone"), "gone\n");
    await writeFile(
      join(context, "Dockerfile"),
      `FROM ${guest.busybox}\nCOPY . /work/\nRUN rm /work/gone && rm -rf /work/old && mkdir /work/old && echo new > /work/old/c\n`,
    );
    const registry = await startRegistry({ auth: "basic" });
    try {
      const name = `${registry.host}/ocitest:1`;
      const built = await docker(["build", "-t", name, context]);
      expect(built.code).toBe(0);
      const { username, password } = registry.credentials!;
      const login = await docker(["login", "-u", username, "-p", password, registry.host]);
      expect(login.code).toBe(0);
      const pushed = await docker(["push", name]);
      expect(pushed.code).toBe(0);
      const digest = /^1: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(pushed.stdout)?.[1];
      expect(digest).toBeDefined();
      const creds = `${username}:${password}`;
      const { stdout } = await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        "--creds",
        creds,
        "--format",
        "{{.Digest}}",
        `docker://${name}`,
      ]);
      expect(stdout.trim()).toBe(digest);

      const layout = join(dir, "layout");
      await run("skopeo", [
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        creds,
        `docker://${name}`,
        `oci:${layout}:1`,
      ]);
      const bundle = join(dir, "bundle");
      await run("umoci", ["unpack", "--rootless", "--image", `${layout}:1`, bundle]);
      const work = join(bundle, "rootfs", "work");
      expect((await readdir(work)).sort()).toEqual(["Dockerfile", "old"]);
      expect(await readdir(join(work, "old"))).toEqual(["c"]);
      expect(await readFile(join(work, "old", "c"), "utf8")).toBe("new\n");
    } finally {
      await registry.stop();
    }
  });
});
