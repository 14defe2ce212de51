// steady.go: a steady-state server cache on Go's own collector, a peer for
// comparison.
//
// A cache of n slots, each holding an item with a pointer-free payload of a
// skewed size (60% 16..128 bytes, 30% 128..1024, 9% 1 KiB..8 KiB, 1%
// 8 KiB..32 KiB), is filled to about -live-mib MiB and then churned: each
// operation picks a random slot and replaces its item with a new one, so the
// live heap stays at the target while the garbage flows through. What it
// measures is the cost of an operation and the heap the collector needs to
// hold a given live set (peak heap / live bytes).
//
// It mirrors the C workload of the same name (bench/workload_steady.c)
// exactly: the same parameters (-live-mib 100, -ops 2,000,000, -seed 42),
// the same xorshift64* generator drawn in the same order (the slot first,
// then the size class and the size inside newItem), the same slot count
// floor(live_mib * 2^20 / 868), the same payload writes (first byte the
// key's low byte, last byte the key's second byte) and the same live
// accounting (32 bytes per item, the C item's size, plus the payload), so
// the numbers compare. Go's own item (slice header, key, size) is 40 bytes, a 48-byte
// size class; that difference lands in the overhead figure, as it would for
// a real Go program.
//
// The heap is sampled with runtime/metrics, which does not stop the world,
// every 10,000 operations (inline) and once at the end; the samples inside
// the churn are not timed (their monotonic-clock cost is subtracted from
// the churn's wall time, see common.go). The GC figures (one
// runtime.ReadMemStats before and one after) count the churn only. The
// helpers and the RESULT line, in the C's format, are in common.go.
//
// Build (with common.go; standard library only) and run:
//
//	GOCACHE=/tmp/gocache GO111MODULE=off go build -o /tmp/peer_steady bench/peers/common.go bench/peers/steady.go
//	/tmp/peer_steady [-live-mib 100] [-ops 2000000] [-seed 42]
//
// The last line on stdout is `RESULT steady backend=go ...`; a failed check
// prints `steady: FAILED: ...` on stderr and exits 1; bad flags exit 2.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

const prog = "steady" // for messages (common.go)

const (
	sampleEvery = 10000 // operations between heap samples
	itemBytes   = 32    // the C item's size, counted per item in the live bytes
	meanItem    = 868   // mean bytes per item (itemBytes + mean payload), for the slot count
)

// The xorshift64* generator, exactly as in the C.
var s uint64

func next() uint64 {
	s ^= s >> 12
	s ^= s << 25
	s ^= s >> 27
	return s * 2685821657736338717
}

// size draws a payload size: one draw for the class, one for the size.
func size() uint64 {
	u := next() % 100
	if u < 60 {
		return 16 + next()%113
	} else if u < 90 {
		return 128 + next()%897
	} else if u < 99 {
		return 1024 + next()%7169
	} else {
		return 8192 + next()%24577
	}
}

type item struct {
	payload []byte
	key     uint64
	size    uint64
}

func newItem(key uint64) *item {
	sz := size()
	p := make([]byte, sz)
	// Filled like the C's memset: the whole payload with the key's low
	// byte (a doubling copy, as latency.go fills its messages), then the
	// last byte with its second byte.
	p[0] = byte(key)
	for n := 1; n < len(p); n *= 2 {
		copy(p[n:], p[:n])
	}
	p[sz-1] = byte(key >> 8)
	return &item{p, key, sz}
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: steady [-live-mib 100] [-ops 2000000] [-seed 42]\n")
		flag.PrintDefaults()
	}
	liveMiB := flag.Int("live-mib", 100, "live heap target in MiB (sets the slot count)")
	ops := flag.Int("ops", 2000000, "replacements in the timed churn")
	seed := flag.Uint64("seed", 42, "xorshift64* seed (nonzero)")
	flag.Parse()
	if flag.NArg() != 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	if *liveMiB <= 0 || *ops <= 0 {
		usageError("-live-mib and -ops want positive integers")
	}
	if *seed == 0 {
		usageError("-seed must be nonzero (xorshift64* stays at 0)")
	}
	n := uint64(*liveMiB) * 1048576 / meanItem
	if n == 0 {
		usageError("-live-mib %d gives no slots", *liveMiB)
	}
	checkMetrics()
	s = *seed

	fmt.Printf("steady: steady-state server cache, backend go: live target %d MiB, %d slots "+
		"(%d bytes per item on average), %d ops, seed %d; %s\n",
		*liveMiB, n, meanItem, *ops, *seed, runtimeLine())

	// Fill, untimed.
	slots := make([]*item, n)
	var live uint64
	for k := uint64(0); k < n; k++ {
		slots[k] = newItem(k)
		live += itemBytes + slots[k].size
		if k%sampleEvery == sampleEvery-1 {
			sampleHeap()
		}
	}
	sampleHeap()
	fmt.Printf("  filled: %.1f MiB live in %d items\n", mib(live), n)

	// Timed churn.
	gc0 := gcBegin()
	start := time.Now()
	s0 := sampleNs // the samples in the churn are not timed
	for op := uint64(0); op < uint64(*ops); op++ {
		slot := next() % n
		it := newItem(n + op)
		live -= itemBytes + slots[slot].size
		live += itemBytes + it.size
		slots[slot] = it
		if op%sampleEvery == sampleEvery-1 {
			sampleHeap()
		}
	}
	wall := untimed(time.Since(start), s0)
	sampleHeap()
	r := result{
		params: fmt.Sprintf("live_mib_target=%d slots=%d ops=%d seed=%d", *liveMiB, n, *ops,
			*seed),
		wallNs: uint64(wall.Nanoseconds()),
		ops:    uint64(*ops),
		gc:     gcSince(gc0, wall),
	}

	// Every slot must hold its item intact.
	bad := 0
	var check uint64
	for k, it := range slots {
		check += itemBytes + uint64(len(it.payload))
		p := it.payload
		if len(p) == 0 || uint64(len(p)) != it.size || p[0] != byte(it.key) ||
			p[len(p)-1] != byte(it.key>>8) {
			if bad == 0 {
				fmt.Fprintf(os.Stderr, "steady: slot %d: key %d size %d, payload of %d bytes\n",
					k, it.key, it.size, len(p))
			}
			bad++
		}
	}
	runtime.KeepAlive(slots)

	r.peakHeapBytes = peakHeap
	r.liveBytes = live
	r.maxRSSKiB = maxRSSKiB()
	g := &r.gc
	nsPerOp := float64(r.wallNs) / float64(r.ops)
	overhead := float64(r.peakHeapBytes) / float64(live)
	fmt.Printf("  churn: %d ops in %.1f ms (%.2f ns/op), live now %.3f MiB\n", *ops,
		msOf(r.wallNs), nsPerOp, mib(live))
	fmt.Printf("  collections %d, pauses p99 %.3f ms max %.3f ms total %.3f ms, GC CPU "+
		"fraction %.4f\n", g.gcs, msOf(g.pauseP99Ns), msOf(g.pauseMaxNs),
		msOf(g.pauseTotalNs), g.cpuFraction)
	fmt.Printf("  peak heap %.1f MiB (objects+unused+free, sampled every %d ops), %.3fx live; "+
		"peak RSS %.1f MiB\n", mib(r.peakHeapBytes), sampleEvery, overhead,
		float64(r.maxRSSKiB)/1024.0)

	if bad != 0 {
		fmt.Fprintf(os.Stderr, "steady: FAILED: %d of %d slots hold a damaged item\n", bad, n)
		os.Exit(1)
	}
	if check != live {
		fmt.Fprintf(os.Stderr, "steady: FAILED: the slots hold %d live bytes, the count says %d\n",
			check, live)
		os.Exit(1)
	}
	printResult("steady", &r)
}
