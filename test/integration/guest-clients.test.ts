// The guest's own clients, run in the real guest: `docker` (drydockd's relay applet, served by engine/cli/relay.ts
// with a stand-in CLI written here) and `curl` (drydockd's small HTTP client, against a responder written here).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GuestConnection } from "../../engine/agent/client.ts";
import type { CliIO } from "../../engine/cli/io.ts";
import { serveCliRelay } from "../../engine/cli/relay.ts";
import { serveHttpConnection } from "../../engine/http/index.ts";
import type { Drydock, GuestProcess } from "../../engine/index.ts";
import { bootDrydock } from "../../engine/node/index.ts";

let drydock: Drydock;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"];

/** A stand-in for engine/cli's runCli: each test's `docker VERB` does what VERBS[VERB] says. */
type Verb = (argv: string[], io: CliIO, connection: GuestConnection) => Promise<number>;
const VERBS: Record<string, Verb> = {};

async function write(stream: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stream.getWriter();
  await writer.write(encoder.encode(text));
  writer.releaseLock();
}

// ---- a minimal HTTP/1.1 responder on a guest socket, for curl ----------------------------------------------------

let releaseLastChunk: () => void = () => {};

async function answerHttp(connection: GuestConnection): Promise<void> {
  const reader = connection.readable.getReader();
  let received = new Uint8Array(0);
  const headEnd = () => decoder.decode(received).indexOf("\r\n\r\n");
  const more = async () => {
    const { value, done } = await reader.read();
    if (done) throw new Error("the client left before its request was complete");
    received = new Uint8Array([...received, ...value]);
  };
  while (headEnd() < 0) await more();
  const head = decoder.decode(received).slice(0, headEnd());
  const [requestLine = "", ...headerLines] = head.split("\r\n");
  const headers = Object.fromEntries(
    headerLines.map((line) => [
      line.slice(0, line.indexOf(":")).toLowerCase(),
      line.slice(line.indexOf(":") + 1).trim(),
    ]),
  );
  const bodyStart = encoder.encode(head).length + 4;
  const length = Number(headers["content-length"] ?? 0);
  while (received.length < bodyStart + length) await more();
  const body = decoder.decode(received.slice(bodyStart, bodyStart + length));
  const [method, path] = requestLine.split(" ");

  const writer = connection.writable.getWriter();
  const send = (text: string) => writer.write(encoder.encode(text));
  if (path === "/chunked") {
    await send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
    await send("4\r\none,\r\n");
    await new Promise<void>((resolve) => {
      releaseLastChunk = resolve;
    });
    await send("a\r\ntwo,three\n\r\n0\r\n\r\n");
  } else if (path === "/missing") {
    const json = '{"message":"No such container: nope"}\n';
    await send(
      `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
    );
  } else {
    const json = `${JSON.stringify({ method, path, headers, body })}\n`;
    const bytes = encoder.encode(json);
    await send(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`);
    await writer.write(bytes);
  }
  await writer.close();
  await reader.cancel();
}

// ---- the same through engine/http's server, the one the guest's Docker socket is answered by -------------------

let releaseEvent: () => void = () => {};

async function answerFetch(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/events") {
    // An endless stream in Docker's way: one JSON line per event, as they happen.
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('{"status":"create"}\n'));
        await new Promise<void>((resolve) => {
          releaseEvent = resolve;
        });
        controller.enqueue(encoder.encode('{"status":"start"}\n'));
        controller.close();
      },
    });
    return new Response(stream, { headers: { "Content-Type": "application/json" } });
  }
  return Response.json(
    { method: request.method, path: url.pathname + url.search, body: await request.text() },
    { status: request.method === "POST" ? 201 : 200 },
  );
}

beforeAll(async () => {
  drydock = await bootDrydock();
  await drydock.agent.listen("/run/drydock/cli.sock", (connection) => {
    void serveCliRelay(connection, (argv, io) => {
      const verb = VERBS[argv[0] ?? ""];
      if (!verb) throw new Error(`the test has no verb ${argv[0]}`);
      return verb(argv, io, connection);
    });
  });
  await drydock.agent.listen("/run/t.sock", (connection) => void answerHttp(connection));
  await drydock.agent.listen("/run/api.sock", (connection) => void serveHttpConnection(connection, answerFetch));
});

afterAll(async () => {
  await drydock?.dispose();
});

// ---- pty helpers -----------------------------------------------------------------------------------------------

/** A shell on a pty; `until` reads its screen until a pattern shows up and returns what came since the last call. */
async function shellOnPty(): Promise<{
  proc: GuestProcess;
  type: (text: string) => Promise<void>;
  until: (pattern: RegExp) => Promise<string>;
}> {
  const proc = await drydock.spawn("sh", [], { pty: { rows: 24, cols: 80 }, env: [...ENV, "PS1=$ ", "TERM=dumb"] });
  const writer = proc.stdin.getWriter();
  const reader = proc.stdout.getReader();
  let text = "";
  return {
    proc,
    type: (t) => writer.write(encoder.encode(t)),
    until: async (pattern) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the shell ended before ${pattern}; it said:\n${text}`);
        text += decoder.decode(value, { stream: true });
      }
      const match = pattern.exec(text);
      const end = (match?.index ?? 0) + (match?.[0].length ?? 0);
      const seen = text.slice(0, end);
      text = text.slice(end);
      return seen;
    },
  };
}

/** The terminal's modes as `stty -a` prints them (the first line, speed and size, left out). */
const modes = (sttyOutput: string) => sttyOutput.slice(sttyOutput.indexOf("intr")).replace(/\r/g, "").trim();

describe("docker (the relay applet)", () => {
  it("hands argv, env and cwd to the engine and returns its stdout, stderr and exit code", async () => {
    VERBS.echo = async (argv, io) => {
      await write(
        io.stdout,
        `${JSON.stringify({ argv, foo: io.env.FOO, cwd: io.cwd, tty: io.isTTY, size: io.size() })}\n`,
      );
      await write(io.stderr, "to stderr\n");
      return 7;
    };
    const argv = ["echo", "--format", '{{.ID}} "quoted"', "tab\there", "back\\slash", "new\nline", "é ☃", ""];
    const foo = 'a=b "c"\u0001\u001f\u007f\\';
    const result = await drydock.agent.run(["docker", ...argv], { env: [...ENV, `FOO=${foo}`], cwd: "/tmp" });
    expect(result.code).toBe(7);
    expect(result.stderr).toBe("to stderr\n");
    expect(JSON.parse(result.stdout)).toEqual({
      argv,
      foo,
      cwd: "/tmp",
      tty: { stdin: false, stdout: false },
    });
  });

  it("does not read stdin unless the engine asks, so what follows in the input is left for the next command", async () => {
    VERBS.noread = async (_argv, io) => {
      await write(io.stdout, "noread ran\n");
      return 0;
    };
    const { stdout, code } = await drydock.agent.run(["sh", "-c", "printf 'one\\ntwo\\n' | { docker noread; cat; }"]);
    expect(code).toBe(0);
    expect(stdout).toBe("noread ran\none\ntwo\n");
  });

  it("copies stdin to the engine once it is read (300 kB through and back)", async () => {
    VERBS.cat = async (_argv, io) => {
      await io.stdin.pipeTo(io.stdout);
      return 0;
    };
    const small = await drydock.agent.run(["docker", "cat"], { input: "hello\nworld" });
    expect(small).toEqual({ stdout: "hello\nworld", stderr: "", code: 0 });
    const big = await drydock.agent.run([
      "sh",
      "-c",
      "head -c 300000 /dev/urandom > /tmp/in && docker cat < /tmp/in | cmp - /tmp/in && echo same",
    ]);
    expect(big.stdout).toBe("same\n");
  });

  it("ends like any program whose reader left when its output pipe closes, and the CLI's writes then fail", async () => {
    let cliSaw = "";
    VERBS.yes = async (_argv, io) => {
      const writer = io.stdout.getWriter();
      try {
        for (;;) await writer.write(encoder.encode("y\n"));
      } catch (error) {
        cliSaw = error instanceof Error ? error.message : String(error);
      }
      return 0;
    };
    const { stdout } = await drydock.agent.run(["sh", "-c", "set -o pipefail; docker yes | head -n 2; echo rc=$?"]);
    expect(stdout).toBe("y\ny\nrc=141\n");
    await expect.poll(() => cliSaw).toBe("the docker command in the guest has ended");
  });

  it("exits with 125 and the message when the engine's CLI throws", async () => {
    VERBS.throw = async () => {
      throw new Error("boom: nothing to do");
    };
    expect(await drydock.agent.run(["docker", "throw"])).toEqual({
      stdout: "",
      stderr: "docker: boom: nothing to do\n",
      code: 125,
    });
  });

  it("says where it looked and exits 125 when the engine does not listen", async () => {
    // A private /run/drydock without the socket: what a guest whose engine is gone looks like.
    const result = await drydock.agent.run(["docker", "ps"], {
      namespaces: ["mount"],
      mounts: [{ source: "tmpfs", target: "/run/drydock", fstype: "tmpfs" }],
    });
    expect(result).toEqual({
      stdout: "",
      stderr:
        "docker: cannot reach the Drydock engine at /run/drydock/cli.sock: No such file or directory (is the page's engine running?)\n",
      code: 125,
    });
  });

  describe("on a terminal", () => {
    let shell: Awaited<ReturnType<typeof shellOnPty>>;
    let ttyPath = "";
    let before = "";
    /** `stty -a` of the shell's terminal, run by the shell itself. */
    const sttyNow = async () => {
      await shell.type("stty -a; echo STTY-$((40+2))\n");
      const out = await shell.until(/STTY-42\r?\n/);
      return modes(out.slice(out.indexOf("speed"), out.lastIndexOf("STTY-42")));
    };
    const exitStatus = async () => {
      await shell.type("echo rc=$?\n");
      return Number((await shell.until(/rc=(\d+)\r?\n/)).match(/rc=(\d+)\r?\n/)?.[1]);
    };

    beforeAll(async () => {
      shell = await shellOnPty();
      await shell.until(/\$ /);
      // busybox's line editor asks the terminal where its cursor is at each prompt and may swallow the first line
      // typed while it waits for the answer; a throwaway line goes first.
      await shell.type("true\n");
      ttyPath = (await drydock.agent.run(["readlink", `/proc/${shell.proc.pid}/fd/0`])).stdout.trim();
      expect(ttyPath).toMatch(/^\/dev\/pts\/\d+$/);
      before = await sttyNow();
      expect(before).toMatch(/ icanon /);
      expect(before).toMatch(/ echo /);
    });

    afterAll(() => shell?.proc.kill(9));

    it("sees the terminal, puts it in raw mode on request and restores it", async () => {
      let during = "";
      let seen: unknown;
      VERBS.raw = async (_argv, io) => {
        seen = { tty: io.isTTY, size: io.size() };
        await io.setRawMode(true);
        during = (await drydock.agent.run(["stty", "-a", "-F", ttyPath])).stdout;
        await io.setRawMode(false);
        return 0;
      };
      await shell.type("docker raw\n");
      expect(await exitStatus()).toBe(0);
      expect(seen).toEqual({ tty: { stdin: true, stdout: true }, size: { rows: 24, cols: 80 } });
      expect(modes(during)).toMatch(/-icanon/);
      expect(modes(during)).toMatch(/-echo /);
      expect(modes(during)).toMatch(/-isig/);
      expect(await sttyNow()).toBe(before);
    });

    it("does not eat keys typed ahead for the shell", async () => {
      VERBS.slow = async (_argv, io) => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        await write(io.stdout, "slow done\n");
        return 0;
      };
      await shell.type("docker slow\necho typed-$((2+3))\n");
      await shell.until(/slow done/);
      expect(await shell.until(/typed-5\r?\n/)).not.toMatch(/slow done/);
    });

    it("relays window resizes", async () => {
      VERBS.resize = async (_argv, io) => {
        const resized = new Promise<{ rows: number; cols: number }>((resolve) => io.onResize(resolve));
        await write(io.stdout, "waiting for a resize\n");
        const size = await resized;
        await write(io.stdout, `resized to ${size.rows}x${size.cols}, size() ${JSON.stringify(io.size())}\n`);
        return 0;
      };
      await shell.type("docker resize\n");
      await shell.until(/waiting for a resize/);
      shell.proc.resize(30, 100);
      expect(await shell.until(/resized to [^\n]*\n/)).toMatch(/resized to 30x100, size\(\) \{"rows":30,"cols":100\}/);
      expect(await exitStatus()).toBe(0);
      shell.proc.resize(24, 80);
    });

    it("relays ^C as SIGINT while the terminal is not raw", async () => {
      VERBS.interrupt = async (_argv, io) => {
        const signal = new Promise<number>((resolve) => io.onSignal?.(resolve));
        await write(io.stdout, "waiting for a signal\n");
        await write(io.stdout, `got signal ${await signal}\n`);
        return 0;
      };
      await shell.type("docker interrupt\n");
      await shell.until(/waiting for a signal/);
      await shell.type("\x03");
      await shell.until(/got signal 2/);
      expect(await exitStatus()).toBe(0);
    });

    it("ends with 130 on ^C when the CLI does not listen for signals", async () => {
      VERBS.hang = async (_argv, io) => {
        await write(io.stdout, "hanging\n");
        return new Promise<number>(() => {});
      };
      await shell.type("docker hang\n");
      await shell.until(/hanging/);
      await shell.type("\x03");
      expect(await exitStatus()).toBe(130);
    });

    it("gives up on the third ^C when the CLI hears signals but does not end", async () => {
      VERBS.deaf = async (_argv, io) => {
        let heard = 0;
        io.onSignal?.(() => void write(io.stdout, `heard ${++heard}\n`));
        await write(io.stdout, "not listening\n");
        return new Promise<number>(() => {});
      };
      await shell.type("docker deaf\n");
      await shell.until(/not listening/);
      await shell.type("\x03");
      await shell.until(/heard 1/);
      await shell.type("\x03");
      await shell.until(/heard 2/);
      await shell.type("\x03");
      expect(await shell.until(/forcefully exiting/)).not.toMatch(/heard 3/);
      expect(await exitStatus()).toBe(130);
    });

    it("restores the terminal and says so when the engine goes away mid-command", async () => {
      VERBS.drop = async (_argv, io, connection) => {
        await io.setRawMode(true);
        connection.close();
        return new Promise<number>(() => {});
      };
      await shell.type("docker drop\n");
      expect(await shell.until(/lost the connection[^\n]*\n/)).toMatch(
        /docker: lost the connection to the Drydock engine/,
      );
      expect(await exitStatus()).toBe(125);
      expect(await sttyNow()).toBe(before);
    });
  });
});

describe("curl", () => {
  const curl = (...args: string[]) => drydock.agent.run(["curl", ...args]);
  const socket = ["--unix-socket", "/run/t.sock"];

  it("GETs over a unix socket with curl's request headers", async () => {
    const { stdout, stderr, code } = await curl("-s", ...socket, "http://localhost/containers/json?all=1");
    expect({ stderr, code }).toEqual({ stderr: "", code: 0 });
    expect(JSON.parse(stdout)).toEqual({
      method: "GET",
      path: "/containers/json?all=1",
      headers: { host: "localhost", "user-agent": "curl/8.0 (drydock)", accept: "*/*" },
      body: "",
    });
  });

  it("POSTs -d data as a form, joined with &, with -H headers and -X", async () => {
    const post = JSON.parse(
      (await curl(...socket, "-d", "a=1", "-d", "b=2", "-H", "X-Test: yes", "http://localhost/x")).stdout,
    );
    expect(post).toMatchObject({
      method: "POST",
      body: "a=1&b=2",
      headers: { "content-type": "application/x-www-form-urlencoded", "content-length": "7", "x-test": "yes" },
    });
    const json = await curl(
      ...socket,
      "-XPUT",
      "-H",
      "Content-Type: application/json",
      "--data-binary",
      '{"Image":"busybox"}',
      "http://localhost/y",
    );
    expect(JSON.parse(json.stdout)).toMatchObject({
      method: "PUT",
      body: '{"Image":"busybox"}',
      headers: { "content-type": "application/json" },
    });
  });

  it("shows the response head with -i and both heads on stderr with -v", async () => {
    const included = await curl("-i", ...socket, "http://localhost/x");
    expect(included.stdout).toMatch(
      /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nContent-Length: \d+\r\n\r\n\{"method":"GET"/,
    );
    const verbose = await curl("-v", ...socket, "http://localhost/x");
    expect(verbose.stdout).toMatch(/^\{"method":"GET"/);
    const lines = verbose.stderr.replace(/\r/g, "").split("\n");
    expect(lines).toEqual(
      expect.arrayContaining([
        "> GET /x HTTP/1.1",
        "> Host: localhost",
        "> Accept: */*",
        "< HTTP/1.1 200 OK",
        "< Content-Type: application/json",
      ]),
    );
  });

  it("decodes a chunked answer and writes each piece as it arrives", async () => {
    const proc = await drydock.spawn("curl", ["-sN", ...socket, "http://localhost/chunked"]);
    const reader = proc.stdout.getReader();
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe("one,");
    releaseLastChunk();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += decoder.decode(r.value);
    expect(rest).toBe("two,three\n");
    expect((await proc.exit).code).toBe(0);
  });

  it("fails with 22 on an HTTP error with -f, and prints the body without it", async () => {
    expect(await curl("-f", ...socket, "http://localhost/missing")).toEqual({
      stdout: "",
      stderr: "curl: (22) The requested URL returned error: 404\n",
      code: 22,
    });
    expect(await curl("-sf", ...socket, "http://localhost/missing")).toEqual({ stdout: "", stderr: "", code: 22 });
    expect(await curl("-s", ...socket, "http://localhost/missing")).toEqual({
      stdout: '{"message":"No such container: nope"}\n',
      stderr: "",
      code: 0,
    });
  });

  it("writes the body to -o and the status with -w", async () => {
    const result = await drydock.agent.run([
      "sh",
      "-c",
      "curl -s -o /tmp/body -w '%{http_code}\\n' --unix-socket /run/t.sock http://localhost/missing && cat /tmp/body",
    ]);
    expect(result.stdout).toBe('404\n{"message":"No such container: nope"}\n');
  });

  it("fails with 7 when the socket is missing and 2 on an unknown option", async () => {
    expect(await curl("--unix-socket", "/run/nothing.sock", "http://localhost/_ping")).toEqual({
      stdout: "",
      stderr: "curl: (7) Failed to connect to localhost port 80 via /run/nothing.sock: No such file or directory\n",
      code: 7,
    });
    const unknown = await curl("--compressed", "http://localhost/");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^curl: option --compressed: is unknown\ncurl: this is Drydock's small curl; it knows --unix-socket/,
    );
  });

  it("talks to engine/http's server: JSON, a POST's body and a status, a stream of events as they happen", async () => {
    const api = ["--unix-socket", "/run/api.sock"];
    const list = await curl("-s", ...api, "http://localhost/v1.43/containers/json?all=1");
    expect(JSON.parse(list.stdout)).toEqual({ method: "GET", path: "/v1.43/containers/json?all=1", body: "" });
    const created = await curl(
      "-s",
      "-w",
      "\\n%{http_code}",
      ...api,
      "-H",
      "Content-Type: application/json",
      "-d",
      '{"Image":"busybox"}',
      "http://localhost/containers/create",
    );
    const [body, status] = created.stdout.split("\n");
    expect(status).toBe("201");
    expect(JSON.parse(body ?? "")).toMatchObject({ method: "POST", body: '{"Image":"busybox"}' });

    const events = await drydock.spawn("curl", ["-sN", ...api, "http://localhost/events"]);
    const reader = events.stdout.getReader();
    expect(decoder.decode((await reader.read()).value)).toBe('{"status":"create"}\n');
    releaseEvent();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += decoder.decode(r.value);
    expect(rest).toBe('{"status":"start"}\n');
    expect((await events.exit).code).toBe(0);
  });

  it("speaks TCP to an IPv4 address: 200 from busybox httpd, 7 from a closed port, 6 for a name", async () => {
    await drydock.agent.run(["sh", "-c", "mkdir -p /tmp/www && echo 'hello over tcp' > /tmp/www/index.html"]);
    const httpd = await drydock.spawn("httpd", ["-f", "-p", "127.0.0.1:8080", "-h", "/tmp/www"]);
    try {
      let answer = await curl("-s", "http://127.0.0.1:8080/index.html");
      for (let tries = 0; answer.code === 7 && tries < 50; tries++) {
        // httpd needs a moment to bind.
        await new Promise((resolve) => setTimeout(resolve, 100));
        answer = await curl("-s", "http://127.0.0.1:8080/index.html");
      }
      expect(answer).toEqual({ stdout: "hello over tcp\n", stderr: "", code: 0 });
    } finally {
      httpd.kill(15);
    }
    const closed = await curl("http://127.0.0.1:1/");
    expect(closed).toMatchObject({
      code: 7,
      stderr: "curl: (7) Failed to connect to 127.0.0.1 port 1: Connection refused\n",
    });
    expect(await curl("http://no-such-host.invalid/v2/")).toMatchObject({
      code: 6,
      stderr: "curl: (6) Could not resolve host: no-such-host.invalid\n",
    });
  });
});
