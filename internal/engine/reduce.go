package engine

import (
	"container/heap"
	"hash/maphash"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Aggregator says what a keyed, windowed reduction keeps per key and window: GroupByKey keeps the values,
// CombinePerKey an accumulator. Add and Merge may modify and return their first argument.
type Aggregator[V, A, O any] interface {
	// Create returns an empty aggregate.
	Create() A
	// Add folds one value in.
	Add(a A, v V) A
	// Merge folds b into a.
	Merge(a, b A) A
	// Extract returns the output of an aggregate.
	Extract(a A) O
}

// reduceMode selects the consumer's state layout.
type reduceMode uint8

const (
	modeWindows  reduceMode = iota // non-merging windows, any trigger
	modeSessions                   // merging windows, per key
	modeSliced                     // sliding windows kept as slices, default trigger, combiners only
)

// ReduceOp is the keyed operator behind GroupByKey and CombinePerKey: a shuffle by key, then per key and window
// state that fires panes as the trigger says.
type ReduceOp[K comparable, V, A, O any] struct {
	name, kind string
	st         *windowing.Strategy
	trig       windowing.Trigger // nil for Default
	agg        Aggregator[V, A, O]
	lift       bool // pre-combine on the producer side (combiners)
	hasLate    bool // output 1 receives data behind the allowed lateness
	mode       reduceMode
	sliding    windowing.Sliding
}

// NewReduce returns the operator of a keyed, windowed reduction (GroupByKey, CombinePerKey, CoGroupByKey) of
// KV[K, V] into KV[K, O] with strategy st. lift pre-combines on the producer side (combiners); hasLate adds an
// output (index 1) of KV[K, V] receiving data behind the allowed lateness. Name it with SetName once it is in the
// graph.
func NewReduce[K comparable, V, A, O any](kind string, st *windowing.Strategy, agg Aggregator[V, A, O], lift, hasLate bool) *ReduceOp[K, V, A, O] {
	o := &ReduceOp[K, V, A, O]{kind: kind, st: st, agg: agg, lift: lift, hasLate: hasLate}
	if _, isDefault := st.TriggerOrDefault().(windowing.Default); !isDefault {
		o.trig = st.TriggerOrDefault()
	}
	switch fn := st.WindowFn().(type) {
	case windowing.Sessions:
		o.mode, o.lift = modeSessions, false
	case windowing.Sliding:
		if st.Deferred && lift && o.trig == nil {
			o.mode, o.sliding = modeSliced, fn
		}
	}
	return o
}

// String returns the transform kind, e.g. "CombinePerKey".
func (o *ReduceOp[K, V, A, O]) String() string { return o.kind }

// SetName sets the transform's full name (used in metrics, logs and errors).
func (o *ReduceOp[K, V, A, O]) SetName(name string) { o.name = name }

// StateTypes names the types of the state a checkpoint holds: the key and the accumulator (for GroupByKey, the
// slice of values).
func (o *ReduceOp[K, V, A, O]) StateTypes() map[string]string {
	return map[string]string{"key": pipeline.TypeName[K](), "accumulator": pipeline.TypeName[A]()}
}

func (o *ReduceOp[K, V, A, O]) lateness() time.Duration { return o.st.AllowedLateness }

// expired reports whether window w can no longer change at input watermark wm.
func (o *ReduceOp[K, V, A, O]) expired(w pipeline.Window, wm pipeline.Time) bool {
	return wm >= w.End.Add(o.st.AllowedLateness) && wm != pipeline.MinTime
}

type rawItem[K comparable, V any] struct {
	k K
	v V
	w pipeline.Window
}

type partItem[K comparable, A any] struct {
	k K
	w pipeline.Window
	a A
	n int64
}

type exchange[K comparable, V, A, O any] struct {
	op       *ReduceOp[K, V, A, O]
	seed     maphash.Seed
	restored int // chunks restored (see spillIfOverBudget)
	n        int
	cons     []*consumer[K, V, A, O] // by worker, once instantiated
	raw      [][][]rawItem[K, V]     // [producer][consumer]
	part     [][][]partItem[K, A]    // [producer][consumer]
}

// NewExchange creates the buffers between the producing and consuming sides for workers workers.
func (o *ReduceOp[K, V, A, O]) NewExchange(workers int) (exec.Exchange, error) {
	ex := &exchange[K, V, A, O]{op: o, seed: maphash.MakeSeed(), n: workers, raw: make([][][]rawItem[K, V], workers), part: make([][][]partItem[K, A], workers)}
	for i := range workers {
		ex.raw[i] = make([][]rawItem[K, V], workers)
		ex.part[i] = make([][]partItem[K, A], workers)
	}
	return ex, nil
}

func (ex *exchange[K, V, A, O]) Instantiate(w *exec.Worker, outs []any) ([]any, exec.Consumer, error) {
	o := ex.op
	out, err := PusherOf[pipeline.KV[K, O]](o.name, outs, 0)
	if err != nil {
		return nil, nil, err
	}
	p := &producer[K, V, A, O]{op: o, ex: ex, w: w, i: w.Index, wm: pipeline.MinTime}
	if o.hasLate {
		if p.late, err = PusherOf[pipeline.KV[K, V]](o.name, outs, 1); err != nil {
			return nil, nil, err
		}
	}
	if o.st.Deferred && o.mode != modeSliced {
		p.x = windowing.NewExploder[pipeline.KV[K, V]](o.st)
		p.oneFn = p.one
	}
	c := &consumer[K, V, A, O]{op: o, ex: ex, w: w, j: w.Index, prod: p, out: out, wm: pipeline.MinTime, prev: pipeline.MinTime,
		wins: map[pipeline.Window]*wgroup[K, A]{}}
	if o.mode == modeSessions {
		c.sess = map[K][]pipeline.Window{}
	}
	if o.mode == modeSliced {
		c.sl = newSliceState[K, A](o)
	}
	if len(ex.cons) < ex.n {
		ex.cons = make([]*consumer[K, V, A, O], ex.n)
	}
	ex.cons[w.Index] = c
	return []any{p}, c, nil
}

// producer is the input side of a reduction on one worker: it drops or diverts late data, pre-combines when the
// aggregation allows it, and partitions by key into the exchange.
type producer[K comparable, V, A, O any] struct {
	op    *ReduceOp[K, V, A, O]
	ex    *exchange[K, V, A, O]
	w     *exec.Worker
	i     int
	wm    pipeline.Time
	late  exec.Pusher[pipeline.KV[K, V]]
	x     *windowing.Exploder[pipeline.KV[K, V]]
	oneFn func(pipeline.Element[pipeline.KV[K, V]]) error

	// pre-combining state: partial aggregates per window and key, flushed after every stage run.
	groups map[pipeline.Window]*pgroup[K]
	last   *pgroup[K]
	free   []*pgroup[K]
	parts  []partItem[K, A]
}

type pgroup[K comparable] struct {
	w   pipeline.Window
	idx map[K]int32
}

func (p *producer[K, V, A, O]) Push(e pipeline.Element[pipeline.KV[K, V]]) error {
	p.w.Current = p.op.name // the combiner's CreateAccumulator and AddInput run here
	switch {
	case p.op.mode == modeSliced:
		return p.pushSliced(e)
	case p.x != nil:
		return p.x.Each(e, p.oneFn)
	}
	return p.one(e)
}

// PushBatch takes a chunk of elements (see Push).
func (p *producer[K, V, A, O]) PushBatch(es []pipeline.Element[pipeline.KV[K, V]]) error {
	p.w.Current = p.op.name
	switch {
	case p.op.mode == modeSliced:
		for i := range es {
			if err := p.pushSliced(es[i]); err != nil {
				return err
			}
		}
	case p.x != nil:
		for i := range es {
			if err := p.x.Each(es[i], p.oneFn); err != nil {
				return err
			}
		}
	case p.op.lift:
		for i := range es {
			e := &es[i]
			if p.op.expired(e.Window, p.wm) {
				if err := p.dropLate(*e); err != nil {
					return err
				}
				continue
			}
			p.addPartial(e.Value.Key, e.Window, e.Value.Value)
		}
	default:
		for i := range es {
			if err := p.one(es[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *producer[K, V, A, O]) one(e pipeline.Element[pipeline.KV[K, V]]) error {
	if p.op.expired(e.Window, p.wm) {
		return p.dropLate(e)
	}
	if p.op.lift {
		p.addPartial(e.Value.Key, e.Window, e.Value.Value)
		return nil
	}
	d := p.dest(e.Value.Key)
	p.ex.raw[p.i][d] = append(p.ex.raw[p.i][d], rawItem[K, V]{k: e.Value.Key, v: e.Value.Value, w: e.Window})
	return nil
}

func (p *producer[K, V, A, O]) dest(k K) int {
	if p.ex.n == 1 {
		return 0
	}
	return int(hashOf(p.ex.seed, k) % uint64(p.ex.n))
}

// hashOf routes key k to a worker. Each exchange has its own seed, so which worker owns a key differs from run to
// run (restores re-partition keys by the current owner).
func hashOf[K comparable](seed maphash.Seed, k K) uint64 { return maphash.Comparable(seed, k) }

func (p *producer[K, V, A, O]) addPartial(k K, w pipeline.Window, v V) {
	g := p.last
	if g == nil || g.w != w {
		g = p.groups[w]
		if g == nil {
			if n := len(p.free); n > 0 {
				g, p.free = p.free[n-1], p.free[:n-1]
				g.w = w
			} else {
				g = &pgroup[K]{w: w, idx: make(map[K]int32, 64)}
			}
			if p.groups == nil {
				p.groups = map[pipeline.Window]*pgroup[K]{}
			}
			p.groups[w] = g
		}
		p.last = g
	}
	i, ok := g.idx[k]
	if !ok {
		i = int32(len(p.parts))
		g.idx[k] = i
		p.parts = append(p.parts, partItem[K, A]{k: k, w: w, a: p.op.agg.Create()})
	}
	it := &p.parts[i]
	it.a = p.op.agg.Add(it.a, v)
	it.n++
}

// dropLate sends an element whose window is past its allowed lateness to the late output, or counts and logs it.
func (p *producer[K, V, A, O]) dropLate(e pipeline.Element[pipeline.KV[K, V]]) error {
	if p.late != nil {
		return p.late.Push(e)
	}
	if p.w.Late == nil {
		p.w.Late = map[string]int64{}
	}
	n := p.w.Late[p.op.name]
	p.w.Late[p.op.name] = n + 1
	if n == 0 && p.w.Logger != nil {
		p.w.Logger.Warn("dropping data behind the allowed lateness (ask for a late-data output to keep it)",
			"transform", p.op.name, "window", e.Window.String(), "watermark", p.wm.String(),
			"allowed_lateness", p.op.lateness().String())
	}
	return nil
}

// flush moves the partial aggregates into the exchange.
func (p *producer[K, V, A, O]) flush() {
	if len(p.parts) == 0 {
		return
	}
	for _, it := range p.parts {
		d := p.dest(it.k)
		p.ex.part[p.i][d] = append(p.ex.part[p.i][d], it)
	}
	clear(p.parts)
	p.parts = p.parts[:0]
	for w, g := range p.groups {
		clear(g.idx)
		p.free = append(p.free, g)
		delete(p.groups, w)
	}
	p.last = nil
}

// pane is the state of one key in one window.
type pane[A any] struct {
	acc        A
	fresh      int64 // elements since the last pane
	idx        int64
	nonSpec    int64
	onTimeDone bool
	closed     bool
	dirty      bool
	timed      bool
	ck         bool // changed since the last snapshot (listed in consumer.ckPanes)
	trig       *tstate
}

// wgroup holds the panes of one window.
type wgroup[K comparable, A any] struct {
	w         pipeline.Window
	keys      map[K]*pane[A]
	wmPassed  bool
	dead      bool
	inDirty   bool
	dirtyKeys []K
	spilled   bool // some panes are in the spill store
}

type paneRef[K comparable] struct {
	w pipeline.Window
	k K
}

type timedRef[K comparable, A any] struct {
	g   *wgroup[K, A]
	k   K
	due time.Time // the pane's next processing-time deadline, when it was last looked at (it may be spilled)
}

type groupRef[K comparable, A any] struct {
	g *wgroup[K, A]
	k K
}

// consumer is the keyed side of a reduction on one worker.
type consumer[K comparable, V, A, O any] struct {
	op   *ReduceOp[K, V, A, O]
	ex   *exchange[K, V, A, O]
	w    *exec.Worker
	j    int
	prod *producer[K, V, A, O]
	out  exec.Pusher[pipeline.KV[K, O]]
	wm   pipeline.Time
	prev pipeline.Time // the watermark before the current Advance
	now  time.Time

	wins  map[pipeline.Window]*wgroup[K, A]
	ends  groupHeap[K, A] // by window end, for the watermark firing
	gcs   groupHeap[K, A] // by end + allowed lateness, for garbage collection
	dirty []*wgroup[K, A]
	timed []timedRef[K, A]
	sess  map[K][]pipeline.Window // modeSessions: the current sessions of each key
	// modeSessions: sessions that emitted panes and whose state is gone, kept while a new session of the same key
	// could still overlap them (see noteGone).
	gone     map[K][]pipeline.Window
	goneExp  goneHeap[K]
	warnedOv bool
	sl       *sliceState[K, A] // modeSliced
	last     *wgroup[K, A]
	sp       *spillState[K, A] // when state has been spilled

	// Changes since the last snapshot, for incremental checkpoints (see snapshot.go).
	ckPanes       []groupRef[K, A]  // panes changed (possibly listed twice after a spill; possibly gone since)
	ckSpilledKeys map[K]bool        // sessions: keys whose changed sessions went to disk
	ckGone        []pipeline.Window // windows whose state went
	ckPaneGone    []paneRef[K]      // panes merged away (sessions)
	ckOverflow    bool              // too many changes to list: the next snapshot is full
}

func (c *consumer[K, V, A, O]) Flush() error {
	c.prod.flush()
	return nil
}

func (c *consumer[K, V, A, O]) StateEntries() int {
	n := 0
	for _, g := range c.wins {
		n += len(g.keys)
	}
	if c.sl != nil {
		n += c.sl.entries()
	}
	return n
}

func (c *consumer[K, V, A, O]) Process() error {
	c.w.Current = c.op.name // the combiner's MergeAccumulators runs here
	c.now = c.w.Now()
	for i := range c.ex.n {
		parts := c.ex.part[i][c.j]
		for k := range parts {
			it := &parts[k]
			if c.sl != nil {
				if err := c.sl.add(c, it.k, it.w, it.a, it.n); err != nil {
					return err
				}
				continue
			}
			c.ingest(it.k, it.w, it.n, func(a A) A { return c.op.agg.Merge(a, it.a) })
		}
		clear(parts)
		c.ex.part[i][c.j] = parts[:0]
		raws := c.ex.raw[i][c.j]
		for k := range raws {
			it := &raws[k]
			if c.op.mode == modeSessions {
				if err := c.ingestSession(it.k, it.w, it.v); err != nil {
					return err
				}
				continue
			}
			c.ingest(it.k, it.w, 1, func(a A) A { return c.op.agg.Add(a, it.v) })
		}
		clear(raws)
		c.ex.raw[i][c.j] = raws[:0]
	}
	return nil
}

func (c *consumer[K, V, A, O]) group(w pipeline.Window) *wgroup[K, A] {
	if g := c.last; g != nil && g.w == w && !g.dead {
		return g
	}
	g := c.wins[w]
	if g == nil {
		g = &wgroup[K, A]{w: w, keys: map[K]*pane[A]{}}
		c.wins[w] = g
		if w.End <= c.wm && c.wm != pipeline.MinTime {
			g.wmPassed = true // created behind the watermark (a late session merge): no watermark event of its own
		} else {
			heap.Push(&c.ends, ghEntry[K, A]{g: g, at: w.End})
		}
		heap.Push(&c.gcs, ghEntry[K, A]{g: g, at: w.End.Add(c.op.lateness())})
	}
	c.last = g
	return g
}

func (c *consumer[K, V, A, O]) newPane() *pane[A] {
	p := &pane[A]{acc: c.op.agg.Create()}
	if c.op.trig != nil {
		p.trig = newTState(c.op.trig)
	}
	return p
}

// ingest adds n elements (already folded into upd) for key k to window w.
func (c *consumer[K, V, A, O]) ingest(k K, w pipeline.Window, n int64, upd func(A) A) {
	g := c.group(w)
	p := g.keys[k]
	if p == nil {
		p = c.newPane()
		g.keys[k] = p
	}
	if p.closed {
		c.countClosed(w, n)
		return
	}
	p.acc = upd(p.acc)
	p.fresh += n
	c.touch(g, k, p, n)
}

// maxTracked bounds the changed panes a consumer lists between snapshots (about 32 MiB of references); past it
// the next snapshot is full.
const maxTracked = 1 << 20

// mark records that pane p of key k in g changed since the last snapshot.
func (c *consumer[K, V, A, O]) mark(g *wgroup[K, A], k K, p *pane[A]) {
	if p.ck || !c.w.TrackChanges || c.ckOverflow {
		return
	}
	if len(c.ckPanes) >= maxTracked {
		c.ckOverflow = true
		clear(c.ckPanes)
		c.ckPanes = nil
		return
	}
	p.ck = true
	c.ckPanes = append(c.ckPanes, groupRef[K, A]{g: g, k: k})
}

func (c *consumer[K, V, A, O]) touch(g *wgroup[K, A], k K, p *pane[A], n int64) {
	c.mark(g, k, p)
	if p.trig != nil {
		p.trig.onElement(c.op.trig, n, c.now)
		if d := p.trig.nextDeadline(); !p.timed && !d.IsZero() {
			p.timed = true
			c.timed = append(c.timed, timedRef[K, A]{g: g, k: k, due: d})
		}
	}
	if c.op.trig == nil && !g.wmPassed {
		return // the default trigger only fires for data once the watermark has passed the window
	}
	if !p.dirty {
		p.dirty = true
		g.dirtyKeys = append(g.dirtyKeys, k)
		if !g.inDirty {
			g.inDirty = true
			c.dirty = append(c.dirty, g)
		}
	}
}

func (c *consumer[K, V, A, O]) countClosed(w pipeline.Window, n int64) {
	if c.w.Late == nil {
		c.w.Late = map[string]int64{}
	}
	before := c.w.Late[c.op.name]
	c.w.Late[c.op.name] = before + n
	if before == 0 && c.w.Logger != nil {
		c.w.Logger.Warn("dropping data for a window whose trigger has finished", "transform", c.op.name, "window", w.String())
	}
}

func (c *consumer[K, V, A, O]) Advance(wm pipeline.Time, now time.Time) error {
	if wm < c.wm {
		wm = c.wm // watermarks never go back
	}
	c.prev, c.wm, c.now = c.wm, wm, now
	c.prod.wm = wm
	c.w.Current = c.op.name // firing merges and extracts
	if c.sl != nil {
		if err := c.sl.advance(c); err != nil {
			return err
		}
	}
	// 1. The watermark passes window ends (sessions on disk come back when it reaches them).
	if err := c.loadDueSessions(wm); err != nil {
		return err
	}
	for c.ends.Len() > 0 && c.ends.items[0].at <= wm {
		g := heap.Pop(&c.ends).(ghEntry[K, A]).g
		if g.dead || g.wmPassed {
			continue
		}
		g.wmPassed = true
		expired := c.op.expired(g.w, wm)
		if err := c.fireSpilled(g, expired); err != nil {
			return err
		}
		for k, p := range g.keys {
			if err := c.evaluate(g, k, p); err != nil {
				return err
			}
		}
		if expired {
			// Past its lateness too: final panes, then free it now rather than after every other window fired.
			for k, p := range g.keys {
				if p.fresh > 0 && !p.closed {
					if err := c.fire(g, k, p, true); err != nil {
						return err
					}
				}
			}
			c.drop(g)
		}
	}
	// 2. New data.
	for _, g := range c.dirty {
		g.inDirty = false
		if g.dead {
			g.dirtyKeys = g.dirtyKeys[:0]
			continue
		}
		if g.spilled { // bring the dirty keys' spilled parts back in one sorted pass
			if err := c.unspillKeys(g, g.dirtyKeys); err != nil {
				return err
			}
		}
		for _, k := range g.dirtyKeys {
			if p := g.keys[k]; p != nil && p.dirty {
				if err := c.evaluate(g, k, p); err != nil {
					return err
				}
			}
		}
		clear(g.dirtyKeys)
		g.dirtyKeys = g.dirtyKeys[:0]
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	// 3. Processing-time deadlines.
	if err := c.loadTimedSessions(now); err != nil {
		return err
	}
	if len(c.timed) > 0 {
		if err := c.unspillDue(now); err != nil {
			return err
		}
		keep := c.timed[:0]
		for _, r := range c.timed {
			if r.g.dead {
				continue
			}
			p := r.g.keys[r.k]
			if p == nil && r.g.spilled && !now.Before(r.due) { // due, and on disk
				if err := c.unspillKey(r.g, r.k); err != nil {
					return err
				}
				p = r.g.keys[r.k]
			}
			if p == nil {
				if r.g.spilled && !r.due.IsZero() {
					keep = append(keep, r) // on disk, not due yet
				}
				continue
			}
			if p.closed {
				p.timed = false
				continue
			}
			d := p.trig.nextDeadline()
			if !d.IsZero() && !now.Before(d) {
				if err := c.evaluate(r.g, r.k, p); err != nil {
					return err
				}
				d = p.trig.nextDeadline()
			}
			if d.IsZero() {
				p.timed = false
				continue
			}
			r.due = d
			keep = append(keep, r)
		}
		clear(c.timed[len(keep):])
		c.timed = keep
	}
	for c.goneExp.Len() > 0 && c.goneExp.items[0].at <= wm && wm != pipeline.MinTime {
		c.forget(heap.Pop(&c.goneExp).(goneEntry[K]))
	}
	// 4. Windows past their allowed lateness: final panes, then the state goes.
	for c.gcs.Len() > 0 && c.gcs.items[0].at <= wm && wm != pipeline.MinTime {
		g := heap.Pop(&c.gcs).(ghEntry[K, A]).g
		if g.dead {
			continue
		}
		if err := c.fireSpilled(g, true); err != nil {
			return err
		}
		for k, p := range g.keys {
			if p.fresh > 0 && !p.closed {
				if err := c.fire(g, k, p, true); err != nil {
					return err
				}
			}
		}
		c.drop(g)
	}
	return nil
}

func (c *consumer[K, V, A, O]) drop(g *wgroup[K, A]) {
	if c.sess != nil {
		c.noteGone(g)
	}
	if c.w.TrackChanges {
		c.ckGone = append(c.ckGone, g.w)
	}
	if g.spilled && c.sp != nil { // dropped before firing its spilled panes (a restore replaying a window's end)
		if err := c.sp.store.DeletePrefix(windowKeyPrefix(g.w)); err != nil && c.w.Logger != nil {
			c.w.Logger.Warn("could not delete spilled state", "transform", c.op.name, "window", g.w.String(), "err", err)
		}
		g.spilled = false
	}
	g.dead = true
	if c.wins[g.w] == g {
		delete(c.wins, g.w)
	}
	if c.last == g {
		c.last = nil
	}
	if c.sess != nil {
		for k := range g.keys {
			c.removeSession(k, g.w)
		}
	}
	g.keys = nil
}

func (c *consumer[K, V, A, O]) evaluate(g *wgroup[K, A], k K, p *pane[A]) error {
	p.dirty = false
	if p.closed {
		return nil
	}
	var fire bool
	if p.trig == nil {
		fire = c.wm >= g.w.End && c.wm != pipeline.MinTime
	} else {
		fire = p.trig.shouldFire(c.op.trig, c.wm, g.w.End, c.now)
	}
	if !fire {
		return nil
	}
	return c.fire(g, k, p, false)
}

// timing classifies a firing of window w as Beam does: early before the watermark reaches the window's end; on
// time for the first firing in the micro-batch that moved the watermark past it; late after that, also for a key
// whose first data arrives once the window had already passed.
func (c *consumer[K, V, A, O]) timing(w pipeline.Window, onTimeDone bool) pipeline.Timing {
	switch {
	case c.wm < w.End || c.wm == pipeline.MinTime:
		return pipeline.Early
	case onTimeDone || (c.prev >= w.End && c.prev != pipeline.MinTime):
		return pipeline.Late
	}
	return pipeline.OnTime
}

func (c *consumer[K, V, A, O]) fire(g *wgroup[K, A], k K, p *pane[A], final bool) error {
	c.mark(g, k, p)
	timing := c.timing(g.w, p.onTimeDone)
	finished := false
	if p.trig != nil {
		p.trig.onFire(c.op.trig, c.wm, g.w.End, c.now)
		finished = p.trig.Finished
	}
	last := final || finished || c.op.expired(g.w, c.wm)
	emit := p.fresh > 0 || (timing == pipeline.OnTime && !c.op.st.OnTimeIfNonEmpty)
	if timing == pipeline.OnTime {
		p.onTimeDone = true
	}
	if emit {
		nonSpec := p.nonSpec
		if timing == pipeline.Early {
			nonSpec = -1
		} else {
			p.nonSpec++
		}
		pn := pipeline.Pane{Index: p.idx, NonSpeculativeIndex: nonSpec, Timing: timing, First: p.idx == 0, Last: last}
		p.idx++
		c.w.Current = c.op.name
		err := c.out.Push(pipeline.Element[pipeline.KV[K, O]]{
			Value:  pipeline.KV[K, O]{Key: k, Value: c.op.agg.Extract(p.acc)},
			Time:   g.w.MaxTimestamp(),
			Window: g.w,
			Pane:   pn,
		})
		if err != nil {
			return err
		}
		if c.gone != nil {
			c.checkOverlap(k, g.w)
		}
		if c.w.OnPane != nil { // every pane: the runner counts them, and keeps latency samples of panes fired before the end
			c.w.OnPane(c.op.name, g.w, pn)
		}
		if c.op.st.Accumulation == windowing.Discarding {
			p.acc = c.op.agg.Create()
		}
		p.fresh = 0
	}
	if finished {
		p.closed = true
	}
	return nil
}

// ingestSession adds a value with its proto-session window, merging the key's overlapping sessions.
func (c *consumer[K, V, A, O]) ingestSession(k K, w pipeline.Window, v V) error {
	if c.sp != nil && c.sp.sessions > 0 && c.sess[k] == nil {
		if _, err := c.loadSessions(k); err != nil {
			return err
		}
	}
	wins := c.sess[k]
	merged := w
	var overl []pipeline.Window
	for _, s := range wins {
		if s.Start < merged.End && merged.Start < s.End {
			overl = append(overl, s)
		}
	}
	// Overlaps found first may extend merged so that it reaches further sessions: repeat until stable.
	for changed := true; changed; {
		changed = false
		for _, s := range overl {
			if s.Start < merged.Start {
				merged.Start, changed = s.Start, true
			}
			if s.End > merged.End {
				merged.End, changed = s.End, true
			}
		}
		overl = overl[:0]
		for _, s := range wins {
			if s.Start < merged.End && merged.Start < s.End {
				overl = append(overl, s)
			}
		}
	}
	if len(overl) == 1 && overl[0] == merged {
		c.ingest(k, merged, 1, func(a A) A { return c.op.agg.Add(a, v) })
		return nil
	}
	// Build the merged pane from the old ones.
	np := c.newPane()
	for _, s := range overl {
		g := c.wins[s]
		if g == nil {
			continue
		}
		op := g.keys[k]
		if op == nil {
			continue
		}
		np.acc = c.op.agg.Merge(np.acc, op.acc)
		np.fresh += op.fresh
		np.idx = max(np.idx, op.idx)
		np.nonSpec = max(np.nonSpec, op.nonSpec)
		np.onTimeDone = np.onTimeDone || op.onTimeDone
		if np.trig != nil && op.trig != nil {
			np.trig.mergeFrom(op.trig)
		}
		delete(g.keys, k)
		if c.w.TrackChanges {
			c.ckPaneGone = append(c.ckPaneGone, paneRef[K]{w: s, k: k})
		}
		if len(g.keys) == 0 {
			g.dead = true
			delete(c.wins, s)
			if c.last == g {
				c.last = nil
			}
		}
	}
	if merged.End > c.wm || c.wm == pipeline.MinTime {
		np.onTimeDone = false // the merged session has not reached its end yet
	}
	keep := wins[:0]
	for _, s := range wins {
		if !(s.Start < merged.End && merged.Start < s.End) {
			keep = append(keep, s)
		}
	}
	c.sess[k] = append(keep, merged)
	g := c.group(merged)
	if old := g.keys[k]; old != nil { // cannot normally happen; fold it in
		np.acc = c.op.agg.Merge(np.acc, old.acc)
		np.fresh += old.fresh
	}
	g.keys[k] = np
	np.acc = c.op.agg.Add(np.acc, v)
	np.fresh++
	c.touch(g, k, np, 1)
	return nil
}

func (c *consumer[K, V, A, O]) removeSession(k K, w pipeline.Window) {
	wins := c.sess[k]
	for i, s := range wins {
		if s == w {
			wins = append(wins[:i], wins[i+1:]...)
			break
		}
	}
	if len(wins) == 0 {
		delete(c.sess, k)
	} else {
		c.sess[k] = wins
	}
}

type ghEntry[K comparable, A any] struct {
	g  *wgroup[K, A]
	at pipeline.Time
}

type groupHeap[K comparable, A any] struct{ items []ghEntry[K, A] }

func (h *groupHeap[K, A]) Len() int           { return len(h.items) }
func (h *groupHeap[K, A]) Less(i, j int) bool { return h.items[i].at < h.items[j].at }
func (h *groupHeap[K, A]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *groupHeap[K, A]) Push(x any)         { h.items = append(h.items, x.(ghEntry[K, A])) }
func (h *groupHeap[K, A]) Pop() any {
	n := len(h.items)
	x := h.items[n-1]
	h.items[n-1] = ghEntry[K, A]{}
	h.items = h.items[:n-1]
	return x
}

// Overlapping sessions. A session's state goes once the watermark passes its end plus the allowed lateness. If
// data then arrives that is not late (its own proto-session still ends after the watermark) but falls inside the
// gone session's span, it starts a new session overlapping one already emitted for the key, where an in-order
// run would have merged them. This is within the Beam model, but the user gets no signal from it: the data is not
// counted as late. So the consumer remembers each key's emitted-and-gone sessions while a new session could still
// overlap them (until the watermark passes end + gap + allowed lateness), and counts and logs a pane that does.

type goneEntry[K comparable] struct {
	k  K
	w  pipeline.Window
	at pipeline.Time
}

type goneHeap[K comparable] struct{ items []goneEntry[K] }

func (h *goneHeap[K]) Len() int           { return len(h.items) }
func (h *goneHeap[K]) Less(i, j int) bool { return h.items[i].at < h.items[j].at }
func (h *goneHeap[K]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *goneHeap[K]) Push(x any)         { h.items = append(h.items, x.(goneEntry[K])) }
func (h *goneHeap[K]) Pop() any {
	n := len(h.items)
	x := h.items[n-1]
	h.items[n-1] = goneEntry[K]{}
	h.items = h.items[:n-1]
	return x
}

// noteGone remembers the sessions of g that emitted panes, as g's state goes.
func (c *consumer[K, V, A, O]) noteGone(g *wgroup[K, A]) {
	sess, ok := c.op.st.WindowFn().(windowing.Sessions)
	if !ok {
		return
	}
	at := g.w.End.Add(sess.Gap).Add(c.op.st.AllowedLateness)
	for k, p := range g.keys {
		if p.idx == 0 {
			continue
		}
		if c.gone == nil {
			c.gone = map[K][]pipeline.Window{}
		}
		c.gone[k] = append(c.gone[k], g.w)
		heap.Push(&c.goneExp, goneEntry[K]{k: k, w: g.w, at: at})
	}
}

func (c *consumer[K, V, A, O]) forget(e goneEntry[K]) {
	ws := c.gone[e.k]
	for i, w := range ws {
		if w == e.w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.gone, e.k)
	} else {
		c.gone[e.k] = ws
	}
}

// checkOverlap counts (and logs, once) a pane of session w of key k that overlaps a gone session of k.
func (c *consumer[K, V, A, O]) checkOverlap(k K, w pipeline.Window) {
	for _, g := range c.gone[k] {
		if g.Start < w.End && w.Start < g.End {
			if c.w.Overlapping == nil {
				c.w.Overlapping = map[string]int64{}
			}
			c.w.Overlapping[c.op.name]++
			if !c.warnedOv && c.w.Logger != nil {
				c.warnedOv = true
				c.w.Logger.Warn("a session pane overlaps a session already emitted for the same key: data arrived further out of order than the source's out-of-orderness bound (pipeline.OutOfOrderness) plus the allowed lateness allow, so sessions that belong together were emitted separately; raise either",
					"transform", c.op.name, "key", Short(k), "session", w.String(), "emitted", g.String())
			}
			return
		}
	}
}
