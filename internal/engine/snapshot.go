package engine

import (
	"encoding/gob"
	"fmt"
	"io"
	"sync"

	"github.com/kappaflow/kappa/pipeline"
)

// Checkpoint snapshots: every keyed consumer writes its state as one gob stream between micro-batches (when no
// data is in flight: dirty lists, producer partials and exchange buffers are all empty). Restoring reads the
// snapshots of every worker of the checkpointed run and hands each key to the worker that owns it now, so a job
// may restart with a different number of workers.

type paneSnap[K comparable, A any] struct {
	K          K
	Acc        A
	Fresh      int64
	Idx        int64
	NonSpec    int64
	OnTimeDone bool
	Closed     bool
	Trig       *tstate
}

// A reduction's snapshot is a gob stream: a header, then chunks of up to snapChunkSize records, one per pane
// (window panes, spilled panes and sliding-window slices alike), the last chunk marked End. Chunks are encoded as
// they fill, so a checkpoint needs memory for the encoded state (about 20 bytes per entry) plus one chunk, not for
// a second copy of the state in Go values, and spilled state is streamed from disk rather than read back.

const snapChunkSize = 1024

type snapChunk[K comparable, A any] struct {
	End     bool
	Records []snapRecord[K, A]
}

type snapHeader struct {
	WM, Prev pipeline.Time
}

type snapRecord[K comparable, A any] struct {
	Slice    bool // a sliding-window slice entry: W is the slice, P.K and P.Acc its key and accumulator
	W        pipeline.Window
	WmPassed bool
	P        paneSnap[K, A]
}

// Snapshot writes the consumer's state.
func (c *consumer[K, V, A, O]) Snapshot(w io.Writer) error {
	enc := gob.NewEncoder(w)
	fail := func(err error) error { return fmt.Errorf("%s: snapshot: %w", c.op.name, err) }
	if err := enc.Encode(snapHeader{WM: c.wm, Prev: c.prev}); err != nil {
		return fail(err)
	}
	chunk := snapChunk[K, A]{Records: make([]snapRecord[K, A], 0, snapChunkSize)}
	add := func(r snapRecord[K, A]) error {
		chunk.Records = append(chunk.Records, r)
		if len(chunk.Records) < snapChunkSize {
			return nil
		}
		err := enc.Encode(&chunk)
		clear(chunk.Records)
		chunk.Records = chunk.Records[:0]
		return err
	}
	for _, g := range c.wins {
		if g.dead || len(g.keys) == 0 {
			continue
		}
		for k, p := range g.keys {
			if err := add(snapRecord[K, A]{W: g.w, WmPassed: g.wmPassed, P: paneSnap[K, A]{K: k, Acc: p.acc, Fresh: p.fresh,
				Idx: p.idx, NonSpec: p.nonSpec, OnTimeDone: p.onTimeDone, Closed: p.closed, Trig: p.trig}}); err != nil {
				return fail(err)
			}
		}
	}
	if err := c.scanSpilled(func(w pipeline.Window, k K, p *pane[A]) error {
		return add(snapRecord[K, A]{W: w, WmPassed: c.wins[w] != nil && c.wins[w].wmPassed, P: paneSnap[K, A]{K: k,
			Acc: p.acc, Fresh: p.fresh, Idx: p.idx, NonSpec: p.nonSpec, OnTimeDone: p.onTimeDone, Closed: p.closed}})
	}); err != nil {
		return fmt.Errorf("%s: snapshot spilled state: %w", c.op.name, err)
	}
	if c.sl != nil {
		for _, g := range c.sl.slices {
			for k, a := range g.keys {
				if err := add(snapRecord[K, A]{Slice: true, W: g.w, P: paneSnap[K, A]{K: k, Acc: *a}}); err != nil {
					return fail(err)
				}
			}
		}
	}
	chunk.End = true
	if err := enc.Encode(&chunk); err != nil {
		return fail(err)
	}
	return nil
}

// Restore distributes the checkpointed state over the current consumers.
func (ex *exchange[K, V, A, O]) Restore(snaps []io.Reader) error {
	if len(ex.cons) != ex.n {
		return fmt.Errorf("%s: restore before every worker was instantiated", ex.op.name)
	}
	owner := func(k K) *consumer[K, V, A, O] {
		if ex.n == 1 {
			return ex.cons[0]
		}
		return ex.cons[hashOf(k)%uint64(ex.n)]
	}
	for i, r := range snaps {
		dec := gob.NewDecoder(r)
		var h snapHeader
		if err := dec.Decode(&h); err != nil {
			return fmt.Errorf("%s: restore snapshot %d: %w", ex.op.name, i, err)
		}
		for _, c := range ex.cons {
			c.wm, c.prev, c.prod.wm = h.WM, h.Prev, h.WM
		}
		for {
			var chunk snapChunk[K, A]
			if err := dec.Decode(&chunk); err != nil {
				return fmt.Errorf("%s: restore snapshot %d: %w", ex.op.name, i, err)
			}
			for _, rec := range chunk.Records {
				c := owner(rec.P.K)
				if rec.Slice {
					c.sl.restore(c, rec.W, rec.P.K, rec.P.Acc)
					continue
				}
				c.restorePane(rec.W, rec.WmPassed, rec.P)
			}
			if chunk.End {
				break
			}
		}
	}
	return nil
}

func (c *consumer[K, V, A, O]) restorePane(w pipeline.Window, wmPassed bool, ps paneSnap[K, A]) {
	g := c.group(w)
	g.wmPassed = g.wmPassed || wmPassed
	if old := g.keys[ps.K]; old != nil { // the same pane was both in memory and spilled
		old.acc = c.op.agg.Merge(ps.Acc, old.acc)
		old.fresh += ps.Fresh
		old.idx, old.nonSpec = max(old.idx, ps.Idx), max(old.nonSpec, ps.NonSpec)
		old.onTimeDone = old.onTimeDone || ps.OnTimeDone
		return
	}
	p := &pane[A]{acc: ps.Acc, fresh: ps.Fresh, idx: ps.Idx, nonSpec: ps.NonSpec, onTimeDone: ps.OnTimeDone,
		closed: ps.Closed, trig: ps.Trig}
	if c.op.trig != nil && p.trig == nil {
		p.trig = newTState(c.op.trig)
	}
	g.keys[ps.K] = p
	if p.trig != nil && !p.trig.nextDeadline().IsZero() {
		p.timed = true
		c.timed = append(c.timed, timedRef[K, A]{g: g, k: ps.K})
	}
	if c.sess != nil {
		c.sess[ps.K] = append(c.sess[ps.K], w)
	}
}

func (s *sliceState[K, A]) restore(c sliceHost[K, A], slice pipeline.Window, k K, a A) {
	g := s.group(c, slice)
	v := a
	g.keys[k] = &v
}

type stateEntrySnap[K comparable] struct {
	K      K
	W      pipeline.Window
	Cells  map[string]any
	Timers map[string]TimerSpec
}

type stateSnap[K comparable] struct {
	WM      pipeline.Time
	Entries []stateEntrySnap[K]
}

// Snapshot writes the stateful DoFn's state and timers.
func (c *stateConsumer[K, V, Out]) Snapshot(w io.Writer) error {
	s := stateSnap[K]{WM: c.wm, Entries: make([]stateEntrySnap[K], 0, len(c.keys))}
	for k, ks := range c.keys {
		s.Entries = append(s.Entries, stateEntrySnap[K]{K: k.k, W: k.w, Cells: ks.cells, Timers: ks.timers})
	}
	if err := gob.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("%s: snapshot (state cells must hold gob-encodable values): %w", c.op.name, err)
	}
	return nil
}

// Restore distributes the checkpointed state over the current consumers.
func (ex *stateExchange[K, V, Out]) Restore(snaps []io.Reader) error {
	for i, r := range snaps {
		var s stateSnap[K]
		if err := gob.NewDecoder(r).Decode(&s); err != nil {
			return fmt.Errorf("%s: restore snapshot %d: %w", ex.op.name, i, err)
		}
		for _, c := range ex.cons {
			c.wm = max(c.wm, s.WM)
		}
		for _, e := range s.Entries {
			c := ex.cons[0]
			if ex.n > 1 {
				c = ex.cons[hashOf(e.K)%uint64(ex.n)]
			}
			k := skey[K]{k: e.K, w: e.W}
			ks := c.state(k)
			if e.Cells != nil {
				ks.cells = e.Cells
			}
			ks.timers = e.Timers
			for name, t := range e.Timers {
				if t.Domain == EventTime {
					c.push(&c.event, timerEntry[K]{at: t.T, key: k, name: name})
				} else {
					c.push(&c.proc, timerEntry[K]{pt: t.PT, key: k, name: name})
				}
			}
		}
	}
	return nil
}

var gobRegistered sync.Map

// RegisterGob makes values of T storable in state cells (held as any) in checkpoints.
func RegisterGob[T any]() {
	if _, done := gobRegistered.LoadOrStore((*T)(nil), true); done {
		return
	}
	defer func() { _ = recover() }() // interface types cannot be registered; their dynamic values must be
	gob.Register(*new(T))
}
