// An LD_PRELOAD library that counts the malloc calls a process makes in a time window, to show
// that a server allocates nothing per message in steady state (tools/count-server-mallocs).
//
//   MALLOC_WINDOW="3 6" MALLOC_WINDOW_OUT=/tmp/mallocs.txt LD_PRELOAD=./malloc_window.so server ...
//
// Counts the calls made between 3 and 6 seconds after start, samples the call stack of one in
// every 50 of them, and writes the samples and a final `window mallocs N` line to the output file.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static atomic_long count;
static int out = -1;
static double start, from = 3, until = 6;
static __thread int sampling;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

__attribute__((constructor)) static void setup(void) {
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    void *frames[2];
    backtrace(frames, 2);  // loads libgcc now, not inside malloc
    const char *window = getenv("MALLOC_WINDOW");
    if (window) sscanf(window, "%lf %lf", &from, &until);
    const char *path = getenv("MALLOC_WINDOW_OUT");
    out = open(path ? path : "/dev/stderr", O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    start = now();
}

void *malloc(size_t size) {
    if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
    void *pointer = real_malloc(size);
    if (!sampling && out >= 0) {
        double t = now() - start;
        if (t >= from && t < until && atomic_fetch_add(&count, 1) % 50 == 0) {
            sampling = 1;
            void *frames[12];
            int depth = backtrace(frames, 12);
            dprintf(out, "== malloc(%zu)\n", size);
            backtrace_symbols_fd(frames + 1, depth - 1, out);
            sampling = 0;
        }
    }
    return pointer;
}

__attribute__((destructor)) static void report(void) {
    if (out >= 0) dprintf(out, "window mallocs %ld\n", (long)atomic_load(&count));
}
