// scale.go: the scale benchmark on Go's collector, a peer of bench/scale.c
// (tcscale): the same cases where Go has them, with the same sizes, the
// same objects (64-byte nodes) and the same timed part.
//
//	heap N         N MiB live in nodes on 1,024 linked lists
//	roots N        a global slice of N MiB of unsafe.Pointer, one word in 8
//	               pointing at a live node (Go has no registered root range:
//	               the slice's backing array is a heap object, marked
//	               beside the program)
//	finalizers N   N live nodes with runtime.SetFinalizer, each pointing at
//	               a child, and a dropped pair every 1,024 allocations
//	threads N      N goroutines (GOMAXPROCS as set, by default the CPUs),
//	               each linking nodes onto 16 lists of its own, all of them
//	               set up before the timed part and kept to its end
//	firstcycles N  a fresh process, the heap case's lists towards N MiB,
//	               until the third cycle ends
//
// weak has no Go peer: Go 1.19 has no weak references (the weak package
// came with Go 1.24).
//
// The stops and marks come from gctrace: Go 1.19 has no other per-stop or
// per-mark figure (MemStats.PauseNs sums a cycle's two stops; the
// /gc/pauses:seconds histogram has each stop, but in buckets, and no mark
// times). So the program runs itself as a child with GODEBUG=gctrace=1
// added and reads the child's trace lines from its stderr (every other
// line is passed on): "gc N @...: a+b+c ms clock" gives cycle N's first
// stop a (sweep termination: from the stop's request to the world
// restarted), its concurrent mark b and its final stop c (mark
// termination, to just before the world restarts), each truncated to two
// significant digits (Go's fmtNSAsMS: 0 below 1 us). The child prints the
// RESULT line with the cycles of the timed part (gc_from, gc_to); the
// parent replaces those with the stops and marks of those cycles
// (stop_source=gctrace). The child's line also has the histogram's view
// (hist_p99_stop_us, hist_max_stop_us: bucket upper bounds) and the longest
// cycle's PauseNs.
//
// Build (with common.go) and run:
//
//	GOCACHE=/tmp/gocache GO111MODULE=off go build -o /tmp/peer_scale bench/peers/common.go bench/peers/scale.go
//	/tmp/peer_scale --case heap --size 200 [--alloc-mib N]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const prog = "scale" // for messages (common.go)

const (
	nodeBytes       = 64
	nodesPerMiB     = (1 << 20) / nodeBytes
	lists           = 1024
	ringSlots       = 4096
	mutateEvery     = 64
	finGarbageEvery = 1024
	threadLists     = 16
	threadListLen   = 1024
	firstCycles     = 3
	finChild        = uint64(1) << 40
	childEnv        = "TRICOLOR_SCALE_CHILD" // set in the traced child
)

type node struct {
	next      *node
	id, check uint64
	payload   [5]uint64
}

func checkOf(id uint64) uint64 { return (id+1)*0x9E3779B97F4A7C15 ^ 0x5CA1E5CA1E }

func newNode(id uint64) *node { return &node{id: id, check: checkOf(id)} }

func nodeOK(n *node, id uint64) bool { return n != nil && n.id == id && n.check == checkOf(id) }

func fail(what string, i uint64) {
	fmt.Fprintf(os.Stderr, "%s: FAILED: %s (at %d)\n", prog, what, i)
	os.Exit(1)
}

// ---- The program's objects --------------------------------------------------

var (
	ring      [ringSlots]*node
	garbageID uint64
	heads     []*node
	heapNodes uint64
)

func garbageStep() {
	ring[garbageID%ringSlots] = newNode(garbageID)
	garbageID++
}

func listsBuild(n uint64) {
	for i := uint64(0); i < n; i++ {
		x := newNode(i)
		x.next = heads[i%lists]
		heads[i%lists] = x
	}
}

func listsCheck(n uint64) {
	for j := uint64(0); j < lists && j < n; j++ {
		x := heads[j]
		for id := j + (n-1-j)/lists*lists; ; id -= lists {
			if !nodeOK(x, id) {
				fail("a list node lost or overwritten", id)
			}
			x = x.next
			if id < lists {
				break
			}
		}
		if x != nil {
			fail("a list longer than built", j)
		}
	}
}

func heapMutate(i uint64) {
	j := (i / mutateEvery) % lists
	if old := heads[j]; old != nil {
		x := newNode(old.id)
		x.next = old.next
		heads[j] = x
	}
}

// roots: the global "root range".
var rootRange []unsafe.Pointer

func rootsMutate(i uint64) {
	w := (i / mutateEvery * 8) % uint64(len(rootRange))
	rootRange[w] = unsafe.Pointer(newNode(w / 8))
}

func rootsCheck() {
	for i, p := range rootRange {
		if i%8 != 0 {
			if p != nil {
				fail("a root range word overwritten", uint64(i))
			}
			continue
		}
		if !nodeOK((*node)(p), uint64(i/8)) {
			fail("a root range object lost or overwritten", uint64(i))
		}
	}
}

// finalizers: pair i is node i whose next is node i + finChild.
var (
	kept             []*node
	finKept, finMade uint64
	finRan, finWrong uint64 // atomic: counted on the finalizer goroutine
)

func onFinalize(p *node) {
	if p.id < finKept || !nodeOK(p, p.id) || !nodeOK(p.next, p.id+finChild) {
		atomic.AddUint64(&finWrong, 1)
	}
	atomic.AddUint64(&finRan, 1)
}

func finPair(id uint64) *node {
	p := newNode(id)
	p.next = newNode(id + finChild)
	runtime.SetFinalizer(p, onFinalize)
	return p
}

func finCheck() {
	for i, p := range kept {
		if !nodeOK(p, uint64(i)) || !nodeOK(p.next, uint64(i)+finChild) {
			fail("an object with a finalizer, or its child, lost or overwritten", uint64(i))
		}
	}
	if w := atomic.LoadUint64(&finWrong); w != 0 {
		fail("finalizers ran on live objects or saw a child overwritten", w)
	}
	fmt.Printf("finalizers: %d of the %d pairs dropped in the timed part were finalized\n",
		atomic.LoadUint64(&finRan), finMade-finKept)
}

// threads: list j of goroutine t holds nodes with ids t<<40 | j<<32 | k for
// consecutive k, newest first; each list starts with j x 64 nodes. The
// goroutines meet where tcscale's threads do: set up, start, the end of
// the timed part, check; so all their lists are live throughout the timed
// part, however the scheduler runs them.
func threadID(t, j, k uint64) uint64 { return t<<40 | j<<32 | k }

func threadListOK(x *node, t, j, made, n uint64) bool {
	for k := uint64(0); k < n; k, x = k+1, x.next {
		if !nodeOK(x, threadID(t, j, made-1-k)) {
			return false
		}
	}
	return x == nil
}

type meeting struct {
	ready, finish, done sync.WaitGroup
	start, verify       chan struct{}
}

func worker(t, nodes uint64, ok *bool, m *meeting) {
	var ls [threadLists]*node
	var made, ln [threadLists]uint64
	for j := uint64(0); j < threadLists; j++ {
		for ; made[j] < j*(threadListLen/threadLists); made[j]++ {
			x := newNode(threadID(t, j, made[j]))
			x.next = ls[j]
			ls[j] = x
		}
		ln[j] = made[j]
	}
	m.ready.Done()
	<-m.start
	good := true
	for k := uint64(0); k < nodes && good; k++ {
		j := k % threadLists
		x := newNode(threadID(t, j, made[j]))
		made[j]++
		x.next = ls[j]
		ls[j] = x
		if ln[j]++; ln[j] == threadListLen {
			good = threadListOK(ls[j], t, j, made[j], ln[j])
			ls[j], ln[j] = nil, 0
		}
	}
	m.finish.Done()
	<-m.verify
	for j := uint64(0); j < threadLists; j++ {
		good = good && threadListOK(ls[j], t, j, made[j], ln[j])
	}
	*ok = good
	m.done.Done()
}

// ---- The collector's figures -----------------------------------------------

var gcMetrics = []metrics.Sample{
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/gc/pauses:seconds"},
}

func numGC() uint64 {
	metrics.Read(gcMetrics[:1])
	return gcMetrics[0].Value.Uint64()
}

// pauseHist is a copy: the next read may reuse the histogram it returns.
func pauseHist() *metrics.Float64Histogram {
	metrics.Read(gcMetrics[1:])
	h := gcMetrics[1].Value.Float64Histogram()
	return &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...),
		Buckets: h.Buckets}
}

// histSince is the count, the nearest-rank p99 and the largest of the
// stops recorded since h0, each as its bucket's upper bound, in us.
func histSince(h0, h1 *metrics.Float64Histogram) (n uint64, p99, max float64) {
	d := make([]uint64, len(h1.Counts))
	for i := range d {
		d[i] = h1.Counts[i] - h0.Counts[i]
		n += d[i]
	}
	bound := func(i int) float64 {
		if b := h1.Buckets[i+1]; b <= 1e300 {
			return b * 1e6
		}
		return h1.Buckets[i] * 1e6
	}
	rank := uint64(float64(n)*0.99 + 0.999999)
	var seen uint64
	for i, c := range d {
		if c == 0 {
			continue
		}
		if seen < rank && seen+c >= rank {
			p99 = bound(i)
		}
		seen += c
		max = bound(i)
	}
	return n, p99, max
}

// ---- The child: one case, timed -----------------------------------------------

// defaultAllocMiB is tcscale's default_alloc_mib: 8 times what the case
// keeps (4 times for heap), at least 256 MiB (1 GiB for heap and threads).
func defaultAllocMiB(name string, size int) int {
	var live float64
	switch name {
	case "heap", "firstcycles":
		live = float64(size)
	case "roots": // the range and the objects it points at
		live = float64(size) * 2
	case "finalizers":
		live = float64(size) * (2*nodeBytes + 8) / (1 << 20)
	case "threads":
		live = float64(size) / 2
	}
	mib, least := 8*live, 256.0
	if name == "heap" {
		mib, least = 4*live, 1024
	} else if name == "threads" {
		least = 1024
	}
	if mib < least {
		mib = least
	}
	return int(mib)
}

func child(name string, size, allocMiB int) {
	first := name == "firstcycles"
	var mutate func(uint64)
	switch name {
	case "heap":
		heads = make([]*node, lists)
		heapNodes = uint64(size) * nodesPerMiB
		listsBuild(heapNodes)
		mutate = heapMutate
	case "roots":
		rootRange = make([]unsafe.Pointer, size<<17)
		for i := 0; i < len(rootRange); i += 8 {
			rootRange[i] = unsafe.Pointer(newNode(uint64(i / 8)))
		}
		mutate = rootsMutate
	case "finalizers":
		finKept, finMade = uint64(size), uint64(size)
		kept = make([]*node, size)
		for i := range kept {
			kept[i] = finPair(uint64(i))
		}
		mutate = func(i uint64) {
			if i%finGarbageEvery == 0 {
				finPair(finMade)
				finMade++
			}
		}
	}
	var m meeting
	var ok []bool
	if name == "threads" {
		ok = make([]bool, size)
		m.start, m.verify = make(chan struct{}), make(chan struct{})
		m.ready.Add(size)
		m.finish.Add(size)
		m.done.Add(size)
		for t := 0; t < size; t++ {
			go worker(uint64(t), uint64(allocMiB)*nodesPerMiB/uint64(size), &ok[t], &m)
		}
		m.ready.Wait()
	}
	gcFrom := uint64(1)
	if !first {
		runtime.GC()
		gcFrom = numGC() + 1
	}
	h0 := pauseHist()
	nodes := uint64(allocMiB) * nodesPerMiB
	t0 := time.Now()
	switch name {
	case "threads":
		close(m.start)
		m.finish.Wait()
	case "firstcycles":
		heads = make([]*node, lists)
		target := uint64(size) * nodesPerMiB
		for i := uint64(0); i < nodes; i++ {
			if i%4096 == 0 && numGC() >= firstCycles {
				break
			}
			if heapNodes < target {
				x := newNode(heapNodes)
				x.next = heads[heapNodes%lists]
				heads[heapNodes%lists] = x
				heapNodes++
			}
			garbageStep()
		}
	default:
		for i := uint64(0); i < nodes; i++ {
			garbageStep()
			if i%mutateEvery == 0 {
				mutate(i)
			}
		}
	}
	wall := time.Since(t0)
	gcTo := numGC()
	hn, hp99, hmax := histSince(h0, pauseHist())
	switch name {
	case "heap", "firstcycles":
		listsCheck(heapNodes)
	case "roots":
		rootsCheck()
	case "finalizers":
		finCheck()
	case "threads":
		close(m.verify)
		m.done.Wait()
		for t, o := range ok {
			if !o {
				fail("a goroutine's list lost or overwritten a node", uint64(t))
			}
		}
	}
	if first {
		if gcTo < firstCycles {
			fmt.Fprintf(os.Stderr, "%s: fewer than %d cycles in %d MiB (--alloc-mib)\n", prog,
				firstCycles, allocMiB)
			os.Exit(2)
		}
		gcTo = firstCycles
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var maxCycle uint64
	for c := gcFrom; c <= gcTo && c+256 > uint64(ms.NumGC); c++ {
		if p := ms.PauseNs[(c+255)%256]; p > maxCycle {
			maxCycle = p
		}
	}
	fmt.Printf("RESULT scale backend=go case=%s size=%d alloc_mib=%d ms=%.1f cycles=%d "+
		"gc_from=%d gc_to=%d hist_stops=%d hist_p99_stop_us=%.1f hist_max_stop_us=%.1f "+
		"max_cycle_pause_us=%.1f peak_rss_mib=%.1f\n",
		name, size, allocMiB, float64(wall.Nanoseconds())/1e6, gcTo+1-gcFrom, gcFrom, gcTo,
		hn, hp99, hmax, float64(maxCycle)/1e3, float64(maxRSSKiB())/1024)
	runtime.KeepAlive(ring)
}

// ---- The parent: gctrace read from the child ------------------------------------

// cycleTrace is one gctrace line's clock terms, in ns, and the heap it
// marked (truncated to whole MB, 2^20, as gctrace prints it).
type cycleTrace struct{ stop1, mark, stop2, markedMiB uint64 }

// parseMS reads a fmtNSAsMS figure (milliseconds) as ns.
func parseMS(s string) (uint64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	return uint64(v*1e6 + 0.5), err == nil && v >= 0
}

// parseTrace reads "gc N @Ts P%: a+b+c ms clock, ... ms cpu, H0->H1->H2 MB, ...".
func parseTrace(line string) (uint64, cycleTrace, bool) {
	f := strings.Fields(line)
	if len(f) < 12 || f[0] != "gc" || f[5] != "ms" || f[6] != "clock," {
		return 0, cycleTrace{}, false
	}
	heap := strings.Split(f[10], "->")
	marked, err := strconv.ParseUint(heap[len(heap)-1], 10, 64)
	if err != nil {
		return 0, cycleTrace{}, false
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	t := strings.Split(f[4], "+")
	if err != nil || len(t) != 3 {
		return 0, cycleTrace{}, false
	}
	c := cycleTrace{markedMiB: marked}
	var ok [3]bool
	c.stop1, ok[0] = parseMS(t[0])
	c.mark, ok[1] = parseMS(t[1])
	c.stop2, ok[2] = parseMS(t[2])
	return n, c, ok[0] && ok[1] && ok[2]
}

func field(fields []string, key string) string {
	for _, f := range fields {
		if strings.HasPrefix(f, key+"=") {
			return f[len(key)+1:]
		}
	}
	return ""
}

// withGctrace is the environment with gctrace=1 added to GODEBUG.
func withGctrace() []string {
	var env []string
	debug := "gctrace=1"
	for _, e := range os.Environ() {
		if v := strings.TrimPrefix(e, "GODEBUG="); v != e {
			if v != "" {
				debug = v + ",gctrace=1"
			}
			continue
		}
		env = append(env, e)
	}
	return append(env, "GODEBUG="+debug, childEnv+"=1")
}

func parent() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot find my own program: %v\n", prog, err)
		os.Exit(2)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = withGctrace()
	stdout, err1 := cmd.StdoutPipe()
	stderr, err2 := cmd.StderrPipe()
	if err1 != nil || err2 != nil || cmd.Start() != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot start the traced child\n", prog)
		os.Exit(2)
	}
	traces := map[uint64]cycleTrace{}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if n, c, ok := parseTrace(sc.Text()); ok {
				traces[n] = c
			} else {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
		close(done)
	}()
	var result string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "RESULT ") {
			result = sc.Text()
		} else {
			fmt.Println(sc.Text())
		}
	}
	<-done
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			os.Exit(ee.ExitCode())
		}
		os.Exit(1)
	}
	if result == "" {
		fmt.Fprintf(os.Stderr, "%s: the child printed no RESULT line\n", prog)
		os.Exit(1)
	}
	fmt.Println(withStops(result, traces))
}

// withStops replaces gc_from and gc_to in the child's RESULT line with the
// stops and marks of those cycles.
func withStops(result string, traces map[uint64]cycleTrace) string {
	fields := strings.Fields(result)
	from, _ := strconv.ParseUint(field(fields, "gc_from"), 10, 64)
	to, _ := strconv.ParseUint(field(fields, "gc_to"), 10, 64)
	var stops, marks []uint64
	var live uint64
	missing := 0
	for c := from; c <= to; c++ {
		t, ok := traces[c]
		if !ok {
			missing++
			continue
		}
		stops = append(stops, t.stop1, t.stop2)
		marks = append(marks, t.mark)
		live = t.markedMiB
	}
	inOrder := append([]uint64(nil), stops...)
	sortU64(stops)
	sortU64(marks)
	var maxStop uint64
	if len(stops) > 0 {
		maxStop = stops[len(stops)-1]
	}
	var maxMark uint64
	if len(marks) > 0 {
		maxMark = marks[len(marks)-1]
	}
	add := fmt.Sprintf("stops=%d max_stop_us=%.1f p99_stop_us=%.1f mark_ms_max=%.2f "+
		"mark_ms_median=%.2f marks=%d marked_mib=%d stop_source=gctrace", len(stops),
		float64(maxStop)/1e3, float64(quantile(stops, 0.99))/1e3, msOf(maxMark),
		msOf(quantile(marks, 0.5)), len(marks), live)
	if missing > 0 {
		add += fmt.Sprintf(" traces_missing=%d", missing)
	}
	var out []string
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f, "gc_from="):
			out = append(out, add)
		case strings.HasPrefix(f, "gc_to="):
		default:
			out = append(out, f)
		}
	}
	if field(fields, "case") == "firstcycles" {
		us := make([]string, len(inOrder))
		for i, s := range inOrder {
			us[i] = strconv.FormatFloat(float64(s)/1e3, 'f', 1, 64)
		}
		out = append(out, "stops_us="+strings.Join(us, ","))
	}
	return strings.Join(out, " ")
}

func main() {
	name := flag.String("case", "", "heap, roots, finalizers, threads or firstcycles")
	size := flag.Int("size", 0, "the case's size (MiB, count or threads)")
	allocMiB := flag.Int("alloc-mib", 0, "MiB allocated in the timed part (0: the case's default)")
	flag.Parse()
	cases := map[string]bool{"heap": true, "roots": true, "finalizers": true, "threads": true,
		"firstcycles": true}
	if *name == "weak" {
		usageError("weak: Go 1.19 has no weak references (tricolor only)")
	}
	if !cases[*name] || *size <= 0 || *allocMiB < 0 || flag.NArg() != 0 {
		usageError("--case heap|roots|finalizers|threads|firstcycles and a positive --size")
	}
	if *allocMiB == 0 {
		*allocMiB = defaultAllocMiB(*name, *size)
	}
	if os.Getenv(childEnv) == "" {
		parent()
		return
	}
	child(*name, *size, *allocMiB)
}
