// `npm run lesson-programs [-- --check]`: compiles the programs a lesson carries and writes them into the lesson.
// The lesson "WebAssembly containers" needs one program as a static i386 Linux binary and as a wasm32-wasi module,
// inside the page and without the internet: both builds of lessons/programs/primes.c (no C library, about 2 KB each)
// go into the setup block of its first step as base64, which the guest's busybox decodes. This script is the only
// way those bytes are made (Debian's clang-14 with wasm-ld, and the i686 cross gcc the guest's agent is built with);
// --check compiles again and fails when the lesson's bytes are not what the source compiles to.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
export const PRIMES_SOURCE = join(ROOT, "lessons/programs/primes.c");
export const WASM_LESSON = join(ROOT, "lessons/12-webassembly-containers.md");
/** The first line of the generated setup block: how to remake it. */
const MARK = "# Made by `npm run lesson-programs` from lessons/programs/primes.c";

/** Both builds of primes.c. */
export async function compilePrimes(): Promise<{ wasm: Buffer; i386: Buffer }> {
  const work = await mkdtemp(join(tmpdir(), "drydock-primes-"));
  try {
    const wasm = join(work, "primes.wasm");
    const i386 = join(work, "primes");
    // No C library: _start is the program's own; wasm-ld exports the memory a WASI host needs.
    await run("clang-14", [
      "--target=wasm32-wasi",
      "-O2",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--export=_start",
      "-Wl,--strip-all",
      "-o",
      wasm,
      PRIMES_SOURCE,
    ]);
    // Static, no libc, one read-execute segment; libgcc for the 64-bit division of the clock's nanoseconds.
    await run("i686-linux-gnu-gcc", [
      "-static",
      "-nostdlib",
      "-ffreestanding",
      "-fno-pic",
      "-no-pie",
      "-fno-stack-protector",
      "-fno-asynchronous-unwind-tables",
      "-O2",
      "-s",
      "-Wl,--build-id=none",
      "-Wl,-z,noseparate-code",
      "-Wl,--gc-sections",
      "-o",
      i386,
      PRIMES_SOURCE,
      "-lgcc",
    ]);
    return { wasm: await readFile(wasm), i386: await readFile(i386) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** base64 in lines of 76, as busybox's base64 writes it. */
function wrapped(bytes: Buffer): string {
  return (bytes.toString("base64").match(/.{1,76}/g) ?? []).join("\n");
}

const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** The setup block's body: the two builds written to /root/primes, each checked against its digest. */
export async function primesSetup(): Promise<string> {
  const { wasm, i386 } = await compilePrimes();
  const source = await readFile(PRIMES_SOURCE);
  return [
    `${MARK} (sha256 ${sha256(source).slice(0, 16)}…)`,
    "mkdir -p /root/primes",
    "base64 -d > /root/primes/primes <<'EOF'",
    wrapped(i386),
    "EOF",
    "base64 -d > /root/primes/primes.wasm <<'EOF'",
    wrapped(wasm),
    "EOF",
    "chmod 755 /root/primes/primes",
    `cd /root/primes && printf '%s  %s\\n' ${sha256(i386)} primes ${sha256(wasm)} primes.wasm | sha256sum -c -s`,
  ].join("\n");
}

/** The lesson's text with its generated setup block replaced by `body`. */
export function withSetup(lesson: string, body: string): string {
  const start = lesson.indexOf(`\`\`\`setup\n${MARK}`);
  if (start < 0) throw new Error(`${relative(ROOT, WASM_LESSON)} has no setup block starting with "${MARK}"`);
  const end = lesson.indexOf("\n```", start + 8);
  return `${lesson.slice(0, start)}\`\`\`setup\n${body}${lesson.slice(end)}`;
}

async function main(argv: string[]): Promise<number> {
  const lesson = await readFile(WASM_LESSON, "utf8");
  const updated = withSetup(lesson, await primesSetup());
  if (argv.includes("--check")) {
    if (updated === lesson) return 0;
    console.error(
      `${relative(ROOT, WASM_LESSON)}: its programs are not what lessons/programs/primes.c compiles to: run npm run lesson-programs`,
    );
    return 1;
  }
  if (updated !== lesson) await writeFile(WASM_LESSON, updated);
  console.log(`${relative(ROOT, WASM_LESSON)}: ${updated === lesson ? "already up to date" : "programs written"}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`lesson-programs: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
