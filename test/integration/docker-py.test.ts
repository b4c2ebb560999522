// The Engine API driven by python3-docker (docker-py), the Docker SDK many scripts and tools are written with: a
// small Python program talks to the Node daemon's socket and reports what it saw as JSON; this test checks what a
// person would read. Pull (also from a registry behind basic auth, with auth_config as X-Registry-Auth), run with and
// without detach, logs, list, inspect attrs, exec_run, stop, remove, images, and Docker's errors for bad input.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

const SCRIPT = `
import json, sys, time
import docker

sock, ref, private_ref, user, password = sys.argv[1:6]
client = docker.DockerClient(base_url="unix://" + sock, version="auto")
out = {}

def error_of(call):
    try:
        call()
    except docker.errors.APIError as error:
        return [error.status_code, error.explanation]
    return None

out["version"] = client.version()["ApiVersion"]
repo, tag = ref.rsplit(":", 1)
out["pulled"] = client.images.pull(repo, tag=tag).tags

out["run"] = client.containers.run(ref, ["sh", "-c", "echo hi; echo err >&2"], remove=True).decode()
try:
    client.containers.run(ref, ["sh", "-c", "echo failing >&2; exit 3"], remove=True)
    out["failed"] = None
except docker.errors.ContainerError as error:
    out["failed"] = [error.exit_status, error.stderr.decode()]

container = client.containers.run(ref, ["sh", "-c", "echo started; exec sleep 600"], detach=True, name="py1",
                                  environment={"MODE": "test"}, mem_limit="32m")
for _ in range(100):
    if container.logs():
        break
    time.sleep(0.1)
out["logs"] = container.logs().decode()
out["list"] = [c.name for c in client.containers.list()]
container.reload()
attrs = container.attrs
out["attrs"] = {"status": attrs["State"]["Status"], "running": attrs["State"]["Running"], "cmd": attrs["Config"]["Cmd"],
                "env": "MODE=test" in attrs["Config"]["Env"], "memory": attrs["HostConfig"]["Memory"],
                "name": attrs["Name"], "image": attrs["Config"]["Image"]}
result = container.exec_run(["sh", "-c", "echo exec-out; echo exec-err >&2; exit 4"])
out["exec"] = [result.exit_code, result.output.decode()]
split = container.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
out["exec_demux"] = [part.decode() if part else None for part in split.output]
container.stop(timeout=1)
container.reload()
out["stopped"] = [container.status, container.attrs["State"]["ExitCode"]]
container.remove()
out["after_remove"] = [c.name for c in client.containers.list(all=True)]

confined = client.containers.run(ref, ["sh", "-c", "grep CapEff /proc/self/status | cut -f2; id -u"], remove=True,
                                 cap_drop=["ALL"], cap_add=["NET_RAW"], user="nobody").decode().split()
privileged = client.containers.create(ref, ["true"], privileged=True, read_only=True, security_opt=["no-new-privileges"])
out["confined"] = [confined, privileged.attrs["HostConfig"]["Privileged"], privileged.attrs["HostConfig"]["ReadonlyRootfs"],
                   privileged.attrs["HostConfig"]["SecurityOpt"]]
privileged.remove()

out["images"] = sorted(t for image in client.images.list() for t in image.tags)
client.images.remove(ref)
out["images_after"] = sorted(t for image in client.images.list() for t in image.tags)

private_repo, private_tag = private_ref.rsplit(":", 1)
out["private_without_auth"] = error_of(lambda: client.images.pull(private_repo, tag=private_tag))
out["private_with_auth"] = client.images.pull(private_repo, tag=private_tag,
                                              auth_config={"username": user, "password": password}).tags

api = client.api
out["unknown"] = error_of(lambda: client.containers.get("x"))
out["bad_reference"] = error_of(lambda: api.create_container("Not/Valid"))
out["not_json"] = error_of(lambda: api._raise_for_status(api._post(api._url("/containers/create"), data="{not json",
                                                            headers={"Content-Type": "application/json"})))
out["too_new"] = error_of(lambda: docker.APIClient(base_url="unix://" + sock, version="1.99").containers())
out["still_serving"] = client.ping()
print(json.dumps(out))
`;

let registry: Registry;
let privateRegistry: Registry;
let reference: string;
let privateReference: string;
let dir: string;
let images: ImageService;
let drydock: Drydock;
let daemon: Daemon;

beforeAll(async () => {
  registry = await startRegistry();
  privateRegistry = await startRegistry({ auth: "basic" });
  reference = (await seedRegistry(registry, ["busybox"])).busybox.reference;
  privateReference = (await seedRegistry(privateRegistry, ["busybox"])).busybox.reference;
  dir = await mkdtemp(join(tmpdir(), "drydock-docker-py-"));
  images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  const containers = ContainerService.open(drydock, images);
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
  await writeFile(join(dir, "scenario.py"), SCRIPT);
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  await privateRegistry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("python3-docker against the Drydock daemon", () => {
  it("pulls, runs, execs, stops and removes, and gets Docker's errors for bad input", async () => {
    const credentials = privateRegistry.credentials!;
    let stdout: string;
    try {
      // Debian's python3 with Debian's python3-docker, whatever other python is first on PATH.
      ({ stdout } = await promisify(execFile)(
        "/usr/bin/python3",
        [
          join(dir, "scenario.py"),
          daemon.socketPath,
          reference,
          privateReference,
          credentials.username,
          credentials.password,
        ],
        { timeout: 100_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } },
      ));
    } catch (error) {
      const failed = error as { stderr?: string };
      if (/No module named 'docker'/.test(failed.stderr ?? "")) {
        throw new Error("python3-docker is not installed: run `bash scripts/system-deps.sh`");
      }
      throw new Error(`the docker-py scenario failed:\n${failed.stderr ?? String(error)}`);
    }
    const out = JSON.parse(stdout);
    expect(out.version).toBe("1.43");
    expect(out.pulled).toEqual([reference]);
    // containers.run without detach returns stdout (docker-py asks for stdout only by default).
    expect(out.run).toBe("hi\n");
    expect(out.failed).toEqual([3, "failing\n"]);
    expect(out.logs).toBe("started\n");
    expect(out.list).toEqual(["py1"]);
    expect(out.attrs).toEqual({
      status: "running",
      running: true,
      cmd: ["sh", "-c", "echo started; exec sleep 600"],
      env: true,
      memory: 32 * 1024 * 1024,
      name: "/py1",
      image: reference,
    });
    expect(out.exec[0]).toBe(4);
    expect(out.exec[1].split("\n").sort()).toEqual(["", "exec-err", "exec-out"]);
    expect(out.exec_demux).toEqual(["o\n", "e\n"]);
    expect(out.stopped).toEqual(["exited", 137]);
    expect(out.after_remove).toEqual([]);
    // cap_drop ALL + cap_add NET_RAW, user nobody (a non-root user execs with no effective capabilities, as runc).
    expect(out.confined).toEqual([["0000000000000000", "65534"], true, true, ["no-new-privileges"]]);
    expect(out.images).toEqual([reference]);
    expect(out.images_after).toEqual([]);
    expect(out.private_without_auth[0]).toBe(401);
    expect(out.private_with_auth).toEqual([privateReference]);
    expect(out.unknown).toEqual([404, "No such container: x"]);
    expect(out.bad_reference).toEqual([400, "invalid reference format: repository name must be lowercase"]);
    expect(out.not_json[0]).toBe(400);
    expect(out.not_json[1]).toMatch(/^the request body is not valid JSON/);
    expect(out.too_new).toEqual([400, "client version 1.99 is too new. Maximum supported API version is 1.43"]);
    expect(out.still_serving).toBe(true);
  });
});
