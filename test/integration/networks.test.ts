// Docker's networking with the real docker CLI against the Node daemon and the real guest: containers on a user
// network reach each other by name through the embedded resolver, --network none has lo only, a published port
// answers from the guest, docker port shows it, a network in use cannot be removed, and network connect/disconnect
// edit a running container's /etc/hosts and resolver.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerService, type Drydock, type ImageService } from "../../engine/index.ts";
import { type Daemon, startDaemon } from "../../engine/node/daemon.ts";
import { bootDrydock, openNodeImageService } from "../../engine/node/index.ts";
import { DEBIAN_DOCKER, type Outcome, runDocker } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dir: string;
let images: ImageService;
let drydock: Drydock;
let containers: ContainerService;
let daemon: Daemon;

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dir = await mkdtemp(join(tmpdir(), "drydock-net-"));
  images = await openNodeImageService(join(dir, "root"));
  drydock = await bootDrydock();
  containers = ContainerService.open(drydock, images);
  daemon = await startDaemon({ host: `unix://${join(dir, "docker.sock")}`, images, containers });
  await images.pull(busybox.reference);
});

afterAll(async () => {
  await daemon?.close();
  await drydock?.dispose();
  await registry?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function docker(args: string[]): Promise<Outcome> {
  return runDocker({ host: `unix://${daemon.socketPath}`, home: dir }, args);
}

/** Runs busybox once and returns what it printed (its exit code must be 0). */
async function once(args: string[], command: string): Promise<string> {
  const result = await docker(["run", "--rm", ...args, busybox.reference, "sh", "-c", command]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout;
}

describe("networks with the real docker CLI", () => {
  it("two containers on a user network reach each other by name", async () => {
    const created = await docker(["network", "create", "app"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const ls = await docker(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    expect(ls.stdout.split("\n")).toEqual(
      expect.arrayContaining(["app bridge", "bridge bridge", "host host", "none null"]),
    );
    const web = await docker([
      "run",
      "-d",
      "--name",
      "web",
      "--network",
      "app",
      "--network-alias",
      "site",
      busybox.reference,
      "sh",
      "-c",
      "mkdir -p /www && echo hello from web > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    expect(web.stderr).toBe("");
    const inspect = await docker([
      "inspect",
      "-f",
      "{{.NetworkSettings.Networks.app.IPAddress}} {{.NetworkSettings.Networks.app.MacAddress}}",
      "web",
    ]);
    expect(inspect.stdout.trim()).toBe("172.18.0.2 02:42:ac:12:00:02");
    expect(await once(["--network", "app"], "wget -qO- http://web/")).toBe("hello from web\n");
    expect(await once(["--network", "app"], "wget -qO- http://site/")).toBe("hello from web\n");
    expect(await once(["--network", "app"], "cat /etc/resolv.conf")).toContain("nameserver 127.0.0.11");
    // Not on app: the name means nothing there.
    const outside = await docker(["run", "--rm", busybox.reference, "nslookup", "web"]);
    expect(outside.code).not.toBe(0);
    // In use: Docker's refusal; then gone once nothing runs on it.
    const inUse = await docker(["network", "rm", "app"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(
      /Error response from daemon: error while removing network: network app has active endpoints \(name:"web"/,
    );
    // Its bridge has dockerd's rules (masquerade, skip-DNAT, forward, isolation) while the network exists.
    const bridge = `br-${created.stdout.slice(0, 12)}`;
    const rulesOf = async () => (await drydock.agent.run(["/sbin/iptables-save"])).stdout;
    expect(await rulesOf()).toContain(`-A POSTROUTING -s 172.18.0.0/16 ! -o ${bridge} -j MASQUERADE\n`);
    expect(await rulesOf()).toContain(`-A DOCKER-ISOLATION-STAGE-2 -o ${bridge} -j DROP\n`);
    expect((await docker(["rm", "-f", "web"])).code).toBe(0);
    expect((await docker(["network", "rm", "app"])).stdout).toBe("app\n");
    expect(await rulesOf()).not.toContain(bridge);
  });

  it("--network none has only lo; the default bridge has eth0 on 172.17.0.0/16", async () => {
    expect(await once(["--network", "none"], "ls /sys/class/net")).toBe("lo\n");
    expect(await once([], "ls /sys/class/net | tr '\\n' ' '; ip -4 addr show eth0 | grep -o 'inet [0-9./]*'")).toMatch(
      /^eth0 lo inet 172\.17\.0\.\d+\/16\n$/,
    );
  });

  it("-p 8080:80 answers from the guest, docker port shows it, a taken port is refused", async () => {
    const web = await docker([
      "run",
      "-d",
      "--name",
      "pub",
      "-p",
      "8080:80",
      busybox.reference,
      "sh",
      "-c",
      "mkdir -p /www && echo published > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    expect(web.stderr).toBe("");
    expect((await docker(["port", "pub"])).stdout).toBe("80/tcp -> 0.0.0.0:8080\n");
    expect((await docker(["ps", "--format", "{{.Ports}}", "--filter", "name=pub"])).stdout).toBe(
      "0.0.0.0:8080->80/tcp\n",
    );
    const { stdout } = await drydock.agent.run(["/bin/busybox", "wget", "-qO-", "http://127.0.0.1:8080/"]);
    expect(stdout).toBe("published\n");
    const taken = await docker(["run", "-d", "-p", "8080:80", busybox.reference, "true"]);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toContain("Bind for 0.0.0.0:8080 failed: port is already allocated");
    expect((await docker(["rm", "-f", "pub"])).code).toBe(0);
  });

  it("-p writes dockerd's DNAT rule into the guest's nat table: the guest's own address goes through it, a bridge container through the proxy; rm -f takes it away", async () => {
    const trace: string[] = [];
    const stop = containers.tracer.subscribe((event) => {
      if (event.command?.startsWith("iptables ")) trace.push(event.command);
    });
    const web = await docker([
      "run",
      "-d",
      "--name",
      "natweb",
      "-p",
      "8081:80",
      busybox.reference,
      "sh",
      "-c",
      "mkdir -p /www && echo behind nat > /www/index.html && httpd -f -p 80 -h /www",
    ]);
    expect(web.stderr).toBe("");
    const ip = (await docker(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "natweb"])).stdout.trim();
    const guest = async (command: string) => {
      const result = await drydock.agent.run(["/bin/sh", "-c", command], {
        env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
      });
      expect(result.stderr).toBe("");
      return result.stdout;
    };
    const dnat = `-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination ${ip}:80`;
    const rules = await guest("iptables -t nat -S");
    expect(rules).toContain(`${dnat}\n`);
    expect(rules).toContain("-A DOCKER -i docker0 -j RETURN\n");
    expect(rules).toContain("-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n");
    expect(await guest("iptables -S FORWARD")).toContain("-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n");
    // The rule's packet counter, as `iptables -L -n -v` prints it.
    const packets = async () => {
      const line = (await guest("iptables -t nat -L DOCKER -n -v -x"))
        .split("\n")
        .find((l) => l.includes("dpt:8081") && l.includes(`to:${ip}:80`));
      expect(line).toBeDefined();
      return Number(line!.trim().split(/\s+/)[0]);
    };
    expect(await packets()).toBe(0);
    // A container on the default bridge asks the gateway: Docker's skip-DNAT leaves it to the proxy.
    expect(await once([], "wget -qO- http://172.17.0.1:8081/")).toBe("behind nat\n");
    expect(await packets()).toBe(0);
    // A container on the guest's own network asks the guest's address: OUTPUT → DOCKER → DNAT to the container.
    expect(await once(["--network", "host"], "wget -qO- http://192.168.86.100:8081/")).toBe("behind nat\n");
    expect(await packets()).toBeGreaterThan(0);
    // conntrack remembers the rewrite: asked for the guest's 8081, answered by the container's 80.
    expect(await guest("cat /proc/net/nf_conntrack")).toMatch(
      new RegExp(
        `dst=192\\.168\\.86\\.100 sport=\\d+ dport=8081 .*src=${ip.replaceAll(".", "\\.")} dst=192\\.168\\.86\\.100 sport=80 `,
      ),
    );
    expect((await docker(["rm", "-f", "natweb"])).code).toBe(0);
    expect(await guest("iptables -t nat -S DOCKER")).not.toContain("8081");
    expect(await guest("iptables -S DOCKER")).not.toContain(ip);
    stop();
    // Each rule is a step of the Trace, written as the iptables command it stands for.
    const typed = dnat.replace("!", "'!'");
    expect(trace).toContain(`iptables -t nat ${typed}`);
    expect(trace).toContain(`iptables -t nat ${typed.replace("-A", "-D")}`);
  });

  it("--dns is the embedded resolver's upstream on a user network; --dns-search and --dns-option reach resolv.conf", async () => {
    // A DNS server over TCP in a container (busybox nc and sh): every query is answered with 10.1.2.3.
    const script = [
      "set -- $(dd bs=1 count=2 2>/dev/null | od -An -tu1)",
      "n=$(($1 * 256 + $2))",
      "dd bs=1 count=$n of=/tmp/q 2>/dev/null",
      "t=$((n + 16))",
      'o() { printf "\\\\$(printf %o "$1")"; }',
      "o $((t / 256)); o $((t % 256))",
      "dd if=/tmp/q bs=1 count=2 2>/dev/null",
      "printf '\\201\\200\\000\\001\\000\\001\\000\\000\\000\\000'",
      "dd if=/tmp/q bs=1 skip=12 2>/dev/null",
      "printf '\\300\\014\\000\\001\\000\\001\\000\\000\\000\\074\\000\\004\\012\\001\\002\\003'",
    ].join("\n");
    expect((await docker(["network", "create", "dnsnet"])).code).toBe(0);
    const resolver = await docker([
      "run",
      "-d",
      "--name",
      "fakedns",
      "--network",
      "dnsnet",
      "-e",
      `SCRIPT=${script}`,
      busybox.reference,
      "sh",
      "-c",
      'echo "$SCRIPT" > /dns.sh && while true; do nc -l -p 53 -e sh /dns.sh; done',
    ]);
    expect(resolver.stderr).toBe("");
    const ip = (
      await docker(["inspect", "-f", "{{.NetworkSettings.Networks.dnsnet.IPAddress}}", "fakedns"])
    ).stdout.trim();
    let listening = false;
    for (let i = 0; i < 50 && !listening; i++) {
      listening = (await docker(["exec", "fakedns", "sh", "-c", "netstat -ltn | grep -q ':53 '"])).code === 0;
    }
    expect(listening).toBe(true);
    const asked = await once(
      ["--network", "dnsnet", "--dns", ip, "--dns-search", "corp.test", "--dns-option", "timeout:3"],
      "cat /etc/resolv.conf; nslookup -type=a intranet.test. 127.0.0.11",
    );
    expect(asked).toMatch(/^nameserver 127\.0\.0\.11$/m);
    expect(asked).toMatch(/^search corp\.test$/m);
    expect(asked).toMatch(/^options timeout:3 ndots:0$/m);
    expect(asked).toMatch(/Name:\s+intranet\.test\s+Address:\s+10\.1\.2\.3/);
    // Container names are still the embedded resolver's own answers.
    expect(await once(["--network", "dnsnet", "--dns", ip], "nslookup -type=a fakedns 127.0.0.11")).toContain(
      `Address: ${ip}`,
    );
    expect((await docker(["rm", "-f", "fakedns"])).code).toBe(0);
    expect((await docker(["network", "rm", "dnsnet"])).code).toBe(0);
    // No network of its own: the --dns servers themselves, with the search list and options.
    expect(
      await once(
        ["--network", "none", "--dns", "10.0.0.53", "--dns-search", "corp.test", "--dns-option", "ndots:2"],
        "cat /etc/resolv.conf",
      ),
    ).toBe("nameserver 10.0.0.53\nsearch corp.test\noptions ndots:2\n");
  });

  it("docker network connect gives a running default bridge container a hosts line and the new network's names; disconnect takes the line away", async () => {
    expect((await docker(["network", "create", "linked"])).code).toBe(0);
    const peer = await docker([
      "run",
      "-d",
      "--name",
      "peer",
      "--network",
      "linked",
      busybox.reference,
      "sleep",
      "600",
    ]);
    expect(peer.stderr).toBe("");
    const roamer = await docker(["run", "-d", "--name", "roamer", busybox.reference, "sleep", "600"]);
    expect(roamer.stderr).toBe("");
    const exec = async (command: string) => {
      const result = await docker(["exec", "roamer", "sh", "-c", command]);
      return { ...result, output: result.stdout + result.stderr };
    };
    const hostname = (await docker(["inspect", "-f", "{{.Config.Hostname}}", "roamer"])).stdout.trim();
    expect(hostname).toMatch(/^[0-9a-f]{12}$/);
    const hostsBefore = (await exec("cat /etc/hosts")).stdout;
    expect(hostsBefore).toMatch(new RegExp(`^172\\.17\\.0\\.\\d+\\s+${hostname}$`, "m"));
    expect((await exec("cat /etc/resolv.conf")).stdout).toMatch(/^nameserver 172\.17\.0\.1$/m);
    // On the default bridge, the user network's names mean nothing.
    expect((await exec("nslookup peer")).code).not.toBe(0);

    const connected = await docker(["network", "connect", "linked", "roamer"]);
    expect(connected.stderr).toBe("");
    expect(connected.code).toBe(0);
    const [ip, peerIp] = await Promise.all(
      ["roamer", "peer"].map(async (name) =>
        (await docker(["inspect", "-f", "{{.NetworkSettings.Networks.linked.IPAddress}}", name])).stdout.trim(),
      ),
    );
    expect(ip).toMatch(/^172\.\d+\.0\.\d+$/);
    const line = new RegExp(`^${ip!.replaceAll(".", "\\.")}\\s+${hostname}$`, "m");
    expect((await exec("cat /etc/hosts")).stdout).toMatch(line);
    // Without a restart: its resolv.conf now names the embedded resolver, which knows peer.
    expect((await exec("cat /etc/resolv.conf")).stdout).toMatch(/^nameserver 127\.0\.0\.11$/m);
    const lookup = await exec("nslookup peer");
    expect(lookup.code, lookup.output).toBe(0);
    expect(lookup.stdout).toMatch(new RegExp(`Address:\\s+${peerIp!.replaceAll(".", "\\.")}`));
    const ping = await exec("busybox ping -c 1 -W 5 peer");
    expect(ping.code, ping.output).toBe(0);
    expect(ping.stdout).toContain(`(${peerIp})`);
    expect(ping.stdout).toContain("1 packets received");

    const disconnected = await docker(["network", "disconnect", "linked", "roamer"]);
    expect(disconnected.stderr).toBe("");
    const after = (await exec("cat /etc/hosts")).stdout;
    expect(after).not.toMatch(line);
    expect(after).toBe(hostsBefore);
    expect((await exec("ls /sys/class/net | tr '\\n' ' '")).stdout).toBe("eth0 lo ");
    expect((await docker(["rm", "-f", "roamer", "peer"])).code).toBe(0);
    expect((await docker(["network", "rm", "linked"])).code).toBe(0);
  });

  it("docker stats shows a container's network I/O, and it rises with traffic; --network none has none", async () => {
    const web = await docker([
      "run",
      "-d",
      "--name",
      "talker",
      "-p",
      "8081:80",
      busybox.reference,
      "sh",
      "-c",
      "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=200 2>/dev/null && httpd -f -p 80 -h /www",
    ]);
    expect(web.stderr).toBe("");
    const netIo = async (name: string) =>
      (await docker(["stats", "--no-stream", "--format", "{{.NetIO}}", name])).stdout.trim();
    const before = await containers.stats("talker");
    expect(Object.keys(before.networks ?? {})).toEqual(["eth0"]);
    // `docker run -d` answers once the shell runs; its httpd listens a moment later.
    let fetched = "";
    for (let i = 0; i < 50 && fetched !== "204800"; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      fetched = (
        await drydock.agent.run(["/bin/sh", "-c", "wget -qO- http://127.0.0.1:8081/big | wc -c"])
      ).stdout.trim();
    }
    expect(fetched).toBe("204800");
    const after = await containers.stats("talker");
    const [was, now] = [before.networks!.eth0!, after.networks!.eth0!];
    expect(now.tx_bytes - was.tx_bytes).toBeGreaterThanOrEqual(204800);
    expect(now.tx_packets).toBeGreaterThan(was.tx_packets);
    expect(now.rx_bytes).toBeGreaterThan(was.rx_bytes);
    expect(now.rx_packets).toBeGreaterThan(was.rx_packets);
    // The real CLI sums the API's networks into NET I/O: what it sent is the 200 KiB file and more.
    const [received, sent] = (await netIo("talker")).split(" / ");
    expect(received).toMatch(/^\d+(\.\d+)?k?B$/);
    expect(sent).toMatch(/^2\d\d(\.\d+)?kB$/);
    expect((await docker(["rm", "-f", "talker"])).code).toBe(0);
    const alone = await docker(["run", "-d", "--name", "alone", "--network", "none", busybox.reference, "sleep", "60"]);
    expect(alone.stderr).toBe("");
    expect((await containers.stats("alone")).networks).toBeUndefined();
    expect(await netIo("alone")).toBe("0B / 0B");
    expect((await docker(["rm", "-f", "alone"])).code).toBe(0);
  });
});
