// spike.go: the memory spike on Go's own collector, a peer for comparison
// with bench/spike.c (tcspike): the same program with the same parameters.
//
// It holds -peak-mib MiB live in 1 KiB objects, drops to -base-mib, and
// goes on allocating 1 KiB objects through a ring of 4,096 slots for
// another -after-mib MiB, with no call to the runtime. Every 32 MiB
// allocated after the drop it samples the resident memory
// (/proc/self/statm) and reports how much it had allocated when the RSS
// was first under -target-mib (-1: never), the RSS at the peak and at the
// end. GOGC and GOMEMLIMIT apply as usual.
//
// Build (with common.go) and run:
//
//	GOCACHE=/tmp/gocache GO111MODULE=off go build -o /tmp/peer_spike bench/peers/common.go bench/peers/spike.go
//	/tmp/peer_spike [-peak-mib 1024] [-base-mib 50] [-after-mib 2048] [-target-mib 150]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const prog = "spike" // for messages (common.go)

const (
	objBytes  = 1024
	ringSlots = 4096
	sampleMiB = 32
)

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

func main() {
	peakMiB := flag.Int("peak-mib", 1024, "live MiB at the spike")
	baseMiB := flag.Int("base-mib", 50, "live MiB after the drop")
	afterMiB := flag.Int("after-mib", 2048, "MiB allocated after the drop")
	targetMiB := flag.Int("target-mib", 150, "the RSS to get under")
	flag.Parse()
	if *peakMiB <= 0 || *baseMiB <= 0 || *afterMiB <= 0 || *targetMiB <= 0 || *baseMiB > *peakMiB {
		usageError("positive sizes, and -base-mib no more than -peak-mib")
	}
	npeak, nbase := *peakMiB*1024, *baseMiB*1024
	slot := make([][]byte, npeak)
	ring := make([][]byte, ringSlots)
	t0 := time.Now()
	for i := 0; i < npeak; i++ {
		slot[i] = make([]byte, objBytes)
		binary.LittleEndian.PutUint64(slot[i], uint64(i))
	}
	rssPeak := rssBytes()
	for i := nbase; i < npeak; i++ {
		slot[i] = nil
	}
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	toTarget := -1
	var rss uint64
	perSample := sampleMiB * 1024 * 1024 / objBytes
	total := *afterMiB * 1024 * 1024 / objBytes
	for n := 0; n < total; n++ {
		p := make([]byte, objBytes)
		p[0] = byte(n)
		ring[n%ringSlots] = p
		if (n+1)%perSample == 0 {
			rss = rssBytes()
			done := (n + 1) / perSample * sampleMiB
			fmt.Printf("spike: after %d MiB: RSS %.1f MiB\n", done, mib(rss))
			if toTarget < 0 && rss < uint64(*targetMiB)<<20 {
				toTarget = done
			}
		}
	}
	wall := time.Since(t0)
	for i := 0; i < nbase; i++ {
		if v := binary.LittleEndian.Uint64(slot[i]); v != uint64(i) {
			fmt.Fprintf(os.Stderr, "spike: FAILED: live object %d holds %d\n", i, v)
			os.Exit(1)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(slot)
	runtime.KeepAlive(ring)
	fmt.Printf("RESULT spike backend=go peak_mib=%d base_mib=%d after_mib=%d target_mib=%d "+
		"ms=%.1f rss_peak_mib=%.1f rss_end_mib=%.1f mib_to_target=%d gcs=%d "+
		"heap_released_mib=%.1f gc_cpu_fraction=%.4f\n",
		*peakMiB, *baseMiB, *afterMiB, *targetMiB, float64(wall.Nanoseconds())/1e6,
		mib(rssPeak), mib(rss), toTarget, ms.NumGC-ms0.NumGC, mib(ms.HeapReleased),
		ms.GCCPUFraction)
}
