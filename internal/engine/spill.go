package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Spilling. When the runner finds the heap over its state budget, every reduction moves its in-memory state to
// an on-disk store (one Pebble database per consumer), so memory holds only what arrived since. The store is a
// cache extension, not a source of truth of its own: checkpoints (snapshot.go) write the logical state, memory
// and store merged.
//
//   - Windows (any non-merging window fn, any trigger): a pane goes to 'P'+window+key. New data for a spilled
//     window starts a fresh pane in memory (no read); the two are merged when the key's trigger is evaluated
//     (keys with new data, processing-time deadlines) and when the window fires. A window fires by streaming its
//     spilled panes from the store — merged with their in-memory parts — so firing a window needs memory for its
//     in-memory part only, however many keys it has (W1-totals' one global window with 6e7 keys).
//   - Sessions: a key's sessions go whole to 'S'+key, with an index entry 'I'+due+key per session (due: the end
//     of the session, or end + allowed lateness once its on-time pane fired). A key comes back into memory when
//     data arrives for it, when the watermark reaches an index entry, or when a processing-time deadline of its
//     trigger is due.
//   - Sliding-window slices: a slice's accumulators go to 'L'+slice+key; a window's slices come back into memory
//     when it fires (so firing needs memory for one window's keys).
//
// Spilling writes sorted runs: panes of a window already partly spilled are merged with their spilled parts found
// by one forward-seeking iterator over sorted keys, not by random reads.

const (
	spillPane    = 'P'
	spillSession = 'S'
	spillIndex   = 'I'
	spillSlice   = 'L'
)

type spillState[K comparable, A any] struct {
	store exec.SpillStore
	kc    coder.Coder[K]
	ac    coder.Coder[A]
	buf   []byte
	keyb  []byte
	// sessions: how many keys are in the store, and the processing-time deadlines of their triggers
	sessions int
	sessDue  map[K]time.Time
}

func (c *consumer[K, V, A, O]) openSpill() error {
	if c.sp != nil {
		return nil
	}
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return fmt.Errorf("%s: its state cannot go to disk: %w", c.op.name, err)
	}
	ac, err := coder.Of[A]()
	if err != nil {
		return fmt.Errorf("%s: its state cannot go to disk: %w", c.op.name, err)
	}
	st, err := c.w.NewSpill(c.op.name)
	if err != nil {
		return err
	}
	c.sp = &spillState[K, A]{store: st, kc: kc, ac: ac}
	return nil
}

func appendTime(dst []byte, t pipeline.Time) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t)^(1<<63))
}

func readTime(b []byte) pipeline.Time {
	return pipeline.Time(binary.BigEndian.Uint64(b[:8]) ^ (1 << 63))
}

func windowPrefix(dst []byte, w pipeline.Window) []byte {
	return appendTime(appendTime(dst, w.End), w.Start) // order by end, then start
}

func decodeWindow(b []byte) pipeline.Window {
	return pipeline.Window{End: readTime(b), Start: readTime(b[8:])}
}

// Spill moves the in-memory state to disk and returns how many entries it moved.
func (c *consumer[K, V, A, O]) Spill() (int, error) {
	if c.w.NewSpill == nil {
		return 0, nil
	}
	if err := c.openSpill(); err != nil {
		return 0, err
	}
	var n int
	var err error
	if c.op.mode == modeSessions {
		n, err = c.spillSessions()
	} else {
		n, err = c.spillWindows()
		if err == nil && c.sl != nil {
			var m int
			m, err = c.spillSlices()
			n += m
		}
	}
	if err == nil {
		err = c.sp.store.Commit()
	}
	if err != nil {
		return n, fmt.Errorf("%s: spill: %w", c.op.name, err)
	}
	c.last = nil
	return n, nil
}

type spillEntry[K comparable, A any] struct {
	key []byte
	k   K
	p   *pane[A]
}

// spillChunk is how many panes spillWindows encodes at a time: their keys are built in one arena, sorted and looked
// up in the store together. A bounded chunk keeps that transient memory small (a window of millions of keys would
// otherwise need an arena and an entry slice as large as the state being spilled, on top of it).
const spillChunk = 4096

func (c *consumer[K, V, A, O]) spillWindows() (int, error) {
	n := 0
	entries := make([]spillEntry[K, A], 0, spillChunk)
	var arena []byte // the keys of one chunk's entries, end to end (a key keeps the array it was appended to)
	var keys [][]byte
	flush := func(g *wgroup[K, A]) error {
		if g.spilled { // fold in what an earlier spill left
			slices.SortFunc(entries, func(a, b spillEntry[K, A]) int { return bytes.Compare(a.key, b.key) })
			keys = keys[:0]
			for i := range entries {
				keys = append(keys, entries[i].key)
			}
			if err := c.sp.store.MultiGet(keys, func(i int, v []byte) error {
				old, err := c.decodePane(v)
				if err != nil {
					return err
				}
				c.mergePane(entries[i].p, old)
				return nil
			}); err != nil {
				return err
			}
			clear(keys)
		}
		for _, e := range entries {
			val, err := c.encodePaneTo(c.sp.buf[:0], e.p)
			c.sp.buf = val
			if err != nil {
				return err
			}
			if err := c.sp.store.Set(e.key, val); err != nil { // Set copies key and value into its batch
				return err
			}
			n++
		}
		clear(entries)
		entries, arena = entries[:0], arena[:0]
		return nil
	}
	for _, g := range c.wins {
		if g.dead || len(g.keys) == 0 {
			continue
		}
		for k, p := range g.keys {
			start := len(arena)
			arena = windowPrefix(append(arena, spillPane), g.w)
			var err error
			if arena, err = c.sp.kc.Append(arena, k); err != nil {
				return n, err
			}
			entries = append(entries, spillEntry[K, A]{key: arena[start:len(arena):len(arena)], k: k, p: p})
			if len(entries) == spillChunk {
				if err := flush(g); err != nil {
					return n, err
				}
			}
		}
		if err := flush(g); err != nil {
			return n, err
		}
		g.keys = map[K]*pane[A]{}
		g.spilled = true
	}
	return n, nil
}

func (c *consumer[K, V, A, O]) paneKey(w pipeline.Window, k K) ([]byte, error) {
	b := windowPrefix(append(c.sp.keyb[:0], spillPane), w)
	b, err := c.sp.kc.Append(b, k)
	c.sp.keyb = b
	return bytes.Clone(b), err
}

func windowKeyPrefix(w pipeline.Window) []byte { return windowPrefix([]byte{spillPane}, w) }

// Pane encoding: fresh, idx, nonSpec (varints), flags (1 on time done, 2 closed, 4 trigger state follows), the
// trigger state, the accumulator.
func (c *consumer[K, V, A, O]) encodePane(p *pane[A]) ([]byte, error) {
	b, err := c.encodePaneTo(c.sp.buf[:0], p)
	c.sp.buf = b
	return bytes.Clone(b), err
}

// encodePaneTo appends p's encoding to b.
func (c *consumer[K, V, A, O]) encodePaneTo(b []byte, p *pane[A]) ([]byte, error) {
	b = binary.AppendVarint(b, p.fresh)
	b = binary.AppendVarint(b, p.idx)
	b = binary.AppendVarint(b, p.nonSpec)
	var flags byte
	if p.onTimeDone {
		flags |= 1
	}
	if p.closed {
		flags |= 2
	}
	if p.trig != nil {
		flags |= 4
	}
	b = append(b, flags)
	if p.trig != nil {
		b = p.trig.appendTo(b)
	}
	return c.sp.ac.Append(b, p.acc)
}

func (c *consumer[K, V, A, O]) decodePane(b []byte) (*pane[A], error) {
	p := &pane[A]{}
	corrupt := fmt.Errorf("%s: corrupt spilled pane", c.op.name)
	var n int
	if p.fresh, n = binary.Varint(b); n <= 0 {
		return nil, corrupt
	}
	b = b[n:]
	if p.idx, n = binary.Varint(b); n <= 0 {
		return nil, corrupt
	}
	b = b[n:]
	if p.nonSpec, n = binary.Varint(b); n <= 0 || len(b) <= n {
		return nil, corrupt
	}
	b = b[n:]
	flags := b[0]
	b = b[1:]
	p.onTimeDone, p.closed = flags&1 != 0, flags&2 != 0
	if flags&4 != 0 {
		var err error
		if p.trig, b, err = readTState(b); err != nil {
			return nil, fmt.Errorf("%s: spilled trigger state: %w", c.op.name, err)
		}
	} else if c.op.trig != nil {
		p.trig = newTState(c.op.trig)
	}
	acc, err := c.sp.ac.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: spilled pane: %w", c.op.name, err)
	}
	p.acc = acc
	return p, nil
}

func (c *consumer[K, V, A, O]) getSpilled(w pipeline.Window, k K) (*pane[A], bool, error) {
	key, err := c.paneKey(w, k)
	if err != nil {
		return nil, false, err
	}
	v, ok, err := c.sp.store.Get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	p, err := c.decodePane(v)
	return p, err == nil, err
}

// mergePane folds src, the older part of a pane (spilled), into dst, its newer part.
func (c *consumer[K, V, A, O]) mergePane(dst, src *pane[A]) {
	dst.acc = c.op.agg.Merge(src.acc, dst.acc)
	dst.fresh += src.fresh
	dst.idx = max(dst.idx, src.idx)
	dst.nonSpec = max(dst.nonSpec, src.nonSpec)
	dst.onTimeDone = dst.onTimeDone || src.onTimeDone
	dst.closed = dst.closed || src.closed
	switch {
	case src.trig == nil:
	case dst.trig == nil:
		dst.trig = src.trig
	default:
		dst.trig = mergeSequential(src.trig, dst.trig)
	}
}

// unspillKey brings one key's spilled pane of g back into memory.
func (c *consumer[K, V, A, O]) unspillKey(g *wgroup[K, A], k K) error {
	if !g.spilled || c.sp == nil {
		return nil
	}
	old, ok, err := c.getSpilled(g.w, k)
	if err != nil || !ok {
		return err
	}
	if cur := g.keys[k]; cur != nil {
		c.mergePane(cur, old)
	} else {
		g.keys[k] = old
	}
	key, err := c.paneKey(g.w, k)
	if err != nil {
		return err
	}
	return c.sp.store.Delete(key)
}

// unspillKeys brings the spilled parts of keys of g back into memory, looking them up with one iterator over the
// sorted keys.
func (c *consumer[K, V, A, O]) unspillKeys(g *wgroup[K, A], keys []K) error {
	if !g.spilled || c.sp == nil || len(keys) == 0 {
		return nil
	}
	if len(keys) == 1 {
		return c.unspillKey(g, keys[0])
	}
	type ref struct {
		key []byte
		k   K
	}
	refs := make([]ref, 0, len(keys))
	var arena []byte
	for _, k := range keys {
		start := len(arena)
		arena = windowPrefix(append(arena, spillPane), g.w)
		var err error
		if arena, err = c.sp.kc.Append(arena, k); err != nil {
			return err
		}
		refs = append(refs, ref{key: arena[start:len(arena):len(arena)], k: k})
	}
	slices.SortFunc(refs, func(a, b ref) int { return bytes.Compare(a.key, b.key) })
	refs = slices.CompactFunc(refs, func(a, b ref) bool { return bytes.Equal(a.key, b.key) })
	sorted := make([][]byte, len(refs))
	for i := range refs {
		sorted[i] = refs[i].key
	}
	var found []int
	if err := c.sp.store.MultiGet(sorted, func(i int, v []byte) error {
		old, err := c.decodePane(v)
		if err != nil {
			return err
		}
		if cur := g.keys[refs[i].k]; cur != nil {
			c.mergePane(cur, old)
		} else {
			g.keys[refs[i].k] = old
		}
		found = append(found, i)
		return nil
	}); err != nil {
		return err
	}
	for _, i := range found {
		if err := c.sp.store.Delete(sorted[i]); err != nil {
			return err
		}
	}
	return nil
}

// unspillDue brings back, per window and in one sorted pass each, the spilled panes whose processing-time deadline
// is due.
func (c *consumer[K, V, A, O]) unspillDue(now time.Time) error {
	if c.sp == nil {
		return nil
	}
	var due map[*wgroup[K, A]][]K
	for _, r := range c.timed {
		if r.g.dead || !r.g.spilled || r.due.IsZero() || now.Before(r.due) || r.g.keys[r.k] != nil {
			continue
		}
		if due == nil {
			due = map[*wgroup[K, A]][]K{}
		}
		due[r.g] = append(due[r.g], r.k)
	}
	for g, keys := range due {
		if err := c.unspillKeys(g, keys); err != nil {
			return err
		}
	}
	return nil
}

// fireSpilled streams the spilled panes of g, whose end the watermark has passed: each is merged with its
// in-memory part, evaluated (and, when the window has expired, fired a last time). Panes of a window that lives
// on are written back; an expired window's are deleted. The in-memory keys left are those with no spilled part.
func (c *consumer[K, V, A, O]) fireSpilled(g *wgroup[K, A], expired bool) error {
	if !g.spilled || c.sp == nil {
		return nil
	}
	prefix := windowKeyPrefix(g.w)
	err := c.sp.store.Scan(prefix, func(key, val []byte) error {
		k, err := c.sp.kc.Decode(key[len(prefix):])
		if err != nil {
			return fmt.Errorf("%s: spilled key: %w", c.op.name, err)
		}
		p, err := c.decodePane(val)
		if err != nil {
			return err
		}
		if cur := g.keys[k]; cur != nil {
			c.mergePane(cur, p)
			p = cur
			delete(g.keys, k)
		}
		if err := c.evaluate(g, k, p); err != nil {
			return err
		}
		if expired {
			if p.fresh > 0 && !p.closed {
				return c.fire(g, k, p, true)
			}
			return nil
		}
		// The window lives on (allowed lateness): the pane goes back to the store. (The iterator reads a snapshot
		// of the store, so writing while scanning is safe.)
		if p.trig != nil {
			if d := p.trig.nextDeadline(); !d.IsZero() {
				c.timed = append(c.timed, timedRef[K, A]{g: g, k: k, due: d})
			}
		}
		v, err := c.encodePane(p)
		if err != nil {
			return err
		}
		return c.sp.store.Set(bytes.Clone(key), v)
	})
	if err != nil {
		return err
	}
	if expired {
		g.spilled = false
		return c.sp.store.DeletePrefix(prefix)
	}
	return nil
}

// scanSpilled calls fn for every spilled pane of a non-merging window (for snapshots).
func (c *consumer[K, V, A, O]) scanSpilled(fn func(w pipeline.Window, k K, p *pane[A]) error) error {
	if c.sp == nil {
		return nil
	}
	return c.sp.store.Scan([]byte{spillPane}, func(key, val []byte) error {
		w := decodeWindow(key[1:])
		k, err := c.sp.kc.Decode(key[17:])
		if err != nil {
			return err
		}
		p, err := c.decodePane(val)
		if err != nil {
			return err
		}
		return fn(w, k, p)
	})
}

// Sessions.

func (c *consumer[K, V, A, O]) sessionKey(kind byte, due pipeline.Time, k K) ([]byte, error) {
	b := append(c.sp.keyb[:0], kind)
	if kind == spillIndex {
		b = appendTime(b, due)
	}
	b, err := c.sp.kc.Append(b, k)
	c.sp.keyb = b
	return bytes.Clone(b), err
}

// sessionDue is when a spilled session must come back: at its end for the on-time firing, else when it expires.
func (c *consumer[K, V, A, O]) sessionDue(w pipeline.Window, wmPassed bool) pipeline.Time {
	if wmPassed {
		return w.End.Add(c.op.lateness())
	}
	return w.End
}

type spilledSession[A any] struct {
	w        pipeline.Window
	wmPassed bool
	p        *pane[A]
}

// spillSessions moves every key's sessions to the store.
func (c *consumer[K, V, A, O]) spillSessions() (int, error) {
	n := 0
	for k, wins := range c.sess {
		var list []spilledSession[A]
		for _, w := range wins {
			g := c.wins[w]
			if g == nil || g.keys[k] == nil {
				continue
			}
			p := g.keys[k]
			if p.ck {
				c.noteSpilledChange(k)
			}
			list = append(list, spilledSession[A]{w: w, wmPassed: g.wmPassed, p: p})
			delete(g.keys, k)
			if len(g.keys) == 0 {
				g.dead = true
				delete(c.wins, w)
			}
		}
		delete(c.sess, k)
		if len(list) == 0 {
			continue
		}
		val, due, err := c.encodeSessions(list)
		if err != nil {
			return n, err
		}
		key, err := c.sessionKey(spillSession, 0, k)
		if err != nil {
			return n, err
		}
		if err := c.sp.store.Set(key, val); err != nil {
			return n, err
		}
		for _, d := range due {
			ik, err := c.sessionKey(spillIndex, d, k)
			if err != nil {
				return n, err
			}
			if err := c.sp.store.Set(ik, nil); err != nil {
				return n, err
			}
		}
		for _, s := range list {
			if s.p.trig != nil {
				if d := s.p.trig.nextDeadline(); !d.IsZero() {
					if c.sp.sessDue == nil {
						c.sp.sessDue = map[K]time.Time{}
					}
					if cur, ok := c.sp.sessDue[k]; !ok || d.Before(cur) {
						c.sp.sessDue[k] = d
					}
				}
			}
		}
		c.sp.sessions++
		n += len(list)
	}
	return n, nil
}

// encodeSessions encodes a key's sessions (count, then per session: window, wmPassed, pane length and pane) and
// returns their due times.
func (c *consumer[K, V, A, O]) encodeSessions(list []spilledSession[A]) ([]byte, []pipeline.Time, error) {
	var b []byte
	var due []pipeline.Time
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, s := range list {
		b = windowPrefix(b, s.w)
		if s.wmPassed {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		pb, err := c.encodePane(s.p)
		if err != nil {
			return nil, nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(pb)))
		b = append(b, pb...)
		due = append(due, c.sessionDue(s.w, s.wmPassed))
	}
	return b, due, nil
}

func (c *consumer[K, V, A, O]) decodeSessions(b []byte) ([]spilledSession[A], error) {
	corrupt := fmt.Errorf("%s: corrupt spilled sessions", c.op.name)
	n, h := binary.Uvarint(b)
	if h <= 0 {
		return nil, corrupt
	}
	b = b[h:]
	out := make([]spilledSession[A], 0, n)
	for range n {
		if len(b) < 17 {
			return nil, corrupt
		}
		s := spilledSession[A]{w: decodeWindow(b), wmPassed: b[16] == 1}
		b = b[17:]
		l, h := binary.Uvarint(b)
		if h <= 0 || uint64(len(b)-h) < l {
			return nil, corrupt
		}
		p, err := c.decodePane(b[h : h+int(l)])
		if err != nil {
			return nil, err
		}
		s.p = p
		b = b[h+int(l):]
		out = append(out, s)
	}
	return out, nil
}

// loadSessions brings key k's spilled sessions back into memory, if it has any, and returns them.
func (c *consumer[K, V, A, O]) loadSessions(k K) ([]spilledSession[A], error) {
	if c.sp == nil || c.sp.sessions == 0 {
		return nil, nil
	}
	key, err := c.sessionKey(spillSession, 0, k)
	if err != nil {
		return nil, err
	}
	v, ok, err := c.sp.store.Get(key)
	if err != nil || !ok {
		return nil, err
	}
	list, err := c.decodeSessions(v)
	if err != nil {
		return nil, err
	}
	if err := c.sp.store.Delete(key); err != nil {
		return nil, err
	}
	for _, s := range list {
		ik, err := c.sessionKey(spillIndex, c.sessionDue(s.w, s.wmPassed), k)
		if err != nil {
			return nil, err
		}
		if err := c.sp.store.Delete(ik); err != nil {
			return nil, err
		}
		g := c.group(s.w)
		g.wmPassed = g.wmPassed || s.wmPassed
		g.keys[k] = s.p
		c.sess[k] = append(c.sess[k], s.w)
		if s.p.trig != nil {
			if d := s.p.trig.nextDeadline(); !d.IsZero() {
				s.p.timed = true
				c.timed = append(c.timed, timedRef[K, A]{g: g, k: k, due: d})
			}
		}
	}
	c.sp.sessions--
	delete(c.sp.sessDue, k)
	return list, nil
}

// loadDueSessions brings back the spilled sessions whose due time the watermark has reached, and fires the
// on-time panes of those whose end it passed while they were on disk.
func (c *consumer[K, V, A, O]) loadDueSessions(wm pipeline.Time) error {
	if c.sp == nil || c.sp.sessions == 0 || wm == pipeline.MinTime {
		return nil
	}
	var due [][]byte // every index entry with a due time ≤ wm
	if err := c.sp.store.ScanRange([]byte{spillIndex}, prefixEnd(appendTime([]byte{spillIndex}, wm)), func(key, _ []byte) error {
		due = append(due, bytes.Clone(key[9:]))
		return nil
	}); err != nil {
		return err
	}
	for _, kb := range due {
		k, err := c.sp.kc.Decode(kb)
		if err != nil {
			return fmt.Errorf("%s: spilled session key: %w", c.op.name, err)
		}
		list, err := c.loadSessions(k)
		if err != nil {
			return err
		}
		for _, s := range list {
			if !s.wmPassed && s.w.End <= wm {
				if err := c.evaluate(c.wins[s.w], k, s.p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// loadTimedSessions brings back the spilled session keys whose trigger has a processing-time deadline due.
func (c *consumer[K, V, A, O]) loadTimedSessions(now time.Time) error {
	if c.sp == nil || len(c.sp.sessDue) == 0 {
		return nil
	}
	var due []K
	for k, d := range c.sp.sessDue {
		if !now.Before(d) {
			due = append(due, k)
		}
	}
	for _, k := range due {
		if _, err := c.loadSessions(k); err != nil {
			return err
		}
	}
	return nil
}

// scanSpilledSessions calls fn for every spilled session pane (for snapshots).
func (c *consumer[K, V, A, O]) scanSpilledSessions(fn func(k K, s spilledSession[A]) error) error {
	if c.sp == nil || c.sp.sessions == 0 {
		return nil
	}
	return c.sp.store.Scan([]byte{spillSession}, func(key, val []byte) error {
		k, err := c.sp.kc.Decode(key[1:])
		if err != nil {
			return err
		}
		list, err := c.decodeSessions(val)
		if err != nil {
			return err
		}
		for _, s := range list {
			if err := fn(k, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// spilledSessionsOf returns key k's spilled sessions without loading them (for delta snapshots).
func (c *consumer[K, V, A, O]) spilledSessionsOf(k K) ([]spilledSession[A], error) {
	if c.sp == nil || c.sp.sessions == 0 {
		return nil, nil
	}
	key, err := c.sessionKey(spillSession, 0, k)
	if err != nil {
		return nil, err
	}
	v, ok, err := c.sp.store.Get(key)
	if err != nil || !ok {
		return nil, err
	}
	return c.decodeSessions(v)
}

// noteSpilledChange remembers that key k's sessions changed since the last snapshot and are going to disk.
func (c *consumer[K, V, A, O]) noteSpilledChange(k K) {
	if !c.w.TrackChanges || c.ckOverflow {
		return
	}
	if c.ckSpilledKeys == nil {
		c.ckSpilledKeys = map[K]bool{}
	}
	c.ckSpilledKeys[k] = true
}

// Sliding-window slices.

func (c *consumer[K, V, A, O]) sliceKey(start pipeline.Time, k K) ([]byte, error) {
	b := appendTime(append(c.sp.keyb[:0], spillSlice), start)
	b, err := c.sp.kc.Append(b, k)
	c.sp.keyb = b
	return bytes.Clone(b), err
}

func slicePrefix(start pipeline.Time) []byte { return appendTime([]byte{spillSlice}, start) }

func (c *consumer[K, V, A, O]) spillSlices() (int, error) {
	n := 0
	type entry struct {
		key []byte
		a   *A
	}
	var entries []entry
	for start, g := range c.sl.slices {
		if len(g.keys) == 0 {
			continue
		}
		entries = entries[:0]
		for k, a := range g.keys {
			key, err := c.sliceKey(start, k)
			if err != nil {
				return n, err
			}
			entries = append(entries, entry{key: key, a: a})
		}
		if g.spilled {
			slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
			keys := make([][]byte, len(entries))
			for i := range entries {
				keys[i] = entries[i].key
			}
			if err := c.sp.store.MultiGet(keys, func(i int, v []byte) error {
				old, err := c.sp.ac.Decode(v)
				if err != nil {
					return fmt.Errorf("%s: spilled slice: %w", c.op.name, err)
				}
				*entries[i].a = c.op.agg.Merge(old, *entries[i].a)
				return nil
			}); err != nil {
				return n, err
			}
		}
		for _, e := range entries {
			v, err := c.sp.ac.Append(nil, *e.a)
			if err != nil {
				return n, err
			}
			if err := c.sp.store.Set(e.key, v); err != nil {
				return n, err
			}
			n++
		}
		g.keys = make(map[K]*A, 64)
		g.spilled = true
		if s := c.sl; s.last == g {
			s.last = nil
		}
	}
	return n, nil
}

// loadSlice brings slice g's spilled accumulators back into memory.
func (c *consumer[K, V, A, O]) loadSlice(g *sgroup[K, A]) error {
	if !g.spilled || c.sp == nil {
		return nil
	}
	prefix := slicePrefix(g.w.Start)
	err := c.sp.store.Scan(prefix, func(key, val []byte) error {
		k, err := c.sp.kc.Decode(key[len(prefix):])
		if err != nil {
			return fmt.Errorf("%s: spilled slice key: %w", c.op.name, err)
		}
		a, err := c.sp.ac.Decode(val)
		if err != nil {
			return fmt.Errorf("%s: spilled slice: %w", c.op.name, err)
		}
		if cur := g.keys[k]; cur != nil {
			*cur = c.op.agg.Merge(a, *cur)
		} else {
			g.keys[k] = &a
		}
		return nil
	})
	if err != nil {
		return err
	}
	g.spilled = false
	return c.sp.store.DeletePrefix(prefix)
}

// dropSpilledSlice deletes what slice start left on disk.
func (c *consumer[K, V, A, O]) dropSpilledSlice(start pipeline.Time) error {
	if c.sp == nil {
		return nil
	}
	return c.sp.store.DeletePrefix(slicePrefix(start))
}

// prefixEnd returns the smallest key greater than every key with the prefix (nil: no upper bound).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
