// gcbench.go: Boehm's GCBench (after Ellis and Kovac's Java original, the
// binary-trees benchmark) on Go's own collector, a peer for comparison.
//
// It mirrors the C workload of the same name (bench/workload_gcbench.c)
// exactly: the same parameters (stretch tree depth 18, long-lived tree depth
// 16, an array of 500,000 doubles, short-lived trees of depth 4, 6, ..., 16),
// the same 24-byte node (two pointers, two 32-bit ints), the same operations
// in the same order (build and drop the stretch tree bottom-up, build the
// long-lived tree top-down, fill the first half of the array with 1/i as the
// C and the classic GCBench do, then for each depth as many short-lived
// trees as make up twice the stretch tree's nodes, first top-down with
// Populate, then bottom-up with MakeTree) and the same checks (the stretch
// tree, the last tree of every batch, the long-lived tree and the array), so
// the numbers compare with the C backends'.
//
// Each batch's trees die as soon as they are built: only the last one is
// checked (at its last iteration, as in the C), and no tree outlives its
// iteration, so every collection sees the long-lived data and at most the
// tree being built.
//
// The heap is sampled with runtime/metrics, which does not stop the world,
// after a tree is complete once at least 10,000 nodes were allocated since
// the last sample (never in the middle of building a tree), and once at the
// end. Everything from the stretch tree to the end is timed, as in the C,
// less the heap samples (their monotonic-clock cost is subtracted, see
// common.go); the GC figures (one runtime.ReadMemStats before and one after)
// cover the timed part. The helpers and the RESULT line, in the C's format,
// are in common.go.
//
// Build (with common.go; standard library only) and run:
//
//	GOCACHE=/tmp/gocache GO111MODULE=off go build -o /tmp/peer_gcbench bench/peers/common.go bench/peers/gcbench.go
//	/tmp/peer_gcbench [-stretch 18] [-long 16] [-min 4] [-max 16]
//
// The last line on stdout is `RESULT gcbench backend=go ...`; a failed check
// prints `gcbench: FAILED: ...` on stderr and exits 1; bad flags exit 2.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

const prog = "gcbench" // for messages (common.go)

const (
	arraySize   = 500000 // doubles in the long-lived array
	sampleEvery = 10000  // node allocations between heap samples
)

// Node is the C side's Node: two pointers, then two 32-bit ints (24 bytes).
type Node struct {
	left, right *Node
	i, j        int32
}

// treeSize is the number of nodes in a complete tree of depth d.
func treeSize(d int) int64 { return (int64(1) << uint(d+1)) - 1 }

// nodesSinceSample counts node allocations since the last heap sample.
var nodesSinceSample int64

// populate grows the tree under a node that is already in the heap (top-down).
func populate(depth int, node *Node) {
	if depth <= 0 {
		return
	}
	depth--
	node.left = new(Node)
	node.right = new(Node)
	nodesSinceSample += 2
	populate(depth, node.left)
	populate(depth, node.right)
}

// makeTree builds the children first, then their parent (bottom-up).
func makeTree(depth int) *Node {
	if depth <= 0 {
		nodesSinceSample++
		return new(Node)
	}
	left := makeTree(depth - 1)
	right := makeTree(depth - 1)
	result := new(Node)
	nodesSinceSample++
	result.left = left
	result.right = right
	return result
}

// countNodes counts the nodes reachable from node.
func countNodes(node *Node) int64 {
	if node == nil {
		return 0
	}
	return 1 + countNodes(node.left) + countNodes(node.right)
}

var failures []string

func checkTree(what string, tree *Node, depth int) {
	if n := countNodes(tree); n != treeSize(depth) {
		failures = append(failures, fmt.Sprintf("%s of depth %d has %d nodes, want %d",
			what, depth, n, treeSize(depth)))
	}
}

// maybeSample samples the heap when enough nodes were allocated since the
// last sample; called only between trees, never while one is being built.
func maybeSample() {
	if nodesSinceSample >= sampleEvery {
		nodesSinceSample = 0
		sampleHeap()
	}
}

func timeConstruction(depth int, stretch int) {
	iters := 2 * treeSize(stretch) / treeSize(depth)

	// Each tree is dropped at the end of its iteration (t is the loop
	// body's own variable); the last one is checked first.
	t0 := time.Now()
	for i := int64(0); i < iters; i++ {
		t := new(Node)
		nodesSinceSample++
		populate(depth, t)
		if i == iters-1 {
			checkTree("a top-down tree", t, depth)
		}
		maybeSample()
	}
	t1 := time.Now()
	for i := int64(0); i < iters; i++ {
		t := makeTree(depth)
		if i == iters-1 {
			checkTree("a bottom-up tree", t, depth)
		}
		maybeSample()
	}
	t2 := time.Now()
	fmt.Printf("  depth %d: %d trees top-down %d ms, bottom-up %d ms\n", depth, iters,
		t1.Sub(t0).Milliseconds(), t2.Sub(t1).Milliseconds())
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: gcbench [-stretch 18] [-long 16] [-min 4] [-max 16]\n")
		flag.PrintDefaults()
	}
	stretch := flag.Int("stretch", 18, "depth of the stretch tree")
	long := flag.Int("long", 16, "depth of the long-lived tree")
	minDepth := flag.Int("min", 4, "smallest depth of the short-lived trees")
	maxDepth := flag.Int("max", 16, "largest depth of the short-lived trees")
	flag.Parse()
	if flag.NArg() != 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"stretch", *stretch}, {"long", *long}, {"min", *minDepth}, {"max", *maxDepth}} {
		if d.v < 0 || d.v > 30 {
			usageError("-%s wants a depth in 0..30, not %d", d.name, d.v)
		}
	}
	if *minDepth > *maxDepth {
		usageError("-min %d is above -max %d", *minDepth, *maxDepth)
	}
	checkMetrics()

	fmt.Printf("gcbench: Boehm's GCBench (binary trees), backend go: stretch %d, long-lived %d, "+
		"array %d doubles, short-lived depths %d..%d step 2, node 24 bytes; %s\n",
		*stretch, *long, arraySize, *minDepth, *maxDepth, runtimeLine())

	gc0 := gcBegin()
	sampleHeap()
	start := time.Now()
	s0 := sampleNs // the samples from here to the end are not timed

	// Stretch the heap quickly, then let the whole tree die.
	temp := makeTree(*stretch)
	sampleHeap()
	checkTree("the stretch tree", temp, *stretch)
	temp = nil

	// Long-lived data, kept alive until the checks below.
	longLived := new(Node)
	nodesSinceSample++
	populate(*long, longLived)
	maybeSample()
	array := make([]float64, arraySize)
	for i := 0; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i) // +Inf at 0, as 1.0 / 0 in the C
	}

	for d := *minDepth; d <= *maxDepth; d += 2 {
		timeConstruction(d, *stretch)
	}

	elapsed := untimed(time.Since(start), s0)
	sampleHeap()
	r := result{
		params: fmt.Sprintf("stretch=%d long=%d min=%d max=%d", *stretch, *long, *minDepth,
			*maxDepth),
		wallNs: uint64(elapsed.Nanoseconds()),
		gc:     gcSince(gc0, elapsed),
	}

	// The long-lived data must have survived every collection intact.
	checkTree("the long-lived tree", longLived, *long)
	for i := 1; i < arraySize/2; i++ {
		if array[i] != 1.0/float64(i) {
			failures = append(failures, fmt.Sprintf("array[%d] is %g, want %g",
				i, array[i], 1.0/float64(i)))
			break
		}
	}
	if array[1000] != 1.0/1000 {
		failures = append(failures, fmt.Sprintf("array[1000] is %g, want %g", array[1000], 1.0/1000))
	}
	runtime.KeepAlive(longLived)
	runtime.KeepAlive(array)

	r.peakHeapBytes = peakHeap
	r.maxRSSKiB = maxRSSKiB()
	g := &r.gc
	fmt.Printf("completed in %.1f ms, %d collections (pause total %.3f ms, max %.3f ms), "+
		"GC CPU fraction %.4f, peak heap %.1f MiB, peak RSS %.1f MiB\n",
		msOf(r.wallNs), g.gcs, msOf(g.pauseTotalNs), msOf(g.pauseMaxNs), g.cpuFraction,
		mib(r.peakHeapBytes), float64(r.maxRSSKiB)/1024.0)

	if len(failures) != 0 {
		for _, f := range failures {
			fmt.Fprintf(os.Stderr, "gcbench: FAILED: %s\n", f)
		}
		os.Exit(1)
	}
	printResult("gcbench", &r)
}
