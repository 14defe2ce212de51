// latency.go: the GC latency experiment on Go's own collector, a peer for
// comparison.
//
// A service keeps the last W messages it received (a window of W slots) and
// pushes P messages through it: each push allocates a pointer-free message,
// fills it and stores it over the oldest one. The live heap stays at about W
// messages while P messages' worth of garbage flows through, so the collector
// runs again and again with a big live heap, and every pause lands on some
// push.
//
// It mirrors the C workload of the same name (bench/workload_latency.c)
// exactly: the same parameters (window 200,000, 1,000,000 pushes, 1024-byte
// messages), the same operations (each push timed alone: allocate, fill
// every byte with the push number's low byte, store the full push number
// as a little-endian uint64 in the first 8 bytes, store into slot i%W), the
// same untimed heap sample every 10,000 pushes, and the same final check of
// every slot (the full push number and the last byte), so the numbers
// compare.
//
// A push is timed as the C times it: two reads of the monotonic clock, one
// before the allocation and one after the store (clock_gettime
// CLOCK_MONOTONIC in the C). time.Now would read the wall clock as well,
// two vDSO calls instead of one, so the reads here are nanotime
// (runtime.nanotime through go:linkname, common.go), which Go 1.19 builds
// from the two-file list without an assembly file; no timestamp is shared
// between pushes, and the heap samples, between pushes, are outside every
// push and subtracted from the loop's wall time (common.go).
//
// The C fills with memset. Go has no memset for a non-zero byte and
// compiles the plain fill loop `for k := range msg { msg[k] = b }` byte by
// byte (only the zeroing form of that loop becomes a memclr); bytes.Repeat
// would allocate. So the fill here is the memset-like form Go code uses:
// set the first byte, then double the filled prefix with copy (a memmove),
// about log2(size) copies.
//
// The heap is sampled with runtime/metrics, which does not stop the world;
// the push latencies' array, which the C keeps outside the collected heap,
// is left out of every sample. The GC figures come from one
// runtime.ReadMemStats before and one after the loop. The helpers and the
// RESULT line, in the C's format, are in common.go.
//
// Build (with common.go; standard library only) and run:
//
//	GOCACHE=/tmp/gocache GO111MODULE=off go build -o /tmp/peer_latency bench/peers/common.go bench/peers/latency.go
//	/tmp/peer_latency [-window 200000] [-pushes 1000000] [-msg-size 1024]
//
// The last line on stdout is `RESULT latency backend=go ...`; a failed check
// prints `latency: FAILED: ...` on stderr and exits 1; bad flags exit 2.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

const prog = "latency" // for messages (common.go)

const sampleEvery = 10000 // pushes between heap samples

// fmtNs prints a duration in the unit that keeps it readable.
func fmtNs(ns uint64) string {
	switch {
	case ns < 10000:
		return fmt.Sprintf("%.2f us", float64(ns)/1e3)
	case ns < 1000000:
		return fmt.Sprintf("%.1f us", float64(ns)/1e3)
	default:
		return fmt.Sprintf("%.2f ms", float64(ns)/1e6)
	}
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: latency [-window 200000] [-pushes 1000000] [-msg-size 1024]\n")
		flag.PrintDefaults()
	}
	windowN := flag.Int("window", 200000, "messages kept alive (window slots)")
	pushes := flag.Int("pushes", 1000000, "messages pushed through the window")
	msgSize := flag.Int("msg-size", 1024, "bytes per message")
	flag.Parse()
	if flag.NArg() != 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	if *windowN <= 0 || *pushes <= 0 || *msgSize <= 0 {
		usageError("-window, -pushes and -msg-size want positive integers")
	}
	if *msgSize < 8 {
		usageError("-msg-size wants at least 8 bytes (the push number's), not %d", *msgSize)
	}
	checkMetrics()
	W, P, size := *windowN, *pushes, *msgSize

	window := make([][]byte, W)
	// The latencies are touched up front so no page fault lands inside a
	// timed push.
	lat := make([]uint64, P)
	for i := range lat {
		lat[i] = 1
	}
	// The C mallocs the latencies outside the collected heap; here they are
	// a Go heap object, so every heap sample leaves their 8*P bytes out (the
	// object's rounding up to whole pages, under 8 KiB, stays in).
	heapOutside = 8 * uint64(P)

	fmt.Printf("latency: GC latency experiment, backend go: window %d messages of %d bytes "+
		"(about %.1f MiB live), %d pushes; %s\n",
		W, size, mib(uint64(W)*uint64(size)), P, runtimeLine())

	gc0 := gcBegin()
	sampleHeap()
	start := nanotime()
	s0 := sampleNs // the samples in the loop are not timed
	for i := 0; i < P; i++ {
		t0 := nanotime()
		msg := make([]byte, size)
		msg[0] = byte(i) // memset(msg, i, size) as Go writes it: see the top
		for n := 1; n < len(msg); n *= 2 {
			copy(msg[n:], msg[:n])
		}
		binary.LittleEndian.PutUint64(msg, uint64(i))
		window[i%W] = msg
		lat[i] = uint64(nanotime() - t0)
		if i%sampleEvery == sampleEvery-1 {
			sampleHeap()
		}
	}
	wall := untimed(time.Duration(nanotime()-start), s0)
	sampleHeap()
	r := result{
		params: fmt.Sprintf("window=%d pushes=%d msg_size=%d", W, P, size),
		wallNs: uint64(wall.Nanoseconds()),
		ops:    uint64(P),
		gc:     gcSince(gc0, wall),
	}

	// Every slot must still hold its last message, intact: its full push
	// number in the first 8 bytes and the number's low byte at the end (a
	// message of exactly 8 bytes has no filled byte after the number).
	filled := W
	if P < W {
		filled = P
	}
	bad := 0
	for k := 0; k < filled; k++ {
		last := k + W*((P-1-k)/W)
		m := window[k]
		if len(m) != size || binary.LittleEndian.Uint64(m) != uint64(last) ||
			(size > 8 && m[size-1] != byte(last)) {
			bad++
		}
	}
	runtime.KeepAlive(window)

	opSummary(&r, lat)
	r.peakHeapBytes = peakHeap
	r.maxRSSKiB = maxRSSKiB()
	g := &r.gc
	wallMs := msOf(r.wallNs)
	fmt.Printf("\npush latency as the mutator sees it (%d pushes in %.0f ms, mean %s):\n",
		P, wallMs, fmtNs(r.wallNs/uint64(P)))
	fmt.Printf("  p50 %s   p99 %s   p99.9 %s   worst %s\n", fmtNs(r.opP50Ns), fmtNs(r.opP99Ns),
		fmtNs(r.opP999Ns), fmtNs(r.opMaxNs))
	fmt.Printf("  pushes over 1 ms: %d, over 10 ms: %d\n", r.opsOver1ms, r.opsOver10ms)
	fmt.Printf("\ncollector's own figures (runtime.ReadMemStats):\n")
	fmt.Printf("  collections      %d\n", g.gcs)
	if n := len(g.pauses); n == 0 {
		fmt.Printf("  pauses           none\n")
	} else {
		ring := ""
		if g.pausesLost != 0 {
			ring = " (the ring holds the last 256)"
		}
		fmt.Printf("  pauses           %d%s: p50 %s   p99 %s   p99.9 %s   max %s\n", n, ring,
			fmtNs(quantile(g.pauses, 0.50)), fmtNs(quantile(g.pauses, 0.99)),
			fmtNs(quantile(g.pauses, 0.999)), fmtNs(g.pauses[n-1]))
	}
	fmt.Printf("  pause total      %.3f ms (%.1f%% of the run)\n", msOf(g.pauseTotalNs),
		100*msOf(g.pauseTotalNs)/wallMs)
	fmt.Printf("  GC CPU fraction  %.4f (of the loop's wall x GOMAXPROCS)\n", g.cpuFraction)
	fmt.Printf("  peak heap        %.1f MiB (objects+unused+free, sampled every %d pushes); "+
		"peak RSS %.1f MiB\n", mib(r.peakHeapBytes), sampleEvery, float64(r.maxRSSKiB)/1024.0)

	if bad != 0 {
		fmt.Fprintf(os.Stderr, "latency: FAILED: %d of %d window slots lost their message\n",
			bad, filled)
		os.Exit(1)
	}
	fmt.Println()
	printResult("latency", &r)
}
