// Volumes and kept containers in the real page: a production build under `vite preview` (its registry proxy reaching
// a local registry seeded with busybox), in real Chromium, typed into the terminal as a learner would.
//
// 1. The workloads of volumes.bench.ts, so the two compare, run by the guest's login shell (the terminal's `sh -l`)
//    directly on the volume's path in the guest (`docker volume inspect -f '{{.Mountpoint}}'`: the writable 9P share
//    whose files the worker keeps in OPFS), not inside a container: sequential write of 16 MiB (dd, then sync),
//    sequential read of it with the guest's page cache dropped, 500 files of 1 KiB (printf builtin, synced) and
//    reading them back with the cache dropped. Each figure is timed in the page's clock from the Enter key's event to
//    the answer on screen (polled every frame): it includes the shell reading the line, one echo of the answer and
//    xterm drawing it (a few ms, not subtracted), where volumes.bench.ts includes one spawn round trip instead.
// 2. What kept containers add to a reload: `page.reload()` → the prompt on screen (the page's "drydock:prompt
//    painted" mark, in ms since the reload's navigation started), and → `docker ps -a` answered (that mark + Enter →
//    its answer on screen; the typing before Enter is left out, measured in the same clock), with an empty engine and
//    then with 5 stopped containers (each with a file in its own filesystem) and a 4 MiB volume; and the differences.
//    After the reloads it prints whether the last container's own file and the volume's file came back.
import type { Page } from "playwright-core";
import { startPageWithRegistry, waitForPrompt } from "../e2e/harness.ts";
import { type BenchSuite, median } from "./harness.ts";

const RUNS = 3;
const RELOADS = 5;
const MIB = 16;
const FILES = 500;
const CONTAINERS = 5;
const SCREEN = ".xterm-rows";

let serial = 1000;

/**
 * Types `command` followed by `; echo <tag>=<status>` and waits for that answer; the tag is written as arithmetic so
 * the typed line never matches it. Returns Enter → answer in ms (page clock) and what the command printed as status.
 */
async function run(page: Page, command: string, timeout = 300_000): Promise<{ ms: number; status: string }> {
  const tag = ++serial;
  await page.focus(".xterm-helper-textarea");
  await page.evaluate(
    `addEventListener("keydown", (e) => { if (e.key === "Enter") window.enteredAt = e.timeStamp; }, true)`,
  );
  await page.keyboard.type(`${command}; echo a$((${tag}-1))=$?`);
  await page.keyboard.press("Enter");
  const pattern = `a${tag - 1}=`;
  const handle = await page.waitForFunction(
    `(() => { const t = document.querySelector(${JSON.stringify(SCREEN)})?.textContent ?? "";
      const m = t.match(new RegExp(${JSON.stringify(`${pattern}(\\d+)`)})); return m ? [m[1], performance.now()] : false; })()`,
    undefined,
    { polling: "raf", timeout },
  );
  const [status, answered] = (await handle.jsonValue()) as [string, number];
  const entered = (await page.evaluate("window.enteredAt")) as number;
  return { ms: answered - entered, status };
}

/** Like run, but a command that does not exit 0 is an error naming it. */
async function must(page: Page, command: string, timeout?: number): Promise<number> {
  const { ms, status } = await run(page, command, timeout);
  if (status !== "0") throw new Error(`\`${command}\` exited ${status} in the page's terminal`);
  return ms;
}

/** Reloads, returns ms from the reload's navigation to the prompt painted and to `docker ps -a` answered. */
async function reload(page: Page, expected: number): Promise<{ prompt: number; ps: number }> {
  await page.reload();
  await waitForPrompt(page, 60_000);
  const mark = await page.waitForFunction(
    `performance.getEntriesByName("drydock:prompt painted")[0]?.startTime`,
    undefined,
    { polling: "raf", timeout: 10_000 },
  );
  const prompt = (await mark.jsonValue()) as number;
  const { ms, status } = await run(page, `test $(docker ps -a -q | wc -l) -eq ${expected}`, 120_000);
  if (status !== "0") throw new Error(`after a reload, \`docker ps -a\` did not list ${expected} containers`);
  return { prompt, ps: prompt + ms };
}

const suite: BenchSuite = {
  name: "page-volumes",
  async run(ctx) {
    const started = await startPageWithRegistry(["busybox"]);
    try {
      const { page } = started.browser;
      const busybox = started.images.busybox.reference;
      await page.goto(started.server.url);
      await waitForPrompt(page, 60_000);

      // --- 1. a volume's files -------------------------------------------------------------------------------------
      await must(
        page,
        "clear; docker volume create bench >/dev/null && p=$(docker volume inspect -f '{{.Mountpoint}}' bench) && test -d $p",
      );
      await must(page, "clear; dd if=/dev/zero of=$p/warm bs=1M count=1 2>/dev/null && sync && rm $p/warm");
      const megabytes = (MIB * 1024 * 1024) / 1e6;
      const write: number[] = [];
      const read: number[] = [];
      const smallWrite: number[] = [];
      const smallRead: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        await must(page, "clear; rm -rf $p/* && sync");
        write.push(
          megabytes / ((await must(page, `dd if=/dev/zero of=$p/big bs=1M count=${MIB} 2>/dev/null && sync`)) / 1000),
        );
        read.push(
          megabytes / ((await must(page, "echo 3 > /proc/sys/vm/drop_caches && cat $p/big > /dev/null")) / 1000),
        );
        smallWrite.push(
          FILES /
            ((await must(
              page,
              `mkdir -p $p/small && (cd $p/small && for i in $(seq ${FILES}); do printf %1024s > f$i; done) && sync`,
            )) /
              1000),
        );
        smallRead.push(
          FILES / ((await must(page, "echo 3 > /proc/sys/vm/drop_caches && cat $p/small/f* > /dev/null")) / 1000),
        );
      }
      ctx.samples(`sequential write of ${MIB} MiB to a volume, synced (page, guest shell)`, write, "MB/s");
      ctx.samples(`sequential read of ${MIB} MiB from a volume, page cache dropped (page, guest shell)`, read, "MB/s");
      ctx.samples(`write ${FILES} files of 1 KiB to a volume, synced (page, guest shell)`, smallWrite, "files/s");
      ctx.samples(
        `read ${FILES} files of 1 KiB from a volume, page cache dropped (page, guest shell)`,
        smallRead,
        "files/s",
      );
      await must(page, "clear; docker volume rm bench >/dev/null");

      // --- 2. a reload, empty engine vs kept containers ------------------------------------------------------------
      const measure = async (expected: number) => {
        await reload(page, expected); // untimed: whatever the browser keeps after a reload, kept for all
        const prompts: number[] = [];
        const answers: number[] = [];
        for (let i = 0; i < RELOADS; i++) {
          const { prompt, ps } = await reload(page, expected);
          prompts.push(prompt);
          answers.push(ps);
        }
        return { prompts, answers };
      };
      const empty = await measure(0);
      // The volume's file is written by the guest's shell on its path, as in part 1 (the fixture busybox has no dd).
      await must(
        page,
        `clear; n=0; for i in $(seq ${CONTAINERS}); do docker run --name kept$i ${busybox} sh -c "cat /mine.txt 2>/dev/null || echo mine-$i > /mine.txt" && n=$((n+1)); done; test $n -eq ${CONTAINERS} && docker volume create kept >/dev/null && dd if=/dev/zero of=$(docker volume inspect -f '{{.Mountpoint}}' kept)/f bs=1M count=4 2>/dev/null && sync`,
      );
      const kept = await measure(CONTAINERS);
      // What the figures say they are: the containers' own files and the volume came back (said, not asserted).
      const checks = {
        [`kept${CONTAINERS}'s /mine.txt (started again, it prints the file it finds)`]: `clear; docker start -a kept${CONTAINERS} | grep -q mine-${CONTAINERS}`,
        "the volume's 4 MiB file, seen by a container": `clear; docker run --rm -v kept:/v ${busybox} sh -c 'test $(wc -c < /v/f) -eq ${4 * 1024 * 1024}'`,
      };
      for (const [what, command] of Object.entries(checks)) {
        const { status } = await run(page, command, 120_000);
        console.log(
          `page-volumes: after the reloads, ${what}: ${status === "0" ? "kept" : `NOT found (exit ${status})`}`,
        );
      }
      await run(
        page,
        `clear; docker rm kept$(seq -s ' kept' ${CONTAINERS}) >/dev/null && docker volume rm kept >/dev/null`,
      );

      ctx.samples("reload → prompt on screen, empty engine", empty.prompts, "ms");
      ctx.samples(`reload → prompt on screen, ${CONTAINERS} stopped containers + a 4 MiB volume`, kept.prompts, "ms");
      ctx.record(
        "reload → prompt: what the kept containers add (difference of medians)",
        median(kept.prompts) - median(empty.prompts),
        "ms",
      );
      ctx.samples("reload → `docker ps -a` answered, empty engine", empty.answers, "ms");
      ctx.samples(
        `reload → \`docker ps -a\` answered, ${CONTAINERS} stopped containers + a 4 MiB volume`,
        kept.answers,
        "ms",
      );
      ctx.record(
        "reload → `docker ps -a`: what the kept containers add (difference of medians)",
        median(kept.answers) - median(empty.answers),
        "ms",
      );
    } finally {
      await started.close();
    }
  },
};

export default suite;
