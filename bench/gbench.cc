// gbench.cc: the Google Benchmark shim. Registers every (workload x
// backend) pair, runs each workload's C body once per benchmark (a body
// times its own operations and runs its own final check) and reports the
// figures as Google Benchmark counters, plus one RESULT line per run for
// bench/bench.sh.
//
// The workloads are C functions wl_<workload>_<backend> (see backend.h for
// why each is compiled once per backend); the backends present are listed
// in the generated backends.h (bench.mk writes it: mimalloc only where
// libmimalloc-dev is installed). Names are <workload>[/<variant>]/<backend>,
// so --benchmark_filter='/tricolor$' runs one backend and
// --benchmark_filter='^gcbench/' one workload. bench.sh runs each pair in a
// process of its own, since a collector's heap outlives its benchmark.
//
// Usage: tcbench [--quick] [Google Benchmark flags]
//   --quick  the small parameters of `make bench-quick` (each run well
//            under a second); the default is the full size of `make bench`.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "backends.h"

#define BENCH_DECLARE(b)                                                   \
    extern "C" void wl_allocrate_##b(const wl_params *, wl_result *);     \
    extern "C" void wl_gcbench_##b(const wl_params *, wl_result *);       \
    extern "C" void wl_latency_##b(const wl_params *, wl_result *);       \
    extern "C" void wl_steady_##b(const wl_params *, wl_result *);        \
    extern "C" void wl_barrier_##b(const wl_params *, wl_result *);       \
    extern "C" int bk_##b##_marking_hold(int on);
BENCH_BACKENDS(BENCH_DECLARE)
BENCH_EXTRA_BACKENDS(BENCH_DECLARE)
BENCH_FLOOR_BACKENDS(BENCH_DECLARE)

namespace {

int failures; // runs whose final check failed: the exit status says so

struct Backend {
    const char *name;
    wl_fn *allocrate, *gcbench, *latency, *steady, *barrier;
    int (*marking_hold)(int);
};

#define BENCH_ENTRY(b)                                                                 \
    Backend{#b, wl_allocrate_##b, wl_gcbench_##b, wl_latency_##b, wl_steady_##b,      \
            wl_barrier_##b, bk_##b##_marking_hold},
const Backend backends[] = {BENCH_BACKENDS(BENCH_ENTRY)};
// Comparison builds (the barrier compiled out): gcbench and the idle
// barrier only, the figures they exist for.
const Backend extra_backends[] = {BENCH_EXTRA_BACKENDS(BENCH_ENTRY) Backend{}};
// No allocator at all (manual_floor.h): the latency experiment only, the
// machine's own worst push beside everyone else's.
const Backend floor_backends[] = {BENCH_FLOOR_BACKENDS(BENCH_ENTRY) Backend{}};

void report(benchmark::State &state, const char *workload, const char *backend,
            const wl_result &r)
{
    using benchmark::Counter;
    state.SetIterationTime((double)r.wall_ns / 1e9);
    if (r.ops)
        state.counters["ns/op"] = (double)r.wall_ns / (double)r.ops;
    if (r.op_max_ns) {
        state.counters["op_p999_us"] = (double)r.op_p999_ns / 1e3;
        state.counters["op_max_ms"] = (double)r.op_max_ns / 1e6;
    }
    if (r.collector) {
        state.counters["gcs"] = (double)r.gcs;
        state.counters["pauses"] = (double)r.npauses;
        state.counters["pause_max_ms"] = (double)r.pause_max_ns / 1e6;
        state.counters["gc_cpu"] = r.gc_cpu_fraction;
    }
    state.counters["peak_heap_MiB"] = (double)r.peak_heap_bytes / 1048576.0;
    state.counters["faults"] = (double)r.faults;
    if (r.live_bytes)
        state.counters["heap/live"] = (double)r.peak_heap_bytes / (double)r.live_bytes;
    bench_print_result(workload, backend, &r);
}

void add(const std::string &name, const char *workload, const char *backend, wl_fn *fn,
         const wl_params &p)
{
    std::string full = name + "/" + backend;
    benchmark::RegisterBenchmark(full.c_str(), [=](benchmark::State &state) {
        wl_result r;
        for (auto _ : state)
            fn(&p, &r);
        if (!r.ok) {
            failures++;
            state.SkipWithError("the workload's final check failed (see stderr)");
            return;
        }
        if (!r.measured) {
            state.SkipWithError("not measurable on this backend");
            return;
        }
        report(state, workload, backend, r);
    })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

// One pair with the workload's default parameters.
void add_default(const char *name, const char *workload, const Backend &b, wl_fn *fn,
                 int quick)
{
    wl_params p;
    wl_params_default(&p, workload, quick);
    p.quiet = 1;
    add(name, workload, b.name, fn, p);
}

void register_extra(int quick)
{
    for (const Backend &b : extra_backends) {
        if (!b.name)
            continue;
        add_default("gcbench", "gcbench", b, b.gcbench, quick);
        add_default("barrier/idle", "barrier", b, b.barrier, quick);
    }
    for (const Backend &b : floor_backends)
        if (b.name)
            add_default("latency", "latency", b, b.latency, quick);
}

void register_all(int quick)
{
    static const size_t sizes[] = {16, 64, 256, 4096};
    for (const Backend &b : backends) {
        wl_params p;
        for (int typed = 0; typed <= 1; typed++)
            for (size_t size : sizes)
                for (int threads = 1; threads <= 2; threads++) {
                    wl_params_default(&p, "allocrate", quick);
                    p.quiet = 1;
                    p.typed = typed;
                    p.size = size;
                    p.threads = threads;
                    // The same bytes for every size above 64: 20 million
                    // 4 KiB objects would take minutes on bdwgc and say
                    // nothing 300,000 do not.
                    if (size > 64)
                        p.n = p.n * 64 / (long)size;
                    char name[64];
                    std::snprintf(name, sizeof name, "allocrate/%s/%zuB/%dt",
                                  typed ? "typed" : "atomic", size, threads);
                    add(name, "allocrate", b.name, b.allocrate, p);
                }
        const struct {
            const char *name;
            wl_fn *fn;
        } whole[] = {{"gcbench", b.gcbench}, {"latency", b.latency}, {"steady", b.steady}};
        for (const auto &w : whole) {
            wl_params_default(&p, w.name, quick);
            p.quiet = 1;
            add(w.name, w.name, b.name, w.fn, p);
        }
        wl_params_default(&p, "barrier", quick);
        p.quiet = 1;
        add("barrier/idle", "barrier", b.name, b.barrier, p);
        // Only a backend with a marking phase beside the program gets the
        // marking variant (asking is harmless: 0 lets any hold go).
        if (b.marking_hold(0)) {
            p.marking = 1;
            add("barrier/marking", "barrier", b.name, b.barrier, p);
        }
    }
}

} // namespace

int main(int argc, char **argv)
{
    int quick = 0;
    std::vector<char *> args;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && std::strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else
            args.push_back(argv[i]);
    }
    int n = (int)args.size();
    args.push_back(nullptr);
    register_all(quick);
    register_extra(quick);
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data()))
        return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (failures)
        std::fprintf(stderr, "tcbench: %d run%s FAILED their final check\n", failures,
                     failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
