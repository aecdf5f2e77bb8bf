package engine

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Spilling a stateful DoFn's state. Past the state budget the consumer moves to its on-disk store:
//
//   - every key's state (cells and timers) to 'K'+window+key;
//   - its timer queues — event time 'T'0+time+seq, processing time 'T'1+time+seq, and the garbage-collection
//     queue 'G'+time+seq — so that timers of keys on disk still fire on time without holding a queue in memory.
//
// A key's state comes back when an element or a timer arrives for it. Due timers come back at every Advance, in
// time order, before the in-memory queues fire.

const (
	stateKey    = 'K'
	stateTimer  = 'T'
	stateGCTime = 'G'
)

type stateSpill[K comparable] struct {
	store  exec.SpillStore
	kc     coder.Coder[K]
	keys   bool // some key state may be on disk
	timers bool // some timers may be on disk
	keyb   []byte
	valb   []byte
}

type spilledKeyState struct {
	Cells  map[string]any
	Timers map[string]TimerSpec
}

// encodeKeyState encodes a key's state for the spill store: its cells (encoded on their own, cellEnc) and timers.
func encodeKeyState(b []byte, cells map[string]any, timers map[string]TimerSpec) ([]byte, error) {
	var ce cellEnc
	b, err := ce.appendCells(b, cells)
	if err != nil {
		return b, err
	}
	return appendTimers(b, timers), nil
}

func decodeKeyState(b []byte) (spilledKeyState, error) {
	d := &dec{b: b}
	var cd cellDec
	cells, err := cd.cells(d)
	if err != nil {
		return spilledKeyState{}, err
	}
	timers := d.timers()
	if d.err == nil && d.i != len(b) {
		d.fail("bytes left over")
	}
	return spilledKeyState{Cells: cells, Timers: timers}, d.err
}

func (c *stateConsumer[K, V, Out]) openSpill() error {
	if c.sp != nil {
		return nil
	}
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return fmt.Errorf("%s: its state cannot go to disk: %w", c.op.name, err)
	}
	st, err := c.w.NewSpill(c.op.name)
	if err != nil {
		return err
	}
	c.sp = &stateSpill[K]{store: st, kc: kc}
	return nil
}

func (c *stateConsumer[K, V, Out]) keyKey(k skey[K]) ([]byte, error) {
	b := windowPrefix(append(c.sp.keyb[:0], stateKey), k.w)
	b, err := c.sp.kc.Append(b, k.k)
	c.sp.keyb = b
	return bytes.Clone(b), err
}

// encodeRef encodes a key and window (timer and gc entries' values), followed by a timer name.
func (c *stateConsumer[K, V, Out]) encodeRef(k skey[K], name string) ([]byte, error) {
	b := windowPrefix(nil, k.w)
	kb, err := c.sp.kc.Append(nil, k.k)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(kb)))
	b = append(b, kb...)
	return append(b, name...), nil
}

func (c *stateConsumer[K, V, Out]) decodeRef(b []byte) (skey[K], string, error) {
	if len(b) < 16 {
		return skey[K]{}, "", fmt.Errorf("%s: corrupt spilled timer", c.op.name)
	}
	w := decodeWindow(b)
	b = b[16:]
	n, h := binary.Uvarint(b)
	if h <= 0 || uint64(len(b)-h) < n {
		return skey[K]{}, "", fmt.Errorf("%s: corrupt spilled timer", c.op.name)
	}
	k, err := c.sp.kc.Decode(b[h : h+int(n)])
	if err != nil {
		return skey[K]{}, "", fmt.Errorf("%s: spilled timer key: %w", c.op.name, err)
	}
	return skey[K]{k: k, w: w}, string(b[h+int(n):]), nil
}

func timerKey(kind byte, domain TimeDomain, at int64, seq uint64) []byte {
	b := []byte{kind}
	if kind == stateTimer {
		b = append(b, byte(domain))
	}
	b = appendTime(b, pipeline.Time(at))
	return binary.BigEndian.AppendUint64(b, seq)
}

// Spill moves every key's state and the timer queues to disk.
func (c *stateConsumer[K, V, Out]) Spill() (int, error) {
	if c.w.NewSpill == nil {
		return 0, nil
	}
	if err := c.openSpill(); err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) { return 0, fmt.Errorf("%s: spill: %w", c.op.name, err) }
	n := 0
	for k, ks := range c.keys {
		key, err := c.keyKey(k)
		if err != nil {
			return fail(err)
		}
		var err2 error
		c.sp.valb, err2 = encodeKeyState(c.sp.valb[:0], ks.cells, ks.timers)
		if err2 != nil {
			return fail(fmt.Errorf("key %s: %w", Short(k.k), err2))
		}
		if err := c.sp.store.Set(key, c.sp.valb); err != nil {
			return fail(err)
		}
		if ks.ck {
			c.noteSpilledChange(k)
		}
		n++
	}
	if len(c.keys) > 0 {
		c.sp.keys = true
		c.keys = map[skey[K]]*keyState{}
	}
	for _, q := range []struct {
		h      *timerHeap[K]
		kind   byte
		domain TimeDomain
	}{{&c.event, stateTimer, EventTime}, {&c.proc, stateTimer, ProcessingTime}, {&c.gc, stateGCTime, 0}} {
		for _, te := range q.h.items {
			at := int64(te.at)
			if q.domain == ProcessingTime {
				at = te.pt.UnixNano()
			}
			v, err := c.encodeRef(te.key, te.name)
			if err != nil {
				return fail(err)
			}
			if err := c.sp.store.Set(timerKey(q.kind, q.domain, at, te.seq), v); err != nil {
				return fail(err)
			}
			n++
		}
		if q.h.Len() > 0 {
			c.sp.timers = true
			q.h.items = nil
		}
	}
	if err := c.sp.store.Commit(); err != nil {
		return fail(err)
	}
	return n, nil
}

// load brings key k's state back from disk, or returns nil when it has none there.
func (c *stateConsumer[K, V, Out]) load(k skey[K]) (*keyState, error) {
	if c.sp == nil || !c.sp.keys {
		return nil, nil
	}
	key, err := c.keyKey(k)
	if err != nil {
		return nil, err
	}
	v, ok, err := c.sp.store.Get(key)
	if err != nil || !ok {
		return nil, err
	}
	s, err := decodeKeyState(v)
	if err != nil {
		return nil, fmt.Errorf("%s: spilled state of key %s: %w", c.op.name, Short(k.k), err)
	}
	if err := c.sp.store.Delete(key); err != nil {
		return nil, err
	}
	ks := &keyState{cells: s.Cells, timers: s.Timers}
	if ks.cells == nil {
		ks.cells = map[string]any{}
	}
	c.keys[k] = ks
	if c.spilledChanged[k] {
		delete(c.spilledChanged, k)
		c.mark(k, ks)
	}
	return ks, nil
}

// peek returns key k's state on disk without loading it (for snapshots).
func (c *stateConsumer[K, V, Out]) peek(k skey[K]) (*spilledKeyState, error) {
	if c.sp == nil || !c.sp.keys {
		return nil, nil
	}
	key, err := c.keyKey(k)
	if err != nil {
		return nil, err
	}
	v, ok, err := c.sp.store.Get(key)
	if err != nil || !ok {
		return nil, err
	}
	s, err := decodeKeyState(v)
	if err != nil {
		return nil, fmt.Errorf("%s: spilled state of key %s: %w", c.op.name, Short(k.k), err)
	}
	return &s, nil
}

// noteSpilledChange remembers that k's state changed since the last snapshot and went to disk.
func (c *stateConsumer[K, V, Out]) noteSpilledChange(k skey[K]) {
	if !c.w.TrackChanges || c.ckOverflow {
		return
	}
	if c.spilledChanged == nil {
		c.spilledChanged = map[skey[K]]bool{}
	}
	c.spilledChanged[k] = true
}

// loadDueTimers moves the timers on disk that are due (event time ≤ wm, processing time ≤ now, gc ≤ wm) back to
// the in-memory queues.
func (c *stateConsumer[K, V, Out]) loadDueTimers(wm pipeline.Time, now time.Time) error {
	if c.sp == nil || !c.sp.timers {
		return nil
	}
	for _, q := range []struct {
		h      *timerHeap[K]
		kind   byte
		domain TimeDomain
		upto   int64
	}{{&c.event, stateTimer, EventTime, int64(wm)}, {&c.proc, stateTimer, ProcessingTime, now.UnixNano()},
		{&c.gc, stateGCTime, 0, int64(wm)}} {
		if q.domain != ProcessingTime && wm == pipeline.MinTime {
			continue
		}
		lower := []byte{q.kind}
		if q.kind == stateTimer {
			lower = append(lower, byte(q.domain))
		}
		upper := prefixEnd(appendTime(bytes.Clone(lower), pipeline.Time(q.upto)))
		var done [][]byte
		if err := c.sp.store.ScanRange(lower, upper, func(key, val []byte) error {
			k, name, err := c.decodeRef(val)
			if err != nil {
				return err
			}
			at := readTime(key[len(lower):])
			te := timerEntry[K]{key: k, name: name, at: at}
			if q.domain == ProcessingTime {
				te = timerEntry[K]{key: k, name: name, pt: time.Unix(0, int64(at))}
			}
			c.push(q.h, te)
			done = append(done, bytes.Clone(key))
			return nil
		}); err != nil {
			return fmt.Errorf("%s: spilled timers: %w", c.op.name, err)
		}
		for _, key := range done {
			if err := c.sp.store.Delete(key); err != nil {
				return err
			}
		}
	}
	heap.Init(&c.event)
	heap.Init(&c.proc)
	heap.Init(&c.gc)
	return nil
}

// dropSpilled removes key k's state from disk.
func (c *stateConsumer[K, V, Out]) dropSpilled(k skey[K]) error {
	if c.sp == nil || !c.sp.keys {
		return nil
	}
	key, err := c.keyKey(k)
	if err != nil {
		return err
	}
	return c.sp.store.Delete(key)
}

// scanSpilled calls fn for every key state on disk (for snapshots).
func (c *stateConsumer[K, V, Out]) scanSpilled(fn func(k skey[K], s spilledKeyState) error) error {
	if c.sp == nil || !c.sp.keys {
		return nil
	}
	return c.sp.store.Scan([]byte{stateKey}, func(key, val []byte) error {
		w := decodeWindow(key[1:])
		k, err := c.sp.kc.Decode(key[17:])
		if err != nil {
			return err
		}
		s, err := decodeKeyState(val)
		if err != nil {
			return fmt.Errorf("%s: spilled state of key %s: %w", c.op.name, Short(k), err)
		}
		return fn(skey[K]{k: k, w: w}, s)
	})
}
