// The preview's round trip for a small page, as the page's worker makes it: one HTTP/1.1 request over a TCP
// connection opened in the guest (drydockd's TCP_CONNECT) to busybox httpd, and its whole answer read back. The
// service worker's hop (two MessagePort messages per chunk, in Chromium) comes on top.
import { guestTcpConnector, previewFetch } from "../../engine/index.ts";
import { bootDrydock } from "../../engine/node/index.ts";
import type { BenchSuite } from "./harness.ts";

const PAGE = `<!doctype html><title>bench</title><link rel="stylesheet" href="/style.css"><h1>${"x".repeat(2000)}</h1>`;

const suite: BenchSuite = {
  name: "preview",
  async run(ctx) {
    const drydock = await bootDrydock();
    try {
      await drydock.agent.mkdir("/tmp/bench-site", { parents: true });
      await drydock.agent.writeFile("/tmp/bench-site/index.html", new TextEncoder().encode(PAGE));
      await drydock.agent.writeFile("/tmp/bench-site/style.css", new TextEncoder().encode("h1{color:red}"));
      const { code } = await drydock.agent.run(["httpd", "-p", "8090", "-h", "/tmp/bench-site"]);
      if (code !== 0) throw new Error(`httpd did not start (exit ${code})`);
      const connect = guestTcpConnector(drydock.agent);
      const get = async (target: string) => {
        const answer = await previewFetch(
          connect,
          { port: 8090, method: "GET", target, headers: [["accept", "*/*"]], body: null },
          { publicBase: "http://127.0.0.1:5173/preview/8090" },
        );
        const bytes = (await new Response(answer.body).arrayBuffer()).byteLength;
        if (answer.status !== 200 || bytes === 0) throw new Error(`GET ${target}: ${answer.status}, ${bytes} bytes`);
      };
      await ctx.time(`preview GET of a small page (${PAGE.length} bytes), engine side`, 30, () => get("/"), {
        warmup: 5,
      });
      await ctx.time("preview of the page and its stylesheet (two requests in parallel)", 20, async () => {
        await Promise.all([get("/"), get("/style.css")]);
      });
    } finally {
      await drydock.dispose();
    }
  },
};

export default suite;
