package engine

import (
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/pipeline"
)

// Checkpoint snapshots. Every keyed consumer writes its state as one gob stream between micro-batches (when no
// data is in flight: dirty lists, producer partials and exchange buffers are all empty). A snapshot is full (every
// entry) or a delta: the entries changed since the previous snapshot of the same consumer, plus records of what
// went (windows, merged-away sessions, slices, keys). A checkpoint holds, per consumer, a full snapshot and the
// deltas after it, applied in order; an entry in a later snapshot replaces the earlier one. So a checkpoint costs
// what changed, not what exists.
//
// Restoring reads the chains of every worker of the checkpointed run and hands each key to the worker that owns
// it now, so a job may restart with a different number of workers (the next snapshot must then be full: the
// runner asks for one).

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

// A reduction's snapshot (format 3, see snapcodec.go): the magic, a header chunk (watermark, previous watermark,
// full, the coder's format version and the coders' names of the key and accumulator types), then chunks of
// records, each a kind, a window and what the kind needs (see snapWriter.add). Chunks are encoded as they fill,
// so a snapshot needs memory for the encoded state (about 20 bytes per entry) plus one chunk, not for a second copy
// of the state in Go values, and spilled state is streamed from disk. Keys are encoded with coder.KeyOf and
// accumulators with coder.Of, as spilling does: any state that can spill can be checkpointed.
//
// Snapshots of formats 1 and 2 were gob streams — a snapHeader, then snapChunks of up to snapChunkSize records,
// the last marked End — and are still restored (restoreGob).

const snapChunkSize = 1024

type snapChunk[K comparable, A any] struct {
	End     bool
	Records []snapRecord[K, A]
}

type snapHeader struct {
	WM, Prev pipeline.Time
	Full     bool
}

// Record kinds.
const (
	recPane       uint8 = iota // a pane: W, WmPassed, P
	recSlice                   // a sliding-window slice entry: W is the slice, P.K and P.Acc its key and accumulator
	recWindowGone              // every pane of window W went
	recPaneGone                // the pane of P.K in W went (a session merged into another)
	recSliceGone               // slice W went
)

type snapRecord[K comparable, A any] struct {
	Kind     uint8
	W        pipeline.Window
	WmPassed bool
	P        paneSnap[K, A]
}

// Pane flags in records.
const (
	pfOnTimeDone = 1 << iota
	pfClosed
	pfTrig
	pfWmPassed
)

type snapWriter[K comparable, A any] struct {
	so *snapOut
	kc coder.Coder[K]
	ac coder.Coder[A]
	w  pipeline.Window // the window of the chunk's previous record
}

// recSameWindow, or'ed into a record's kind, says the record's window is the previous record's in the chunk (the
// window is then not written).
const recSameWindow = 0x80

// add encodes a record: kind, window (start, end as varints; omitted, with recSameWindow in the kind, when it is
// the chunk's previous record's), then
//
//	recPane:      flags (pf…), key, fresh, idx, nonSpec (varints), trigger state (pfTrig), accumulator
//	recSlice:     key, accumulator
//	recPaneGone:  key
//
// with keys and accumulators length-prefixed.
func (sw *snapWriter[K, A]) add(r snapRecord[K, A]) error {
	b := sw.so.buf
	if len(b) > 0 && r.W == sw.w {
		b = append(b, r.Kind|recSameWindow)
	} else {
		b = appendWindow(append(b, r.Kind), r.W)
		sw.w = r.W
	}
	var err error
	switch r.Kind {
	case recPane:
		p := &r.P
		var flags byte
		if p.OnTimeDone {
			flags |= pfOnTimeDone
		}
		if p.Closed {
			flags |= pfClosed
		}
		if p.Trig != nil {
			flags |= pfTrig
		}
		if r.WmPassed {
			flags |= pfWmPassed
		}
		b = append(b, flags)
		if b, err = appendValue(b, sw.kc.Append, p.K); err != nil {
			return fmt.Errorf("key %s: %w", Short(p.K), err)
		}
		b = binary.AppendVarint(b, p.Fresh)
		b = binary.AppendVarint(b, p.Idx)
		b = binary.AppendVarint(b, p.NonSpec)
		if p.Trig != nil {
			b = p.Trig.appendTo(b)
		}
		if b, err = appendValue(b, sw.ac.Append, p.Acc); err != nil {
			return fmt.Errorf("accumulator of key %s: %w", Short(p.K), err)
		}
	case recSlice:
		if b, err = appendValue(b, sw.kc.Append, r.P.K); err != nil {
			return fmt.Errorf("key %s: %w", Short(r.P.K), err)
		}
		if b, err = appendValue(b, sw.ac.Append, r.P.Acc); err != nil {
			return fmt.Errorf("accumulator of key %s: %w", Short(r.P.K), err)
		}
	case recPaneGone:
		if b, err = appendValue(b, sw.kc.Append, r.P.K); err != nil {
			return fmt.Errorf("key %s: %w", Short(r.P.K), err)
		}
	}
	sw.so.buf = b
	return sw.so.recordDone()
}

// stateCoders returns the coders of the reduction's keys and accumulators.
func (o *ReduceOp[K, V, A, O]) stateCoders() (coder.Coder[K], coder.Coder[A], error) {
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return kc, coder.Coder[A]{}, fmt.Errorf("%s: key type %s: %w", o.name, pipeline.TypeName[K](), err)
	}
	ac, err := coder.Of[A]()
	if err != nil {
		return kc, ac, fmt.Errorf("%s: accumulator type %s: %w", o.name, pipeline.TypeName[A](), err)
	}
	return kc, ac, nil
}

// CheckStateCoders reports, before a run starts, a key or accumulator type that checkpoints and spilled state
// cannot encode.
func (o *ReduceOp[K, V, A, O]) CheckStateCoders() error {
	_, _, err := o.stateCoders()
	return err
}

func snapOf[K comparable, A any](k K, p *pane[A]) paneSnap[K, A] {
	return paneSnap[K, A]{K: k, Acc: p.acc, Fresh: p.fresh, Idx: p.idx, NonSpec: p.nonSpec, OnTimeDone: p.onTimeDone,
		Closed: p.closed, Trig: p.trig}
}

// Snapshot writes the consumer's state (full) or what changed since the previous snapshot, and restarts the
// change tracking.
func (c *consumer[K, V, A, O]) Snapshot(w io.Writer, full bool) (bool, error) {
	full = full || c.ckOverflow
	fail := func(err error) error { return fmt.Errorf("%s: snapshot: %w", c.op.name, err) }
	kc, ac, err := c.op.stateCoders()
	if err != nil {
		return full, fail(err)
	}
	hdr := binary.AppendVarint(nil, int64(c.wm))
	hdr = binary.AppendVarint(hdr, int64(c.prev))
	hdr = append(hdr, boolByte(full))
	hdr = binary.AppendUvarint(hdr, coder.FormatVersion)
	hdr = appendString(appendString(hdr, kc.Name), ac.Name)
	so, err := newSnapOut(w, hdr)
	if err != nil {
		return full, fail(err)
	}
	sw := &snapWriter[K, A]{so: so, kc: kc, ac: ac}
	if full {
		err = c.snapshotFull(sw)
	} else {
		err = c.snapshotDelta(sw)
	}
	if err != nil {
		return full, fail(err)
	}
	if err := so.close(); err != nil {
		return full, fail(err)
	}
	c.resetChanges()
	return full, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// resetChanges restarts the change tracking (after a snapshot or a restore).
func (c *consumer[K, V, A, O]) resetChanges() {
	for _, r := range c.ckPanes {
		if p := r.g.keys[r.k]; p != nil {
			p.ck = false
		}
	}
	clear(c.ckPanes)
	c.ckPanes = c.ckPanes[:0]
	c.ckGone = c.ckGone[:0]
	clear(c.ckPaneGone)
	c.ckPaneGone = c.ckPaneGone[:0]
	c.ckSpilledKeys = nil
	c.ckOverflow = false
	if c.sl != nil {
		for _, g := range c.sl.ckSlices {
			g.ck = false
		}
		clear(c.sl.ckSlices)
		c.sl.ckSlices = c.sl.ckSlices[:0]
		c.sl.ckSliceGone = c.sl.ckSliceGone[:0]
	}
}

// logical returns the whole pane of k in g: the in-memory one merged with its spilled part, if any.
func (c *consumer[K, V, A, O]) logical(g *wgroup[K, A], k K) (*pane[A], error) {
	p := g.keys[k]
	if !g.spilled || c.sp == nil {
		return p, nil
	}
	sp, ok, err := c.getSpilled(g.w, k)
	if err != nil || !ok {
		return p, err
	}
	if p == nil {
		return sp, nil
	}
	m := *sp
	c.mergePane(&m, p)
	m.trig = p.trig
	return &m, nil
}

func (c *consumer[K, V, A, O]) snapshotFull(sw *snapWriter[K, A]) error {
	for _, g := range c.wins {
		if g.dead || len(g.keys) == 0 {
			continue
		}
		for k, p := range g.keys {
			if g.spilled && c.sp != nil { // merged with its spilled part
				var err error
				if p, err = c.logical(g, k); err != nil {
					return err
				}
			}
			if err := sw.add(snapRecord[K, A]{Kind: recPane, W: g.w, WmPassed: g.wmPassed, P: snapOf(k, p)}); err != nil {
				return err
			}
		}
	}
	// Spilled panes without an in-memory part (those with one were written above, merged).
	if err := c.scanSpilled(func(w pipeline.Window, k K, p *pane[A]) error {
		g := c.wins[w]
		if g != nil && g.keys[k] != nil {
			return nil
		}
		return sw.add(snapRecord[K, A]{Kind: recPane, W: w, WmPassed: g != nil && g.wmPassed, P: snapOf(k, p)})
	}); err != nil {
		return fmt.Errorf("spilled state: %w", err)
	}
	if err := c.scanSpilledSessions(func(k K, ss spilledSession[A]) error {
		return sw.add(snapRecord[K, A]{Kind: recPane, W: ss.w, WmPassed: ss.wmPassed, P: snapOf(k, ss.p)})
	}); err != nil {
		return fmt.Errorf("spilled sessions: %w", err)
	}
	if c.sl != nil {
		for _, g := range c.sl.slices {
			if err := c.writeSlice(sw, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeSlice writes every accumulator of slice g, merging the spilled ones with their in-memory parts.
func (c *consumer[K, V, A, O]) writeSlice(sw *snapWriter[K, A], g *sgroup[K, A]) error {
	var seen map[K]bool
	if g.spilled && c.sp != nil {
		seen = map[K]bool{}
		prefix := slicePrefix(g.w.Start)
		if err := c.sp.store.Scan(prefix, func(key, val []byte) error {
			k, err := c.sp.kc.Decode(key[len(prefix):])
			if err != nil {
				return err
			}
			a, err := c.sp.ac.Decode(val)
			if err != nil {
				return err
			}
			if cur := g.keys[k]; cur != nil {
				a = c.op.agg.Merge(a, *cur)
				seen[k] = true
			}
			return sw.add(snapRecord[K, A]{Kind: recSlice, W: g.w, P: paneSnap[K, A]{K: k, Acc: a}})
		}); err != nil {
			return fmt.Errorf("spilled slice: %w", err)
		}
	}
	for k, a := range g.keys {
		if seen[k] {
			continue
		}
		if err := sw.add(snapRecord[K, A]{Kind: recSlice, W: g.w, P: paneSnap[K, A]{K: k, Acc: *a}}); err != nil {
			return err
		}
	}
	return nil
}

func (c *consumer[K, V, A, O]) snapshotDelta(sw *snapWriter[K, A]) error {
	// What went first, then the current value of what changed (which replaces any older one).
	for _, w := range c.ckGone {
		if err := sw.add(snapRecord[K, A]{Kind: recWindowGone, W: w}); err != nil {
			return err
		}
	}
	for _, r := range c.ckPaneGone {
		if err := sw.add(snapRecord[K, A]{Kind: recPaneGone, W: r.w, P: paneSnap[K, A]{K: r.k}}); err != nil {
			return err
		}
	}
	var seen map[paneRef[K]]bool
	if c.sp != nil { // after a spill a pane may be listed twice
		seen = map[paneRef[K]]bool{}
	}
	for _, r := range c.ckPanes {
		if r.g.dead {
			continue
		}
		if seen != nil {
			pr := paneRef[K]{w: r.g.w, k: r.k}
			if seen[pr] {
				continue
			}
			seen[pr] = true
		}
		p, err := c.logical(r.g, r.k)
		if err != nil {
			return err
		}
		if p == nil {
			continue // merged away since (a pane-gone record says so)
		}
		if err := sw.add(snapRecord[K, A]{Kind: recPane, W: r.g.w, WmPassed: r.g.wmPassed, P: snapOf(r.k, p)}); err != nil {
			return err
		}
	}
	// Sessions that changed and then went to disk: all of the key's sessions, from memory or disk.
	for k := range c.ckSpilledKeys {
		for _, w := range c.sess[k] {
			if g := c.wins[w]; g != nil && g.keys[k] != nil {
				if err := sw.add(snapRecord[K, A]{Kind: recPane, W: w, WmPassed: g.wmPassed, P: snapOf(k, g.keys[k])}); err != nil {
					return err
				}
			}
		}
		list, err := c.spilledSessionsOf(k)
		if err != nil {
			return err
		}
		for _, ss := range list {
			if err := sw.add(snapRecord[K, A]{Kind: recPane, W: ss.w, WmPassed: ss.wmPassed, P: snapOf(k, ss.p)}); err != nil {
				return err
			}
		}
	}
	if c.sl != nil {
		for _, w := range c.sl.ckSliceGone {
			if err := sw.add(snapRecord[K, A]{Kind: recSliceGone, W: w}); err != nil {
				return err
			}
		}
		for _, g := range c.sl.ckSlices {
			if c.sl.slices[g.w.Start] != g {
				continue // gone since
			}
			if err := c.writeSlice(sw, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore distributes the checkpointed state over the current consumers. chains[j] holds the snapshots written
// by worker j of the checkpointed run: a full one, then the deltas after it, in order.
func (ex *exchange[K, V, A, O]) Restore(chains [][]io.Reader) error {
	_, ac, err := ex.op.stateCoders()
	if err != nil {
		return err
	}
	return ex.restore(chains, snapDecoder[K, A]{gob: decodeChunk[K, A], accShape: ac.Name, acc: ac.Decode})
}

// RestoreMigrated restores snapshots whose accumulators have another type, converting them with m, an
// AccMigration[K, Old, A].
func (ex *exchange[K, V, A, O]) RestoreMigrated(chains [][]io.Reader, m any) error {
	d, ok := m.(accDecoder[K, A])
	if !ok {
		return fmt.Errorf("%s: migration %T does not produce %s accumulators for %s keys", ex.op.name, m,
			pipeline.TypeName[A](), pipeline.TypeName[K]())
	}
	sd, err := d.snapDecoder()
	if err != nil {
		return fmt.Errorf("%s: migration: %w", ex.op.name, err)
	}
	return ex.restore(chains, sd)
}

// snapDecoder decodes the records of a reduction's snapshots: gob chunks (formats 1 and 2), or accumulators
// encoded by a coder whose Name is accShape (format 3).
type snapDecoder[K comparable, A any] struct {
	gob      func(*gob.Decoder) (snapChunk[K, A], error)
	accShape string
	acc      func([]byte) (A, error)
}

func decodeChunk[K comparable, A any](dec *gob.Decoder) (snapChunk[K, A], error) {
	var chunk snapChunk[K, A]
	err := dec.Decode(&chunk)
	return chunk, err
}

type accDecoder[K comparable, A any] interface {
	snapDecoder() (snapDecoder[K, A], error)
}

// AccMigration converts the checkpointed accumulators of a reduction from Old to New as they are restored (an
// upgrade that changed a combiner's accumulator type).
type AccMigration[K comparable, Old, New any] struct {
	Fn func(Old) New
}

func (m AccMigration[K, Old, New]) snapDecoder() (snapDecoder[K, New], error) {
	oc, err := coder.Of[Old]()
	if err != nil {
		return snapDecoder[K, New]{}, fmt.Errorf("old accumulator type %s: %w", pipeline.TypeName[Old](), err)
	}
	return snapDecoder[K, New]{gob: m.decodeChunk, accShape: oc.Name, acc: func(b []byte) (New, error) {
		old, err := oc.Decode(b)
		if err != nil {
			var zero New
			return zero, err
		}
		return m.Fn(old), nil
	}}, nil
}

func (m AccMigration[K, Old, New]) decodeChunk(dec *gob.Decoder) (snapChunk[K, New], error) {
	old, err := decodeChunk[K, Old](dec)
	if err != nil {
		return snapChunk[K, New]{}, err
	}
	out := snapChunk[K, New]{End: old.End, Records: make([]snapRecord[K, New], len(old.Records))}
	for i, r := range old.Records {
		p := r.P
		np := paneSnap[K, New]{K: p.K, Fresh: p.Fresh, Idx: p.Idx, NonSpec: p.NonSpec, OnTimeDone: p.OnTimeDone,
			Closed: p.Closed, Trig: p.Trig}
		if r.Kind == recPane || r.Kind == recSlice {
			np.Acc = m.Fn(p.Acc)
		}
		out.Records[i] = snapRecord[K, New]{Kind: r.Kind, W: r.W, WmPassed: r.WmPassed, P: np}
	}
	return out, nil
}

// Types names the accumulator types the migration converts, as StateTypes names them.
func (m AccMigration[K, Old, New]) Types() (key, from, to string) {
	return pipeline.TypeName[K](), pipeline.TypeName[Old](), pipeline.TypeName[New]()
}

func (ex *exchange[K, V, A, O]) restore(chains [][]io.Reader, sd snapDecoder[K, A]) error {
	if len(ex.cons) != ex.n {
		return fmt.Errorf("%s: restore before every worker was instantiated", ex.op.name)
	}
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return fmt.Errorf("%s: key type %s: %w", ex.op.name, pipeline.TypeName[K](), err)
	}
	owner := func(k K) *consumer[K, V, A, O] {
		if ex.n == 1 {
			return ex.cons[0]
		}
		return ex.cons[hashOf(ex.seed, k)%uint64(ex.n)]
	}
	for j, chain := range chains {
		for i, r := range chain {
			if err := ex.restoreOne(r, owner, kc, sd); err != nil {
				return fmt.Errorf("%s: restore %s: %w", ex.op.name, snapshotName(r, i, j), err)
			}
		}
	}
	for _, c := range ex.cons {
		c.finishRestore()
		c.resetChanges()
	}
	return nil
}

// spillIfOverBudget spills what a restore has put in memory so far when the heap is over the state budget, every
// 8 chunks (gob snapshots: 8k records; coder snapshots: 512 KiB), so that a state larger than memory can be restored. Sessions wait for the end of the
// restore (their spilled form depends on whether their window has passed, known once every snapshot is in).
func (ex *exchange[K, V, A, O]) spillIfOverBudget() error {
	ex.restored++
	if ex.restored%8 != 0 || ex.op.mode == modeSessions {
		return nil
	}
	for _, c := range ex.cons {
		if c.w.OverBudget == nil || !c.w.OverBudget() {
			return nil
		}
		if _, err := c.Spill(); err != nil {
			return err
		}
	}
	return nil
}

// finishRestore settles what the snapshots applied before the last one left behind the final watermark: entries
// restored from an older snapshot registered their windows as not yet passed, but every window ending at or
// before the checkpoint's watermark had fired by then.
func (c *consumer[K, V, A, O]) finishRestore() {
	if c.wm == pipeline.MinTime {
		return
	}
	for _, g := range c.wins {
		if g.w.End <= c.wm {
			g.wmPassed = true
		}
	}
	if c.sl != nil {
		for start := range c.sl.pending {
			if start+c.sl.size <= c.wm {
				delete(c.sl.pending, start)
			}
		}
	}
}

func (ex *exchange[K, V, A, O]) restoreOne(r io.Reader, owner func(K) *consumer[K, V, A, O], kc coder.Coder[K], sd snapDecoder[K, A]) error {
	isCoder, br, err := isCoderSnapshot(r)
	if err != nil {
		return err
	}
	if !isCoder {
		return ex.restoreGob(br, owner, sd.gob)
	}
	si := &snapIn{r: br}
	hb, err := si.next()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	h := &dec{b: hb}
	wm, prev := pipeline.Time(h.varint()), pipeline.Time(h.varint())
	h.byte1() // full
	version := h.uvarint()
	keyShape, accShape := h.str(), h.str()
	if h.err != nil {
		return fmt.Errorf("header: %w", h.err)
	}
	if version != coder.FormatVersion {
		return fmt.Errorf("the snapshot's values have coder format %d, this kappa reads %d", version, coder.FormatVersion)
	}
	if keyShape != kc.Name {
		return fmt.Errorf("the checkpoint's keys are %s, the pipeline's %s: the key type changed (give the transform another name, or restore with the old type)", keyShape, kc.Name)
	}
	if accShape != sd.accShape {
		return fmt.Errorf("the checkpoint's accumulators are %s, the pipeline reads %s: the accumulator type changed (register a migration, local.MigrateAccumulator, from the old type, or give the transform another name)", accShape, sd.accShape)
	}
	ex.advanceWatermarks(wm, prev)
	for {
		b, err := si.next()
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		d := &dec{b: b}
		for d.more() {
			rec, err := readRecord(d, kc, sd.acc)
			if err != nil {
				return fmt.Errorf("chunk at byte %d: %w", si.off, err)
			}
			if err := ex.apply(rec, owner); err != nil {
				return err
			}
		}
		if err := ex.spillIfOverBudget(); err != nil {
			return err
		}
	}
}

// readRecord decodes a record written by snapWriter.add.
func readRecord[K comparable, A any](d *dec, kc coder.Coder[K], acc func([]byte) (A, error)) (snapRecord[K, A], error) {
	var r snapRecord[K, A]
	r.Kind = d.byte1()
	if r.Kind&recSameWindow != 0 {
		if d.i == 1 {
			return r, fmt.Errorf("the chunk's first record has no window: %w", errCorrupt)
		}
		r.Kind &^= recSameWindow
		r.W = d.last
	} else {
		r.W = d.window()
		d.last = r.W
	}
	key := func() error {
		b := d.bytes()
		if d.err != nil {
			return d.err
		}
		k, err := kc.Decode(b)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		r.P.K = k
		return nil
	}
	value := func() error {
		b := d.bytes()
		if d.err != nil {
			return d.err
		}
		a, err := acc(b)
		if err != nil {
			return fmt.Errorf("accumulator of key %s: %w", Short(r.P.K), err)
		}
		r.P.Acc = a
		return nil
	}
	switch r.Kind {
	case recPane:
		flags := d.byte1()
		if err := key(); err != nil {
			return r, err
		}
		r.WmPassed = flags&pfWmPassed != 0
		r.P.OnTimeDone, r.P.Closed = flags&pfOnTimeDone != 0, flags&pfClosed != 0
		r.P.Fresh, r.P.Idx, r.P.NonSpec = d.varint(), d.varint(), d.varint()
		if d.err != nil {
			return r, d.err
		}
		if flags&pfTrig != 0 {
			t, rest, err := readTState(d.b[d.i:])
			if err != nil {
				return r, err
			}
			r.P.Trig = t
			d.i = len(d.b) - len(rest)
		}
		return r, value()
	case recSlice:
		if err := key(); err != nil {
			return r, err
		}
		return r, value()
	case recPaneGone:
		return r, key()
	case recWindowGone, recSliceGone:
		return r, d.err
	default:
		return r, fmt.Errorf("unknown record kind %d: %w", r.Kind, errCorrupt)
	}
}

// advanceWatermarks applies a snapshot's watermarks. Watermarks only go forward: the chains of the workers are
// applied one after another, and a later chain's full snapshot may be older than an earlier chain's last delta.
// (A window that fired since that older snapshot must not be registered as pending again; its state goes with the
// later chain's deltas.)
func (ex *exchange[K, V, A, O]) advanceWatermarks(wm, prev pipeline.Time) {
	for _, c := range ex.cons {
		c.wm, c.prev = max(c.wm, wm), max(c.prev, prev)
		c.prod.wm = c.wm
	}
}

// restoreGob restores a gob snapshot (formats 1 and 2).
func (ex *exchange[K, V, A, O]) restoreGob(r io.Reader, owner func(K) *consumer[K, V, A, O], decode func(*gob.Decoder) (snapChunk[K, A], error)) error {
	dec := gob.NewDecoder(r)
	var h snapHeader
	if err := dec.Decode(&h); err != nil {
		return err
	}
	ex.advanceWatermarks(h.WM, h.Prev)
	for {
		chunk, err := decode(dec)
		if err != nil {
			return err
		}
		if err := ex.spillIfOverBudget(); err != nil {
			return err
		}
		for _, rec := range chunk.Records {
			if err := ex.apply(rec, owner); err != nil {
				return err
			}
		}
		if chunk.End {
			return nil
		}
	}
}

// apply applies a record of a snapshot.
func (ex *exchange[K, V, A, O]) apply(rec snapRecord[K, A], owner func(K) *consumer[K, V, A, O]) error {
	switch rec.Kind {
	case recPane:
		return owner(rec.P.K).restorePane(rec.W, rec.WmPassed, rec.P)
	case recSlice:
		c := owner(rec.P.K)
		if c.sl == nil {
			return fmt.Errorf("a sliding-window slice in the snapshot, but %s keeps no slices", ex.op.name)
		}
		return c.restoreSlice(rec.W, rec.P.K, rec.P.Acc)
	case recWindowGone:
		for _, c := range ex.cons {
			if g := c.wins[rec.W]; g != nil {
				c.drop(g)
			}
		}
	case recPaneGone:
		owner(rec.P.K).removePane(rec.W, rec.P.K)
	case recSliceGone:
		for _, c := range ex.cons {
			if c.sl != nil {
				if g := c.sl.slices[rec.W.Start]; g != nil && g.spilled {
					if err := c.dropSpilledSlice(rec.W.Start); err != nil {
						return err
					}
				}
				delete(c.sl.slices, rec.W.Start)
				c.sl.last = nil
			}
		}
	default:
		return fmt.Errorf("unknown record kind %d", rec.Kind)
	}
	return nil
}

// restorePane sets the pane of ps.K in w (replacing any earlier one, also one a restore spilled).
func (c *consumer[K, V, A, O]) restorePane(w pipeline.Window, wmPassed bool, ps paneSnap[K, A]) error {
	g := c.group(w)
	if g.spilled {
		key, err := c.paneKey(w, ps.K)
		if err != nil {
			return err
		}
		if err := c.sp.store.Delete(key); err != nil {
			return err
		}
	}
	g.wmPassed = g.wmPassed || wmPassed
	p := &pane[A]{acc: ps.Acc, fresh: ps.Fresh, idx: ps.Idx, nonSpec: ps.NonSpec, onTimeDone: ps.OnTimeDone,
		closed: ps.Closed, trig: ps.Trig}
	if c.op.trig != nil && p.trig == nil {
		p.trig = newTState(c.op.trig)
	}
	old := g.keys[ps.K]
	g.keys[ps.K] = p
	if p.trig != nil && !p.trig.nextDeadline().IsZero() {
		p.timed = true
		c.timed = append(c.timed, timedRef[K, A]{g: g, k: ps.K})
	}
	if c.sess != nil && old == nil {
		c.sess[ps.K] = append(c.sess[ps.K], w)
	}
	return nil
}

// removePane removes the pane of k in w (a session merged into another). Sessions never spill during a restore.
func (c *consumer[K, V, A, O]) removePane(w pipeline.Window, k K) {
	g := c.wins[w]
	if g == nil || g.keys[k] == nil {
		return
	}
	delete(g.keys, k)
	if len(g.keys) == 0 {
		g.dead = true
		delete(c.wins, w)
		if c.last == g {
			c.last = nil
		}
	}
	if c.sess != nil {
		c.removeSession(k, w)
	}
}

// restoreSlice sets k's accumulator of slice (replacing any earlier one, also one a restore spilled).
func (c *consumer[K, V, A, O]) restoreSlice(slice pipeline.Window, k K, a A) error {
	g := c.sl.group(c, slice)
	if g.spilled {
		key, err := c.sliceKey(slice.Start, k)
		if err != nil {
			return err
		}
		if err := c.sp.store.Delete(key); err != nil {
			return err
		}
	}
	v := a
	g.keys[k] = &v
	return nil
}

// A stateful DoFn's snapshot (format 3): the magic, a header chunk (watermark, flags: 1 full, 2 every key's state
// went before the entries; the coder's format version and the key coder's name), then chunks of entries: flags (1
// the key's state in the window went), window, key, and unless gone its cells (cellEnc) and timers (appendTimers).
// Formats 1 and 2 were one gob-encoded stateSnap, still restored.

const (
	ssFull    = 1
	ssAllGone = 2
	seGone    = 1
)

type stateEntrySnap[K comparable] struct {
	K      K
	W      pipeline.Window
	Gone   bool // the key's state in W went (delta snapshots)
	Cells  map[string]any
	Timers map[string]TimerSpec
}

type stateSnap[K comparable] struct {
	WM      pipeline.Time
	Full    bool
	AllGone bool // every key's state went before the entries (the global window ended)
	Entries []stateEntrySnap[K]
}

type stateSnapWriter[K comparable] struct {
	so *snapOut
	kc coder.Coder[K]
	ce cellEnc
}

func (sw *stateSnapWriter[K]) add(k skey[K], gone bool, cells map[string]any, timers map[string]TimerSpec) error {
	b := appendWindow(append(sw.so.buf, boolByte(gone)), k.w)
	b, err := appendValue(b, sw.kc.Append, k.k)
	if err != nil {
		return fmt.Errorf("key %s: %w", Short(k.k), err)
	}
	if !gone {
		if b, err = sw.ce.appendCells(b, cells); err != nil {
			return fmt.Errorf("key %s: %w", Short(k.k), err)
		}
		b = appendTimers(b, timers)
	}
	sw.so.buf = b
	return sw.so.recordDone()
}

// Snapshot writes the stateful DoFn's state and timers, all of it or what changed since the previous snapshot.
func (c *stateConsumer[K, V, Out]) Snapshot(w io.Writer, full bool) (bool, error) {
	full = full || c.ckOverflow
	fail := func(err error) (bool, error) { return full, fmt.Errorf("%s: snapshot: %w", c.op.name, err) }
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return fail(fmt.Errorf("key type %s: %w", pipeline.TypeName[K](), err))
	}
	var flags byte
	if full {
		flags |= ssFull
	} else if c.ckAllGone {
		flags |= ssAllGone
	}
	hdr := append(binary.AppendVarint(nil, int64(c.wm)), flags)
	hdr = binary.AppendUvarint(hdr, coder.FormatVersion)
	hdr = appendString(hdr, kc.Name)
	so, err := newSnapOut(w, hdr)
	if err != nil {
		return fail(err)
	}
	sw := &stateSnapWriter[K]{so: so, kc: kc}
	if full {
		for k, ks := range c.keys {
			c.expire(ks) // a checkpoint drops expired state (TTL)
			if len(ks.cells) == 0 && len(ks.timers) == 0 {
				delete(c.keys, k)
				continue
			}
			if err := sw.add(k, false, ks.cells, ks.timers); err != nil {
				return fail(err)
			}
		}
		if err := c.scanSpilled(func(k skey[K], sk spilledKeyState) error {
			return sw.add(k, false, sk.Cells, sk.Timers)
		}); err != nil {
			return fail(fmt.Errorf("spilled state: %w", err))
		}
	} else {
		for _, k := range c.ckGone {
			if err := sw.add(k, true, nil, nil); err != nil {
				return fail(err)
			}
		}
		for _, k := range c.ckKeys {
			if ks := c.keys[k]; ks != nil {
				if err := sw.add(k, false, ks.cells, ks.timers); err != nil {
					return fail(err)
				}
			}
		}
		for k := range c.spilledChanged {
			sk, err := c.peek(k)
			if err != nil {
				return fail(fmt.Errorf("spilled state: %w", err))
			}
			if sk != nil {
				if err := sw.add(k, false, sk.Cells, sk.Timers); err != nil {
					return fail(err)
				}
			}
		}
	}
	if err := so.close(); err != nil {
		return fail(err)
	}
	c.resetChanges()
	return full, nil
}

func (c *stateConsumer[K, V, Out]) resetChanges() {
	for _, k := range c.ckKeys {
		if ks := c.keys[k]; ks != nil {
			ks.ck = false
		}
	}
	clear(c.ckKeys)
	c.ckKeys = c.ckKeys[:0]
	clear(c.ckGone)
	c.ckGone = c.ckGone[:0]
	c.ckAllGone = false
	c.ckOverflow = false
	c.spilledChanged = nil
}

// CheckStateCoders reports, before a run starts, a key type that checkpoints and spilled state cannot encode.
// (The types of state cells are known once values are written: a cell type the coder refuses fails the first
// write of it, see checkCells.)
func (o *StatefulOp[K, V, Out]) CheckStateCoders() error {
	if _, err := coder.KeyOf[K](); err != nil {
		return fmt.Errorf("%s: key type %s: %w", o.name, pipeline.TypeName[K](), err)
	}
	return nil
}

// Restore distributes the checkpointed state over the current consumers: chains[j] holds the snapshots of worker
// j of the checkpointed run, a full one then deltas, in order.
func (ex *stateExchange[K, V, Out]) Restore(chains [][]io.Reader) error {
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return fmt.Errorf("%s: key type %s: %w", ex.op.name, pipeline.TypeName[K](), err)
	}
	for j, chain := range chains {
		for i, r := range chain {
			if err := ex.restoreOne(r, kc); err != nil {
				return fmt.Errorf("%s: restore %s: %w", ex.op.name, snapshotName(r, i, j), err)
			}
		}
	}
	for _, c := range ex.cons {
		c.resetChanges()
	}
	return nil
}

func (ex *stateExchange[K, V, Out]) owner(k K) *stateConsumer[K, V, Out] {
	if ex.n == 1 {
		return ex.cons[0]
	}
	return ex.cons[hashOf(ex.seed, k)%uint64(ex.n)]
}

func (ex *stateExchange[K, V, Out]) restoreOne(r io.Reader, kc coder.Coder[K]) error {
	isCoder, br, err := isCoderSnapshot(r)
	if err != nil {
		return err
	}
	if !isCoder {
		var s stateSnap[K]
		if err := gob.NewDecoder(br).Decode(&s); err != nil {
			return err
		}
		if err := ex.startSnapshot(s.WM, s.AllGone); err != nil {
			return err
		}
		for i, e := range s.Entries {
			if i%65536 == 65535 {
				if err := ex.spillIfOverBudget(); err != nil {
					return err
				}
			}
			if err := ex.restoreEntry(skey[K]{k: e.K, w: e.W}, e.Gone, e.Cells, e.Timers); err != nil {
				return err
			}
		}
		return nil
	}
	si := &snapIn{r: br}
	hb, err := si.next()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	h := &dec{b: hb}
	wm := pipeline.Time(h.varint())
	flags := h.byte1()
	version := h.uvarint()
	keyShape := h.str()
	if h.err != nil {
		return fmt.Errorf("header: %w", h.err)
	}
	if version != coder.FormatVersion {
		return fmt.Errorf("the snapshot's values have coder format %d, this kappa reads %d", version, coder.FormatVersion)
	}
	if keyShape != kc.Name {
		return fmt.Errorf("the checkpoint's keys are %s, the pipeline's %s: the key type changed (give the transform another name, or restore with the old type)", keyShape, kc.Name)
	}
	if err := ex.startSnapshot(wm, flags&ssAllGone != 0); err != nil {
		return err
	}
	var cd cellDec
	for {
		b, err := si.next()
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		d := &dec{b: b}
		for d.more() {
			gone := d.byte1()&seGone != 0
			w := d.window()
			kb := d.bytes()
			if d.err != nil {
				return fmt.Errorf("chunk at byte %d: %w", si.off, d.err)
			}
			k, err := kc.Decode(kb)
			if err != nil {
				return fmt.Errorf("chunk at byte %d: key: %w", si.off, err)
			}
			var cells map[string]any
			var timers map[string]TimerSpec
			if !gone {
				if cells, err = cd.cells(d); err != nil {
					return fmt.Errorf("chunk at byte %d: key %s: %w", si.off, Short(k), err)
				}
				if timers = d.timers(); d.err != nil {
					return fmt.Errorf("chunk at byte %d: key %s: timers: %w", si.off, Short(k), d.err)
				}
			}
			if err := ex.restoreEntry(skey[K]{k: k, w: w}, gone, cells, timers); err != nil {
				return err
			}
		}
		// Once per chunk (64 KiB of entries): a state larger than memory can be restored.
		if err := ex.spillIfOverBudget(); err != nil {
			return err
		}
	}
}

// startSnapshot applies a snapshot's watermark (forward only) and its every-key-went flag.
func (ex *stateExchange[K, V, Out]) startSnapshot(wm pipeline.Time, allGone bool) error {
	for _, c := range ex.cons {
		c.wm = max(c.wm, wm)
		if allGone {
			clear(c.keys)
			if c.sp != nil && c.sp.keys { // what the restore spilled went too
				if err := c.sp.store.DeletePrefix([]byte{stateKey}); err != nil {
					return fmt.Errorf("%s: restore: %w", ex.op.name, err)
				}
				c.sp.keys = false
			}
		}
	}
	return nil
}

// restoreEntry sets (or, gone, removes) the state of key k.
func (ex *stateExchange[K, V, Out]) restoreEntry(k skey[K], gone bool, cells map[string]any, timers map[string]TimerSpec) error {
	c := ex.owner(k.k)
	if gone {
		delete(c.keys, k)
		// The restore may have spilled the key's earlier state: it went too.
		if err := c.dropSpilled(k); err != nil {
			return fmt.Errorf("%s: restore: %w", ex.op.name, err)
		}
		return nil
	}
	ks, err := c.state(k)
	if err != nil {
		return fmt.Errorf("%s: restore: %w", ex.op.name, err)
	}
	ks.cells = cells
	if ks.cells == nil {
		ks.cells = map[string]any{}
	}
	ks.timers = timers
	for name, t := range timers {
		if t.Domain == EventTime {
			c.push(&c.event, timerEntry[K]{at: t.T, key: k, name: name})
		} else {
			c.push(&c.proc, timerEntry[K]{pt: t.PT, key: k, name: name})
		}
	}
	return nil
}

// spillIfOverBudget spills what a restore has put in memory so far when the heap is over the state budget.
func (ex *stateExchange[K, V, Out]) spillIfOverBudget() error {
	for _, c := range ex.cons {
		if c.w.OverBudget == nil || !c.w.OverBudget() {
			return nil
		}
		if _, err := c.Spill(); err != nil {
			return err
		}
	}
	return nil
}

// snapshotName names snapshot i of worker j's chain in errors: by its object name when the runner gave one.
func snapshotName(r io.Reader, i, j int) string {
	if n, ok := r.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("snapshot %d of worker %d", i, j)
}
