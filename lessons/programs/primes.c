/* primes: counts the prime numbers below N (1 000 000 unless given) and says how long the counting took.
 *
 * The lesson "WebAssembly containers" runs this one source twice: compiled to a static i386 Linux program (a
 * container in the emulated guest) and to a wasm32-wasi module (a WASI container run by the browser's own
 * WebAssembly engine). It uses no C library, so both builds are small enough to carry inside the lesson (see
 * scripts/lesson-programs.ts). The counting is the same code both ways; only the four things it asks of the system
 * differ: its arguments, the clock, writing to stdout and exiting. On Linux they are system calls (int $0x80); under
 * WASI they are functions the module imports from `wasi_snapshot_preview1`.
 */

typedef unsigned int u32;
typedef unsigned long long u64;

#ifdef __wasm__
#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
WASI(args_sizes_get) int wasi_args_sizes_get(u32 *argc, u32 *size);
WASI(args_get) int wasi_args_get(char **argv, char *buffer);
WASI(clock_time_get) int wasi_clock_time_get(u32 clock, u64 precision, u64 *time);
WASI(fd_write) int wasi_fd_write(int fd, const void *iovs, u32 count, u32 *written);
WASI(proc_exit) _Noreturn void wasi_proc_exit(int code);

static const char BUILT_FOR[] = "wasi/wasm";

static u64 now_ns(void) {
  u64 time = 0;
  wasi_clock_time_get(1 /* monotonic */, 1000, &time);
  return time;
}

static void put(const char *text, u32 length) {
  struct {
    const char *base;
    u32 length;
  } iov = {text, length};
  u32 written;
  wasi_fd_write(1, &iov, 1, &written);
}

static _Noreturn void quit(int code) { wasi_proc_exit(code); }
#else
static const char BUILT_FOR[] = "linux/386";

static long syscall3(long number, long a, long b, long c) {
  long result;
  __asm__ volatile("int $0x80" : "=a"(result) : "a"(number), "b"(a), "c"(b), "d"(c) : "memory");
  return result;
}

static u64 now_ns(void) {
  struct {
    long seconds, nanoseconds;
  } time = {0, 0};
  syscall3(265 /* clock_gettime */, 1 /* CLOCK_MONOTONIC */, (long)&time, 0);
  return (u64)time.seconds * 1000000000u + (u64)time.nanoseconds;
}

static void put(const char *text, u32 length) { syscall3(4 /* write */, 1, (long)text, (long)length); }

static _Noreturn void quit(int code) {
  syscall3(252 /* exit_group */, code, 0, 0);
  __builtin_unreachable();
}
#endif

static u32 length_of(const char *text) {
  u32 n = 0;
  while (text[n]) n++;
  return n;
}

static void say(const char *text) { put(text, length_of(text)); }

static void say_number(u64 n) {
  char digits[24];
  int i = sizeof digits;
  do {
    digits[--i] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  put(digits + i, sizeof digits - (u32)i);
}

/* The work: trial division by odd numbers, the same loop in both builds. */
static u32 count_primes(u32 below) {
  u32 count = below > 2 ? 1 : 0;
  for (u32 n = 3; n < below; n += 2) {
    u32 d = 3;
    while (d * d <= n && n % d) d += 2;
    if (d * d > n) count++;
  }
  return count;
}

static int run(int argc, char **argv) {
  u32 below = 1000000;
  if (argc > 1) {
    below = 0;
    for (const char *c = argv[1]; *c; c++) {
      if (*c < '0' || *c > '9' || below > 100000000) {
        say("usage: primes [N]   (a whole number up to 1000000000)\n");
        return 2;
      }
      below = below * 10 + (u32)(*c - '0');
    }
  }
  u64 started = now_ns();
  u32 count = count_primes(below);
  u64 took = now_ns() - started;
  say("primes below ");
  say_number(below);
  say(": ");
  say_number(count);
  say("\ncounted in ");
  say_number(took / 1000000);
  say(" ms, built for ");
  say(BUILT_FOR);
  say("\n");
  return 0;
}

#ifdef __wasm__
static char argument_bytes[1024];
static char *arguments[16];

void _start(void) {
  u32 argc = 0, size = 0;
  if (wasi_args_sizes_get(&argc, &size) || argc > 16 || size > sizeof argument_bytes) quit(2);
  wasi_args_get(arguments, argument_bytes);
  quit(run((int)argc, arguments));
}
#else
/* The kernel starts a static program with argc, then the argv pointers, on the stack. */
__asm__(".globl _start\n"
        "_start:\n"
        "  xorl %ebp, %ebp\n"
        "  movl %esp, %eax\n"
        "  andl $-16, %esp\n"
        "  subl $12, %esp\n"
        "  pushl %eax\n"
        "  call start_c\n"
        "  hlt\n");

__attribute__((used)) _Noreturn void start_c(long *stack) { quit(run((int)stack[0], (char **)(stack + 1))); }
#endif
