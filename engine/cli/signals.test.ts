import { describe, expect, it } from "vitest";
import { DEFAULT_DETACH_KEYS, EscapeSequence, encodeFrame, parseDetachKeys } from "../conventions/index.ts";
import { type ApiTransport, type CliIO, runCli } from "./index.ts";
import { STATS_REDRAW_MS } from "./stats.ts";

const encoder = new TextEncoder();
const ID = "4f2a0c1e9b7d";

/** A stream the test feeds and ends, which records whether its reader cancelled it. */
class Feed {
  controller!: ReadableStreamDefaultController<Uint8Array>;
  cancelled = false;
  readonly stream = new ReadableStream<Uint8Array>({
    start: (controller) => {
      this.controller = controller;
    },
    cancel: () => {
      this.cancelled = true;
    },
  });
  push(bytes: Uint8Array | string) {
    this.controller.enqueue(typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  }
  end() {
    this.controller.close();
  }
}

interface Terminal {
  io: CliIO;
  /** Sends a signal as the host would (only to listeners: with none, the host would end the command). */
  signal(number: number): void;
  listeners(): number;
  type(bytes: number[]): void;
  stdout(): string;
  stderr(): string;
  /** Makes every later stdout write fail, as a closed pipe does. */
  closeStdout(): void;
}

function terminal(tty = false): Terminal {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const listeners = new Set<(signal: number) => void>();
  let stdinController!: ReadableStreamDefaultController<Uint8Array>;
  let stdoutClosed = false;
  const decode = (parts: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(parts));
  return {
    io: {
      stdin: new ReadableStream({
        start: (controller) => {
          stdinController = controller;
        },
      }),
      stdout: new WritableStream({
        write: (chunk) => {
          if (stdoutClosed) throw new Error("write EPIPE");
          out.push(chunk);
        },
      }),
      stderr: new WritableStream({ write: (chunk) => void err.push(chunk) }),
      isTTY: { stdin: tty, stdout: tty },
      env: {},
      cwd: "/",
      size: () => (tty ? { rows: 24, cols: 80 } : undefined),
      onResize: () => () => {},
      setRawMode: async () => {},
      onSignal: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    signal: (number) => {
      for (const listener of [...listeners]) listener(number);
    },
    listeners: () => listeners.size,
    type: (bytes) => stdinController.enqueue(new Uint8Array(bytes)),
    stdout: () => decode(out),
    stderr: () => decode(err),
    closeStdout: () => {
      stdoutClosed = true;
    },
  };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A fake daemon: answers by "METHOD /path" (the version prefix removed) and records every request. */
function daemon(routes: Record<string, (request: Request, url: URL) => Response | Promise<Response>>) {
  const requests: string[] = [];
  const transport: ApiTransport = async (request) => {
    const url = new URL(request.url);
    const path = url.pathname.replace(/^\/v[\d.]+/, "");
    requests.push(`${request.method} ${path}${url.search}`);
    if (path === "/_ping") return new Response("OK", { headers: { "api-version": "1.43" } });
    const route = routes[`${request.method} ${path}`];
    return route ? route(request, url) : json({ message: `no route for ${request.method} ${path}` }, 404);
  };
  return { transport, requests };
}

const until = async (condition: () => boolean, what: string) => {
  for (let tries = 0; tries < 400; tries++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
};

/** A container that runs until the test ends it: attach output, wait answer and kills are all the test's. */
function runningContainer(tty = false) {
  const output = new Feed();
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => {
    exit = resolve;
  });
  const fake = daemon({
    "POST /containers/create": () => json({ Id: ID, Warnings: [] }, 201),
    [`POST /containers/${ID}/attach`]: () =>
      new Response(output.stream, {
        headers: { "content-type": `application/vnd.docker.${tty ? "raw" : "multiplexed"}-stream` },
      }),
    [`POST /containers/${ID}/wait`]: async () => json({ StatusCode: await exited, Error: null }),
    [`POST /containers/${ID}/start`]: () => new Response(null, { status: 204 }),
    [`POST /containers/${ID}/kill`]: () => new Response(null, { status: 204 }),
    [`POST /containers/${ID}/resize`]: () => new Response(null, { status: 200 }),
  });
  return { output, exit, ...fake };
}

describe("signals", () => {
  it("docker run passes Ctrl-C to the container (kill?signal=INT) and exits with the container's code", async () => {
    const container = runningContainer();
    const term = terminal();
    const code = runCli(["run", "busybox", "sh"], term.io, container.transport);
    await until(() => container.requests.includes(`POST /containers/${ID}/start`), "the start");
    await until(() => term.listeners() > 0, "the signal proxy");
    container.output.push(encodeFrame("stdout", encoder.encode("waiting\n")));
    term.signal(2);
    await until(() => container.requests.some((r) => r.startsWith(`POST /containers/${ID}/kill`)), "the kill");
    expect(container.requests).toContain(`POST /containers/${ID}/kill?signal=INT`);
    // The CLI keeps waiting: the container decides what a SIGINT means.
    container.output.push(encodeFrame("stdout", encoder.encode("got-int\n")));
    container.output.end();
    container.exit(3);
    expect(await code).toBe(3);
    expect(term.stdout()).toBe("waiting\ngot-int\n");
    expect(term.listeners()).toBe(0);
  });

  it("docker run --sig-proxy=false ends at once on Ctrl-C (130) and lets go of the attach stream", async () => {
    const container = runningContainer();
    const term = terminal();
    const code = runCli(["run", "--sig-proxy=false", "busybox", "sh"], term.io, container.transport);
    await until(() => term.listeners() > 0, "a signal listener");
    term.signal(2);
    expect(await code).toBe(130);
    expect(container.output.cancelled).toBe(true);
    expect(container.requests.some((r) => r.includes("/kill"))).toBe(false);
  });

  it("the third SIGINT to a container that ignores them forces docker run out, as docker's does", async () => {
    const container = runningContainer();
    const term = terminal();
    const code = runCli(["run", "busybox", "sh"], term.io, container.transport);
    await until(() => term.listeners() > 0, "the signal proxy");
    for (const _ of [1, 2, 3]) term.signal(2);
    expect(await code).toBe(1);
    expect(term.stderr()).toContain("got 3 SIGTERM/SIGINTs, forcefully exiting");
    expect(container.requests.filter((r) => r === `POST /containers/${ID}/kill?signal=INT`)).toHaveLength(3);
    expect(container.output.cancelled).toBe(true);
  });

  it("docker start -a passes SIGTERM on as TERM", async () => {
    const container = runningContainer();
    const fake = daemon({
      "GET /containers/web/json": () =>
        json({ Id: ID, Config: { Tty: false, OpenStdin: false }, HostConfig: { AutoRemove: false } }),
    });
    const transport: ApiTransport = (request) =>
      new URL(request.url).pathname.endsWith("/containers/web/json")
        ? fake.transport(request)
        : container.transport(request);
    const term = terminal();
    const code = runCli(["start", "-a", "web"], term.io, transport);
    await until(() => container.requests.includes(`POST /containers/${ID}/start`), "the start");
    await until(() => term.listeners() > 0, "the signal proxy");
    term.signal(15);
    await until(() => container.requests.includes(`POST /containers/${ID}/kill?signal=TERM`), "the kill");
    container.output.end();
    container.exit(143);
    expect(await code).toBe(143);
  });

  it("docker exec does not pass signals on: Ctrl-C ends the CLI with 130 and cancels the exec's stream", async () => {
    const output = new Feed();
    const fake = daemon({
      "POST /containers/web/exec": () => json({ Id: "e1" }, 201),
      "POST /exec/e1/start": () =>
        new Response(output.stream, { headers: { "content-type": "application/vnd.docker.multiplexed-stream" } }),
    });
    const term = terminal();
    const code = runCli(["exec", "web", "top"], term.io, fake.transport);
    await until(() => term.listeners() > 0, "a signal listener");
    term.signal(2);
    expect(await code).toBe(130);
    expect(output.cancelled).toBe(true);
    expect(fake.requests.some((r) => r.includes("/kill"))).toBe(false);
  });

  it("docker logs -f ends at once on Ctrl-C (130) and the daemon's stream is cancelled", async () => {
    const logs = new Feed();
    const fake = daemon({
      "GET /containers/web/json": () => json({ Id: ID, Config: { Tty: false } }),
      [`GET /containers/${ID}/logs`]: () => new Response(logs.stream),
    });
    const term = terminal();
    const code = runCli(["logs", "-f", "web"], term.io, fake.transport);
    logs.push(encodeFrame("stdout", encoder.encode("line 1\n")));
    await until(() => term.stdout() === "line 1\n", "the first line");
    term.signal(2);
    expect(await code).toBe(130);
    expect(logs.cancelled).toBe(true);
    expect(term.stderr()).toBe("");
  });

  it("docker events and docker wait end on Ctrl-C with 130, cancelling their streams", async () => {
    const events = new Feed();
    const wait = new Feed();
    const fake = daemon({
      "GET /events": () => new Response(events.stream),
      "POST /containers/web/wait": () => new Response(wait.stream),
    });
    for (const [argv, feed] of [
      [["events"], events],
      [["wait", "web"], wait],
    ] as const) {
      const term = terminal();
      const code = runCli([...argv], term.io, fake.transport);
      await until(() => term.listeners() > 0, `${argv[0]}'s signal listener`);
      term.signal(2);
      expect(await code).toBe(130);
      expect(feed.cancelled).toBe(true);
    }
  });

  it("Ctrl-C during docker run's pull stops it (130) without a word more, cancelling the pull's stream", async () => {
    const progress = new Feed();
    const fake = daemon({
      "POST /containers/create": () => json({ message: "No such image: busybox:latest" }, 404),
      "POST /images/create": () => new Response(progress.stream),
    });
    const term = terminal();
    const code = runCli(["run", "busybox"], term.io, fake.transport);
    progress.push(`${JSON.stringify({ status: "Pulling from library/busybox", id: "latest" })}\n`);
    await until(() => term.listeners() > 0, "the pull's signal listener");
    term.signal(2);
    expect(await code).toBe(130);
    expect(progress.cancelled).toBe(true);
    expect(term.stderr()).toBe("Unable to find image 'busybox:latest' locally\nlatest: Pulling from library/busybox\n");
  });

  it("a stdout nobody reads any more ends docker logs -f (141, like SIGPIPE) and cancels the stream", async () => {
    const logs = new Feed();
    const fake = daemon({
      "GET /containers/web/json": () => json({ Id: ID, Config: { Tty: false } }),
      [`GET /containers/${ID}/logs`]: () => new Response(logs.stream),
    });
    const term = terminal();
    const code = runCli(["logs", "-f", "web"], term.io, fake.transport);
    logs.push(encodeFrame("stdout", encoder.encode("line 1\n")));
    await until(() => term.stdout() === "line 1\n", "the first line");
    term.closeStdout();
    logs.push(encodeFrame("stdout", encoder.encode("line 2\n")));
    expect(await code).toBe(141);
    expect(logs.cancelled).toBe(true);
    expect(term.stderr()).toBe("");
  });
});

describe("docker stats (streaming)", () => {
  const sample = (memory: number) =>
    `${JSON.stringify({
      id: ID,
      name: "/web",
      memory_stats: { usage: memory, limit: 64 * 1024 * 1024, stats: {} },
      pids_stats: { current: 2 },
    })}\n`;

  function statsDaemon() {
    const samples = new Feed();
    const events = new Feed();
    const other = new Feed();
    const fake = daemon({
      "GET /containers/c2/stats": () => new Response(other.stream),
      "GET /events": () => new Response(events.stream),
      "GET /containers/json": () => json([{ Id: ID, Names: ["/web"] }]),
      [`GET /containers/${ID}/stats`]: () => new Response(samples.stream),
      "GET /containers/web/stats": () => new Response(samples.stream),
    });
    return { samples, events, other, ...fake };
  }

  it("on a terminal, redraws the table in place with each new sample; Ctrl-C ends it with 0, as docker", async () => {
    const stats = statsDaemon();
    const term = terminal(true);
    const code = runCli(["stats"], term.io, stats.transport);
    stats.samples.push(sample(1024 * 1024));
    await until(() => term.stdout().includes("1MiB / 64MiB"), "the first table");
    stats.samples.push(sample(2 * 1024 * 1024));
    await until(() => term.stdout().includes("2MiB / 64MiB"), "the redrawn table");
    const frames = term.stdout().split("\x1b[H").filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    // Each frame: the header and the row, each line erased to its end, then the rest of the screen cleared.
    expect(frames.at(-1)?.replaceAll("\x1b", "ESC")).toMatch(
      /^CONTAINER ID +NAME +CPU % .*ESC\[K\n4f2a0c1e9b7d +web +.*2MiB \/ 64MiB.*ESC\[K\nESC\[J$/s,
    );
    expect(stats.requests).toContain(`GET /containers/${ID}/stats?stream=1`);
    // A container that starts joins the table (docker follows the daemon's events when no names are given).
    stats.events.push(
      `${JSON.stringify({ Type: "container", Action: "start", Actor: { ID: "c2", Attributes: { name: "db" } } })}\n`,
    );
    stats.other.push(
      sample(3 * 1024 * 1024)
        .replace(ID, "c2")
        .replace("/web", "/db"),
    );
    await until(() => /\nc2 +db +.*3MiB/.test(term.stdout().split("\x1b[H").at(-1) ?? ""), "db's row");
    term.signal(2);
    expect(await code).toBe(0);
    expect(stats.samples.cancelled).toBe(true);
    expect(stats.events.cancelled).toBe(true);
    expect(stats.other.cancelled).toBe(true);
  });

  it("without a terminal, prints one table after another", async () => {
    const stats = statsDaemon();
    const term = terminal(false);
    const code = runCli(["stats", "web"], term.io, stats.transport);
    stats.samples.push(sample(1024 * 1024));
    await until(() => (term.stdout().match(/CONTAINER ID/g) ?? []).length >= 2, "two tables");
    expect(term.stdout()).not.toContain("\x1b[");
    expect(term.stdout()).toMatch(/^CONTAINER ID +NAME .*\n4f2a0c1e9b7d +web +0\.00% +1MiB \/ 64MiB +1\.56% /);
    term.signal(15);
    expect(await code).toBe(0);
    expect(stats.samples.cancelled).toBe(true);
    expect(STATS_REDRAW_MS).toBe(500);
  });

  it("a named container that does not exist fails as docker's does", async () => {
    const fake = daemon({});
    const term = terminal(false);
    expect(await runCli(["stats", "nope"], term.io, fake.transport)).toBe(1);
    expect(term.stderr()).toBe("Error: No such container: nope\n");
  });
});

describe("detach keys", () => {
  it("parses docker's notation: ctrl-<key>, single characters, DEL; refuses the rest", () => {
    expect([...parseDetachKeys("ctrl-p,ctrl-q")]).toEqual([16, 17]);
    expect([...parseDetachKeys("ctrl-@,ctrl-\\,a,DEL")]).toEqual([0, 28, 97, 127]);
    expect(() => parseDetachKeys("ctrl-pq")).toThrow("Unknown character: 'ctrl-pq'");
  });

  it("holds keystrokes that may start the sequence, detaches on the whole, gives back a broken one", () => {
    const keys = new EscapeSequence(DEFAULT_DETACH_KEYS);
    expect(keys.push(new Uint8Array([16]))).toEqual({ forward: new Uint8Array(0), detached: false });
    expect(keys.push(new Uint8Array([97]))).toEqual({ forward: new Uint8Array([16, 97]), detached: false });
    expect(keys.push(new Uint8Array([16]))).toEqual({ forward: new Uint8Array(0), detached: false });
    expect(keys.push(new Uint8Array([17]))).toEqual({ forward: new Uint8Array(0), detached: true });
    // Both keys in one read (a fast relay) still detach; pasted text around them does not.
    expect(keys.push(new Uint8Array([16, 17])).detached).toBe(true);
    expect(keys.push(new Uint8Array([104, 16, 17]))).toEqual({
      forward: new Uint8Array([104, 16, 17]),
      detached: false,
    });
  });

  it("docker run -it: Ctrl-P Ctrl-Q leaves the container running and exits 0 without a word", async () => {
    const container = runningContainer(true);
    const term = terminal(true);
    const stdinSent: Uint8Array[] = [];
    const transport: ApiTransport = async (request) => {
      if (new URL(request.url).pathname.endsWith("/attach") && request.body) {
        const body = request.body;
        void (async () => {
          const reader = body.getReader();
          for (let next = await reader.read(); !next.done; next = await reader.read()) stdinSent.push(next.value);
        })();
      }
      return container.transport(request);
    };
    const code = runCli(["run", "-it", "busybox", "sh"], term.io, transport);
    await until(() => container.requests.includes(`POST /containers/${ID}/start`), "the start");
    container.output.push("/ # ");
    term.type([108, 115]);
    await until(() => stdinSent.length === 1, "typed keys reaching the container");
    term.type([16]);
    term.type([17]);
    expect(await code).toBe(0);
    expect(term.stdout()).toBe("/ # ");
    expect(term.stderr()).toBe("");
    // The keys never reach the container; nothing stops or kills it; its output stream is let go of.
    expect(Buffer.concat(stdinSent).toString()).toBe("ls");
    expect(container.requests.some((r) => /\/(kill|stop)/.test(r))).toBe(false);
    expect(container.output.cancelled).toBe(true);
    expect(container.requests.find((r) => r.includes("/attach"))).not.toContain("detachKeys");
  });

  it("docker run --detach-keys tells the daemon and watches for them; a bad sequence is refused before creating", async () => {
    const container = runningContainer(true);
    const term = terminal(true);
    const code = runCli(["run", "-it", "--detach-keys", "ctrl-x,x", "busybox", "sh"], term.io, container.transport);
    await until(() => container.requests.includes(`POST /containers/${ID}/start`), "the start");
    expect(container.requests.find((r) => r.includes("/attach"))).toContain("detachKeys=ctrl-x%2Cx");
    term.type([24]);
    term.type([120]);
    expect(await code).toBe(0);

    const refused = terminal(true);
    expect(await runCli(["run", "-it", "--detach-keys", "ctrl-", "busybox"], refused.io, daemon({}).transport)).toBe(
      125,
    );
    expect(refused.stderr()).toBe("invalid detach keys (ctrl-): Unknown character: 'ctrl-'\n");
  });

  it("docker exec -it: the detach keys end the CLI with docker's 'read escape sequence' (exit 1)", async () => {
    const output = new Feed();
    let created: Record<string, unknown> = {};
    const fake = daemon({
      "POST /containers/web/exec": async (request) => {
        created = (await request.json()) as Record<string, unknown>;
        return json({ Id: "e1" }, 201);
      },
      "POST /exec/e1/start": (request) => {
        // A daemon reads what the user types as it comes.
        void request.body?.pipeTo(new WritableStream());
        return new Response(output.stream, { headers: { "content-type": "application/vnd.docker.raw-stream" } });
      },
      "POST /exec/e1/resize": () => new Response(null, { status: 200 }),
    });
    const term = terminal(true);
    const code = runCli(["exec", "-it", "--detach-keys", "ctrl-a", "web", "sh"], term.io, fake.transport);
    await until(() => fake.requests.includes("POST /exec/e1/start"), "the exec start");
    term.type([1]);
    expect(await code).toBe(1);
    expect(term.stderr()).toBe("read escape sequence\n");
    expect(created.DetachKeys).toBe("ctrl-a");
    expect(output.cancelled).toBe(true);
  });
});
