// `npm run lessons -- --check [lesson …]`: proves every lesson of the course can be done. Each lesson gets a fresh
// guest (restored from the saved state) whose docker talks to an engine pulling from a local registry that serves the
// fixture images under their Docker Hub names, so it runs offline and in CI. The steps are proved by
// web/lessons/verify.ts, the same module the page's lessons are parsed with: straight through, then each one again as
// the page opens it directly after "Start over", with a bystander container and file that Start over must not touch.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { ContainerService, serveDockerInGuest } from "../engine/index.ts";
import { bootDrydock, nodeWasiWorkers, openNodeImageService } from "../engine/node/index.ts";
import { GuestNodes } from "../engine/node/nodes.ts";
import type { ImageReference } from "../engine/oci/index.ts";
import { IMAGE_NAMES, MANIFEST_ACCEPT, seedRegistry } from "../test/fixtures/images.ts";
import { type Registry, startRegistry } from "../test/fixtures/registry.ts";
import { type Lesson, type LessonError, parseCourse } from "../web/lessons/format.ts";
import { formatStep, type LessonReport, type StepReport, verifyLesson } from "../web/lessons/verify.ts";

const ROOT = join(import.meta.dirname, "..");
/** Where the course lives. */
export const LESSONS_DIR = join(ROOT, "lessons");
/** What a lesson's scripts see, as in the page's `runScript`. */
const SCRIPT_ENV = ["HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

export interface CheckLessonsOptions {
  /** Lesson ids or their prefixes (`05`, `05-cgroups`); all lessons when empty. */
  only?: string[];
  /** The folder of lesson files; {@link LESSONS_DIR} by default. */
  dir?: string;
  /** Live progress, a line at a time. */
  log?: (line: string) => void;
  /** Only the straight run: skip proving Start over and opening each step directly (faster, for authors). */
  quick?: boolean;
}

/** What a learner did outside the lesson, which the lesson's setup (its Start over) must leave as it is. */
const BYSTANDER = {
  mark: [
    "docker rm -f drydock-bystander >/dev/null 2>&1",
    "docker run -d --name drydock-bystander busybox sleep 86400 >/dev/null",
    "mkdir -p /root/bystander && echo kept > /root/bystander/file",
  ].join(" && "),
  intact: [
    `[ "$(docker inspect --format '{{.State.Running}}' drydock-bystander)" = true ]`,
    "grep -qx kept /root/bystander/file",
  ].join(" && "),
};
/** Tags Docker Hub has that lessons use, served by the local registry with the fixture's content. */
const EXTRA_TAGS: Array<{ repository: string; from: string; to: string }> = [
  { repository: "busybox", from: "latest", to: "1.36" },
];

export interface CheckLessonsResult {
  /** Files that are not valid lessons: each says its file and line. */
  errors: LessonError[];
  reports: LessonReport[];
  ok: boolean;
}

/**
 * Reads the course and parses every lesson file (not the README), with paths relative to the repository.
 * @example
 * const { lessons, errors } = await loadCourseFromDisk();
 */
export async function loadCourseFromDisk(dir = LESSONS_DIR): Promise<{ lessons: Lesson[]; errors: LessonError[] }> {
  const names = (await readdir(dir)).filter((name) => name.endsWith(".md") && name !== "README.md");
  const files: Record<string, string> = {};
  for (const name of names) files[relative(ROOT, join(dir, name))] = await readFile(join(dir, name), "utf8");
  return parseCourse(files);
}

/**
 * Proves each chosen lesson in a fresh guest: pre-pulls, setup, then for every step the check fails, the solution
 * runs, the check passes. One local registry serves every lesson.
 * @example
 * const { ok, reports } = await checkLessons({ only: ["01"], log: console.log });
 */
export async function checkLessons(options: CheckLessonsOptions = {}): Promise<CheckLessonsResult> {
  const log = options.log ?? (() => {});
  const { lessons, errors } = await loadCourseFromDisk(options.dir);
  for (const error of errors) log(`✗ ${error.message}`);
  const only = options.only ?? [];
  const chosen = only.length ? lessons.filter((l) => only.some((o) => l.id.startsWith(o))) : lessons;
  const unknown = only.filter((o) => !lessons.some((l) => l.id.startsWith(o)));
  if (unknown.length) {
    throw new Error(`no lesson matches ${unknown.join(", ")} (lessons: ${lessons.map((l) => l.id).join(", ")})`);
  }
  const reports: LessonReport[] = [];
  if (chosen.length === 0) return { errors, reports, ok: errors.length === 0 };

  const registry = await startRegistry();
  try {
    await seedRegistry(
      registry,
      IMAGE_NAMES.filter((name) => name !== "big"),
    );
    for (const tag of EXTRA_TAGS) await retag(registry, tag);
    for (const lesson of chosen) {
      log(`▸ ${lesson.file}: ${lesson.title}`);
      const started = performance.now();
      let jumping = false;
      const report = await checkLesson(lesson, registry, !options.quick, (step) => {
        if (!jumping && step.direct) {
          jumping = true;
          log("    opened directly, after Start over:");
        }
        for (const line of formatStep(step)) log(line);
      });
      reports.push(report);
      if (report.failure) log(`    ${report.failure}`);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      log(
        `${report.ok ? "✓" : "✗"} ${lesson.file}: ${report.ok ? "every step proved" : "FAILED"} in ${seconds} s (prepare ${Math.round(report.prepareMs)} ms)`,
      );
    }
  } finally {
    await registry.stop();
  }
  return { errors, reports, ok: errors.length === 0 && reports.every((r) => r.ok) };
}

/** Gives a repository of the local registry another tag for the same manifest, as Docker Hub has it. */
async function retag(registry: Registry, tag: { repository: string; from: string; to: string }): Promise<void> {
  const url = (reference: string) => `${registry.url}/v2/${tag.repository}/manifests/${reference}`;
  const got = await fetch(url(tag.from), { headers: { accept: MANIFEST_ACCEPT } });
  if (!got.ok) throw new Error(`GET ${url(tag.from)} answered ${got.status}`);
  const put = await fetch(url(tag.to), {
    method: "PUT",
    headers: { "content-type": got.headers.get("content-type") ?? "" },
    body: await got.arrayBuffer(),
  });
  if (!put.ok) throw new Error(`PUT ${url(tag.to)} answered ${put.status}: ${await put.text()}`);
}

/** One lesson in its own guest and image store, so no lesson sees what another left behind. */
async function checkLesson(
  lesson: Lesson,
  registry: Registry,
  jumps: boolean,
  onStep: (report: StepReport) => void,
): Promise<LessonReport> {
  const dir = await mkdtemp(join(tmpdir(), "drydock-lesson-"));
  const drydock = await bootDrydock();
  let nodes: GuestNodes | undefined;
  let containers: ContainerService | undefined;
  try {
    const fixtures = new Set<string>(IMAGE_NAMES);
    // Docker Hub's official images (`busybox` = docker.io/library/busybox) come from the local registry's fixtures.
    const endpoint = (reference: ImageReference) => {
      const name = reference.repository.replace(/^library\//, "");
      return { baseUrl: registry.url, repository: fixtures.has(name) ? name : reference.repository };
    };
    const images = await openNodeImageService(dir, { endpoint });
    // WASI containers run in worker threads, as the page runs them in Web Workers.
    containers = ContainerService.open(drydock, images, { wasiWorkers: nodeWasiWorkers() });
    // `drydock node add` grows the guest's cluster as the page's does: each node with images of its own, pulled from
    // the same registry (and localhost:5000 being node1's), the docker contexts naming them, one swarm.
    nodes = new GuestNodes({ first: drydock, containers, images, endpoint });
    await serveDockerInGuest(drydock, { images, containers, ...nodes.guestDocker() });
    await nodes.install();
    // The bystander is a busybox container, whatever images the lesson itself pulls.
    if (jumps) await images.pull("busybox");
    return await verifyLesson(
      lesson,
      async (script) => {
        const { code, stdout, stderr } = await drydock.agent.run(["sh", "-c", script], { env: SCRIPT_ENV });
        return { code, stdout, stderr };
      },
      {
        pull: async (reference) => {
          await images.pull(reference);
        },
        onStep,
        ...(jumps ? { jumps: true, bystander: BYSTANDER } : {}),
      },
    );
  } finally {
    // The added nodes go first (and the swarm's loop with them), then node1's records are written out before its
    // guest goes, so nothing writes into the folder while it is removed.
    await nodes?.close();
    await containers?.close().catch(() => {});
    await drydock.dispose();
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

const USAGE = `Usage: npm run lessons -- --check [--quick] [LESSON …]

Proves that every step of each lesson can be done: in a fresh guest, its check fails, its solution runs, and then
its check passes. Then each step again as the page opens it directly: after Start over (the lesson's setup), with
the steps it needs done for the learner; and Start over must leave a container and a file of the learner's alone.
--quick proves only the straight run. LESSON is a file name in lessons/ without .md, or its prefix (05, 05-cgroups);
all when omitted.`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  if (!argv.includes("--check")) {
    console.error(`lessons: say what to do.\n\n${USAGE}`);
    return 2;
  }
  const quick = argv.includes("--quick");
  const only = argv.filter((a) => a !== "--check" && a !== "--quick");
  const bad = only.find((a) => a.startsWith("-"));
  if (bad) {
    console.error(`lessons: unknown option ${bad}\n\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  const result = await checkLessons({ only, quick, log: (line) => console.log(line) });
  const steps = result.reports.reduce((n, r) => n + r.steps.filter((s) => s.ok).length, 0);
  const failed = result.reports.filter((r) => !r.ok).length + result.errors.length;
  console.log(
    `\nlessons: ${result.reports.length - (failed - result.errors.length)} passed, ${failed} failed (${steps} steps proved) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return result.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`lessons: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
