// Docker inside the real guest: /var/run/docker.sock answers the Engine API (drydockd forwards each connection to the
// engine, whose HTTP server and API app answer it) and the guest's `docker` command runs the engine's CLI, with
// containers that really run: what a learner types in the page's terminal.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerService, Drydock, HttpExchange } from "../../engine/index.ts";
import { type GuestDockerFixture, startGuestDocker } from "../fixtures/guest-docker.ts";

let guest: GuestDockerFixture;
let drydock: Drydock;
let containers: ContainerService;
let busybox: string;
const exchanges: HttpExchange[] = [];

beforeAll(async () => {
  guest = await startGuestDocker({ onExchange: (exchange) => exchanges.push(exchange) });
  ({ drydock, containers, busybox } = guest);
});

afterAll(() => guest?.stop());

/** Runs a shell command in the guest (outside containers). */
function sh(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return drydock.agent.run(["sh", "-c", script], { env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] });
}

/** Splits a raw HTTP/1.0 answer into status, headers and body. */
function parseAnswer(raw: string) {
  const [head = "", ...rest] = raw.split("\r\n\r\n");
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  return { status: Number(statusLine.split(" ")[1]), headers: headerLines.join("\n"), body: rest.join("\r\n\r\n") };
}

describe("the guest's /var/run/docker.sock", () => {
  it("lists a running container to a client in the guest", async () => {
    const { id } = await containers.run(busybox, { cmd: ["sleep", "30"], name: "sleeper" });
    try {
      const { code, stdout, stderr } = await sh(
        "printf 'GET /v1.43/containers/json HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock",
      );
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const answer = parseAnswer(stdout);
      expect(answer.status).toBe(200);
      expect(answer.headers).toMatch(/api-version: 1\.43/i);
      const list = JSON.parse(answer.body) as { Id: string; Names: string[]; State: string }[];
      expect(list).toEqual([expect.objectContaining({ Id: id, Names: ["/sleeper"], State: "running" })]);
      expect(exchanges).toContainEqual({
        method: "GET",
        target: "/v1.43/containers/json",
        status: 200,
        upgraded: false,
      });
    } finally {
      await containers.remove(id, { force: true });
    }
  });

  it("answers several clients at once and keeps serving after a malformed request", async () => {
    const { stdout } = await sh(
      [
        "for i in 1 2 3; do printf 'GET /_ping HTTP/1.0\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock > /tmp/ping$i & done",
        "printf 'NONSENSE\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock > /tmp/bad",
        "wait",
        "cat /tmp/ping1 /tmp/ping2 /tmp/ping3 /tmp/bad",
      ].join("\n"),
    );
    expect(stdout.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(stdout.match(/\r\n\r\nOK/g)).toHaveLength(3);
    expect(stdout).toContain("HTTP/1.1 400 Bad Request");
    const after = await sh("printf 'GET /version HTTP/1.0\\r\\n\\r\\n' | drydockd connect /var/run/docker.sock");
    expect(parseAnswer(after.stdout).status).toBe(200);
    expect(JSON.parse(parseAnswer(after.stdout).body)).toMatchObject({ ApiVersion: "1.43", Os: "linux" });
  });
});

describe("the guest's docker command", () => {
  it("runs a container and prints its output, with Docker's exit codes", async () => {
    const hello = await sh(`docker run --rm ${busybox} echo hello from the guest`);
    expect(hello).toMatchObject({ code: 0, stdout: "hello from the guest\n", stderr: "" });
    // Its API requests are traced like the socket's, the attach as a hijacked one.
    const targets = exchanges.map((exchange) => `${exchange.method} ${exchange.target.replace(/[0-9a-f]{64}/, "ID")}`);
    expect(targets).toEqual(
      expect.arrayContaining([
        "POST /v1.43/containers/create",
        "POST /v1.43/containers/ID/attach?stream=1&stdin=0&stdout=1&stderr=1",
        "POST /v1.43/containers/ID/start",
      ]),
    );
    expect(exchanges.find((exchange) => exchange.target.includes("/attach"))?.upgraded).toBe(true);
    // A lesson's check polls every few seconds: its requests stay out of the trace.
    const before = exchanges.length;
    expect((await sh("DRYDOCK_CHECK=1 docker ps -aq")).code).toBe(0);
    expect(exchanges.length).toBe(before);
    const failing = await sh(`docker run --rm ${busybox} sh -c 'echo oops >&2; exit 3'`);
    expect(failing).toMatchObject({ code: 3, stdout: "", stderr: "oops\n" });
    const missing = await sh(`docker run --rm ${busybox} no-such-command`);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command/);
  });

  it("runs detached, lists, shows logs, execs, diffs, stops and removes", async () => {
    const started = await sh(`docker run -d --name web ${busybox} sh -c 'echo serving; sleep 300'`);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await sh("docker ps");
    expect(ps.stdout.split("\n")[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps.stdout).toMatch(
      new RegExp(`^${id.slice(0, 12)}\\s+${busybox.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s.*Up .*\\sweb$`, "m"),
    );
    expect((await sh("docker logs web")).stdout).toBe("serving\n");
    const steps: string[] = [];
    const stopTracing = containers.trace((event) => steps.push(event.command));
    expect((await sh("docker exec web hostname")).stdout).toBe(`${id.slice(0, 12)}\n`);
    // A lesson's check execs quietly: the learner's exec shows in the trace, the check's does not.
    expect((await sh("DRYDOCK_CHECK=1 docker exec web true")).code).toBe(0);
    stopTracing();
    expect(steps.filter((step) => / hostname$/.test(step))).toHaveLength(1);
    expect(steps.filter((step) => / true$/.test(step))).toHaveLength(0);
    expect((await sh("docker inspect --format '{{.State.Status}}' web")).stdout).toBe("running\n");
    expect((await sh("docker exec web sh -c 'mkdir /data && echo x > /data/f'; docker diff web")).stdout).toBe(
      "A /data\nA /data/f\n",
    );
    expect((await sh("docker stop -t 1 web")).stdout).toBe("web\n");
    expect((await sh("docker ps -a --format '{{.Names}} {{.Status}}'")).stdout).toMatch(/^web Exited \(137\)/m);
    expect((await sh("docker rm web")).stdout).toBe("web\n");
    expect((await sh("docker ps -aq")).stdout).toBe("");
  });

  it("runs an interactive container on the guest's terminal (-it), raw mode set and restored", async () => {
    const proc = await drydock.agent.spawn({
      argv: [
        "sh",
        "-c",
        `stty -a | grep -o ' -\\?icanon'; docker run -it --rm ${busybox} sh; echo docker exited $?; stty -a | grep -o ' -\\?icanon'`,
      ],
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      pty: { rows: 30, cols: 100 },
    });
    const writer = proc.stdin.getWriter();
    const reader = proc.stdout.getReader();
    let screen = "";
    const decoder = new TextDecoder();
    const waitFor = async (pattern: RegExp) => {
      while (!pattern.test(screen)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the terminal closed before ${pattern}: ${JSON.stringify(screen)}`);
        screen += decoder.decode(value, { stream: true });
      }
    };
    // busybox sh's prompt (it may ask the terminal where the cursor is right after it).
    await waitFor(/ icanon[\s\S]*\/ # /);
    await writer.write(new TextEncoder().encode("stty size; echo in-$((6*7))\r"));
    await waitFor(/30 100[\s\S]*in-42/);
    await writer.write(new TextEncoder().encode("exit 5\r"));
    await waitFor(/docker exited 5[\s\S]* icanon/);
    expect((await proc.exit).code).toBe(0);
    // The terminal is canonical again after docker returned (raw mode restored).
    expect(screen.trim().endsWith("icanon")).toBe(true);
  });

  it("says what is wrong with an unknown flag, an unknown container and a malformed reference", async () => {
    const flag = await sh("docker run --no-such-flag busybox");
    expect(flag.code).toBe(125);
    expect(flag.stderr).toContain("unknown flag: --no-such-flag");
    const container = await sh("docker logs nope");
    expect(container.code).toBe(1);
    expect(container.stderr).toContain("No such container: nope");
    const reference = await sh("docker pull 'Not A Reference'");
    expect(reference.code).not.toBe(0);
    expect(reference.stderr).toContain("invalid reference format");
  });
});
