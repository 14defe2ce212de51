// common.go: what the Go peers share (package main, no main func): the
// process start time, the runtime/params line, the usage error, the
// monotonic clock (nanotime), heap sampling with runtime/metrics, peak RSS,
// the nearest-rank quantile, the collector's figures over the timed part
// (from runtime.MemStats) and the RESULT line, printed exactly as the C
// side's bench_print_result (bench/bench_util.c) prints it.
//
// Heap sampling is not part of what is measured: sampleHeap times itself
// with the monotonic clock and adds its cost to sampleNs, and each program
// subtracts the sampling done inside its timed part from that part's wall
// time (untimed), so the RESULT line's ms and ns_per_op, and the wall that
// gc_cpu_fraction divides by, leave the samples out, as the C does.
//
// The directory holds three programs (gcbench.go, latency.go, steady.go),
// each with its own main, so it is not one package: each program is built
// from two files, this one and its own, e.g.
//
//	GOCACHE=/tmp/gocache GO111MODULE=off go build -o /tmp/peer_latency bench/peers/common.go bench/peers/latency.go
//
// Each program file defines the constant prog (its name, for messages).
// Standard library only, Go 1.19 or later.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's monotonic clock in ns (clock_gettime
// CLOCK_MONOTONIC through the vDSO on Linux), one clock read; time.Now reads
// the wall clock as well. A function declared without a body normally needs
// a .s file in the package for go build to accept it, but the compiler lets
// a go:linkname'd one through (Go issue 23311), so this builds from the
// two-file list with no assembly file (checked with Go 1.19).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// processStart approximates the start of the runtime's CPU accounting
// (which begins in schedinit, before any package is initialised); see
// gcSince for what it is used for.
var processStart time.Time

func init() { processStart = time.Now() }

// usageError reports bad flags and exits 2.
func usageError(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, prog+": "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}

func envOr(name string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return "unset"
}

// runtimeLine names the runtime and the settings that change the
// collector's behaviour.
func runtimeLine() string {
	return fmt.Sprintf("%s GOMAXPROCS=%d GOGC=%s GOMEMLIMIT=%s", runtime.Version(),
		runtime.GOMAXPROCS(0), envOr("GOGC"), envOr("GOMEMLIMIT"))
}

// The heap the runtime holds: mapped and not released to the OS, i.e.
// MemStats.HeapSys - HeapReleased, read without stopping the world.
var heapMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
}

// peakHeap is the largest heap sampleHeap has seen, in bytes.
var peakHeap uint64

// heapOutside is subtracted from every heap sample: the bytes of a
// program's own bookkeeping that sits in the Go heap where the C keeps it
// outside the collected heap (set by the program before its first sample).
var heapOutside uint64

// sampleNs is the monotonic time all sampleHeap calls took so far, in ns.
var sampleNs int64

// untimed is wall less the sampling done since sampleNs read s0: the timed
// part's wall time without its heap samples.
func untimed(wall time.Duration, s0 int64) time.Duration {
	return wall - time.Duration(sampleNs-s0)
}

// checkMetrics exits 2 if this runtime lacks a metric sampleHeap reads.
func checkMetrics() {
	have := map[string]metrics.ValueKind{}
	for _, d := range metrics.All() {
		have[d.Name] = d.Kind
	}
	for _, s := range heapMetrics {
		if have[s.Name] != metrics.KindUint64 {
			fmt.Fprintf(os.Stderr, "%s: runtime/metrics has no %s in %s\n", prog, s.Name,
				runtime.Version())
			os.Exit(2)
		}
	}
}

// sampleHeap reads the heap, less heapOutside, and raises peakHeap to it;
// the whole call's time goes into sampleNs.
func sampleHeap() {
	t0 := nanotime()
	metrics.Read(heapMetrics)
	var sum uint64
	for _, s := range heapMetrics {
		sum += s.Value.Uint64()
	}
	if sum > heapOutside {
		sum -= heapOutside
	} else {
		sum = 0
	}
	if sum > peakHeap {
		peakHeap = sum
	}
	sampleNs += nanotime() - t0
}

func mib(b uint64) float64 { return float64(b) / 1048576.0 }

// msOf converts nanoseconds to milliseconds.
func msOf(ns uint64) float64 { return float64(ns) / 1e6 }

// maxRSSKiB is the process's peak resident set size so far.
func maxRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss // Linux reports KiB
}

func sortU64(v []uint64) { sort.Slice(v, func(a, b int) bool { return v[a] < v[b] }) }

// quantile is the nearest-rank quantile q of n sorted values: the value of
// rank ceil(q*n), as bench_quantile in the C.
func quantile(sorted []uint64, q float64) uint64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(n) - 1e-9)) // the epsilon absorbs q*n's rounding
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// gcFigures are the collector's figures over the timed part.
type gcFigures struct {
	gcs          uint64
	pauses       []uint64 // per cycle, sorted, ns; the last 256 cycles at most
	pausesLost   uint64   // cycles whose pause fell out of the 256-entry ring
	pauseTotalNs uint64   // all cycles, the ring's or not
	pauseP99Ns   uint64
	pauseMaxNs   uint64
	cpuFraction  float64
}

// gcStart is what gcSince needs from the start of the timed part.
type gcStart struct {
	ms runtime.MemStats
	t0 time.Time
}

// gcBegin reads the collector's state just before the timed part.
func gcBegin() *gcStart {
	g := new(gcStart)
	runtime.ReadMemStats(&g.ms)
	g.t0 = time.Now()
	return g
}

// printPauseLog prints, when PEER_PAUSE_LOG is set (bench/report.c, the
// pause plot of `make run`), one line "PAUSE start_s dur_ms" per cycle
// the runtime's 256-entry ring still holds, the start in seconds since
// the timed part began, in the order the cycles ran.
func printPauseLog(g *gcStart, ms *runtime.MemStats, first uint32) {
	if os.Getenv("PEER_PAUSE_LOG") == "" {
		return
	}
	t0 := g.t0.UnixNano()
	for c := first; c < ms.NumGC; c++ {
		end, dur := int64(ms.PauseEnd[c%256]), int64(ms.PauseNs[c%256])
		fmt.Printf("PAUSE %.6f %.6f\n", float64(end-dur-t0)/1e9, float64(dur)/1e6)
	}
}

// gcCPUPerProc is the collector's CPU time up to its last completed cycle,
// divided by GOMAXPROCS, in ns: GCCPUFraction times the time from the start
// of the runtime's accounting to the end of that cycle.
//
// Go 1.19's runtime/metrics has no GC CPU counter (the /cpu/classes/...
// metrics came with Go 1.20; metrics.All() in 1.19 lists none), and
// MemStats.GCCPUFraction is a fraction since the process started, so the
// time is recovered from the fraction. The runtime computes the fraction
// only at the end of each cycle's mark termination, as GC CPU time /
// (time since its accounting began x GOMAXPROCS), with the GC CPU time
// counting the two stop-the-world phases on every P and the assist,
// dedicated and fractional mark workers (not the idle ones, which it deems
// free), so fraction x (end of the last cycle - start) is that cycle-end
// total over GOMAXPROCS. MemStats.LastGC is the end of the last cycle (Unix
// ns, taken at the same point), so no time after it is counted as if the
// collector used a share of it. processStart comes from an init func, a
// little after the runtime's accounting began; that error is
// (fraction_end - fraction_start) x that gap, negligible.
func gcCPUPerProc(ms *runtime.MemStats) float64 {
	if ms.NumGC == 0 {
		return 0
	}
	since := float64(int64(ms.LastGC) - processStart.UnixNano())
	if since < 0 {
		since = 0
	}
	return ms.GCCPUFraction * since
}

// gcSince reads the collector's figures since g with one ReadMemStats;
// wall is the timed part, less its heap samples. The pause ring holds cycle c (1-based) at
// (c-1)%256, so the cycles after g are indices g.NumGC..NumGC-1 mod 256,
// the last 256 of them at most; the others count as lost, like the C
// backends' pauses_lost. gc_cpu_fraction is over the timed part as the C
// computes it: GC CPU time / (wall x CPUs), with GOMAXPROCS as the CPUs
// (GOMAXPROCS defaults to the online CPUs, the C's count, and is the
// denominator GCCPUFraction uses); a cycle still running at the end is not
// counted, one running at the start is counted whole.
func gcSince(g *gcStart, wall time.Duration) gcFigures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ms0 := &g.ms
	first := ms0.NumGC
	if ms.NumGC-first > 256 {
		first = ms.NumGC - 256
	}
	var f gcFigures
	f.gcs = uint64(ms.NumGC - ms0.NumGC)
	for c := first; c < ms.NumGC; c++ {
		f.pauses = append(f.pauses, ms.PauseNs[c%256])
	}
	printPauseLog(g, &ms, first)
	f.pausesLost = f.gcs - uint64(len(f.pauses))
	sortU64(f.pauses)
	f.pauseTotalNs = ms.PauseTotalNs - ms0.PauseTotalNs
	if n := len(f.pauses); n > 0 {
		f.pauseMaxNs = f.pauses[n-1]
		f.pauseP99Ns = quantile(f.pauses, 0.99)
	}
	procs := float64(runtime.GOMAXPROCS(0))
	gcCPUNs := (gcCPUPerProc(&ms) - gcCPUPerProc(ms0)) * procs
	if avail := float64(wall.Nanoseconds()) * procs; avail > 0 && gcCPUNs > 0 {
		f.cpuFraction = gcCPUNs / avail
	}
	return f
}

// result is what one run measured, as the C's wl_result; a figure a
// workload does not measure is 0 and is left out of the RESULT line.
type result struct {
	params                              string // "key=value ..."
	wallNs                              uint64 // the timed part
	ops                                 uint64 // operations timed
	opP50Ns, opP99Ns, opP999Ns, opMaxNs uint64 // per-operation latency
	opsOver1ms, opsOver10ms             uint64
	gc                                  gcFigures
	peakHeapBytes                       uint64
	liveBytes                           uint64 // the workload's own count
	maxRSSKiB                           int64
}

// opSummary fills r's per-operation quantiles from lat (sorted in place),
// as bench_op_summary in the C.
func opSummary(r *result, lat []uint64) {
	if len(lat) == 0 {
		return
	}
	for _, l := range lat {
		if l > 1000000 {
			r.opsOver1ms++
		}
		if l > 10000000 {
			r.opsOver10ms++
		}
	}
	sortU64(lat)
	r.opP50Ns = quantile(lat, 0.50)
	r.opP99Ns = quantile(lat, 0.99)
	r.opP999Ns = quantile(lat, 0.999)
	r.opMaxNs = lat[len(lat)-1]
}

// printResult prints the RESULT line exactly as bench_print_result in
// bench/bench_util.c does: the same keys, order, formats and optional
// parts.
func printResult(workload string, r *result) {
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT %s backend=go %s ms=%.1f", workload, r.params, msOf(r.wallNs))
	if r.ops != 0 {
		fmt.Fprintf(&b, " ns_per_op=%.2f", float64(r.wallNs)/float64(r.ops))
	}
	if r.opMaxNs != 0 {
		fmt.Fprintf(&b, " op_p50_us=%.3f op_p99_us=%.3f op_p999_us=%.3f op_max_ms=%.3f",
			float64(r.opP50Ns)/1e3, float64(r.opP99Ns)/1e3, float64(r.opP999Ns)/1e3,
			msOf(r.opMaxNs))
	}
	fmt.Fprintf(&b, " gcs=%d pause_total_ms=%.3f pause_p99_ms=%.3f pause_max_ms=%.3f "+
		"gc_cpu_fraction=%.4f peak_heap_mib=%.1f maxrss_mib=%.1f",
		r.gc.gcs, msOf(r.gc.pauseTotalNs), msOf(r.gc.pauseP99Ns), msOf(r.gc.pauseMaxNs),
		r.gc.cpuFraction, mib(r.peakHeapBytes), float64(r.maxRSSKiB)/1024.0)
	if r.liveBytes != 0 {
		fmt.Fprintf(&b, " live_mib=%.3f overhead=%.3f", mib(r.liveBytes),
			float64(r.peakHeapBytes)/float64(r.liveBytes))
	}
	if r.gc.pausesLost != 0 {
		fmt.Fprintf(&b, " pauses_lost=%d", r.gc.pausesLost)
	}
	fmt.Println(b.String())
}
