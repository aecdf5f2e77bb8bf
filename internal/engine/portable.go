package engine

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"iter"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Portable descriptions of the keyed operators (internal/exec.GroupOp, exec.StatefulOp), for runners whose own
// engine shuffles by encoded key (runners/beam). Keys are encoded with coder.KeyOf (deterministic, so that equal
// keys have equal bytes), values and accumulators with coder.Of.

// maxPartials bounds the partial accumulators a pre-combiner holds before it flushes them.
const maxPartials = 1 << 16

// GroupKind returns the transform kind.
func (o *ReduceOp[K, V, A, O]) GroupKind() string { return o.kind }

// InputStrategy returns the input's *windowing.Strategy.
func (o *ReduceOp[K, V, A, O]) InputStrategy() any { return o.st }

// Lifted reports whether values are pre-combined before the shuffle: combiners, except over sessions (merging
// windows), whose values are grouped and folded after the shuffle.
func (o *ReduceOp[K, V, A, O]) Lifted() bool { return o.lift }

// HasLateOutput reports whether the grouping has a late-data output.
func (o *ReduceOp[K, V, A, O]) HasLateOutput() bool { return o.hasLate }

// KeyType names K.
func (o *ReduceOp[K, V, A, O]) KeyType() string { return pipeline.TypeName[K]() }

// ValueType names V.
func (o *ReduceOp[K, V, A, O]) ValueType() string { return pipeline.TypeName[V]() }

type reduceCoders[K comparable, V, A any] struct {
	k coder.Coder[K]
	v coder.Coder[V]
	a coder.Coder[A]
}

func (o *ReduceOp[K, V, A, O]) coders() (reduceCoders[K, V, A], error) {
	var c reduceCoders[K, V, A]
	var err error
	if c.k, err = coder.KeyOf[K](); err != nil {
		return c, fmt.Errorf("%s: key: %w", o.name, err)
	}
	if o.Lifted() {
		if c.a, err = coder.Of[A](); err != nil {
			return c, fmt.Errorf("%s: accumulator: %w", o.name, err)
		}
		return c, nil
	}
	if c.v, err = coder.Of[V](); err != nil {
		return c, fmt.Errorf("%s: value: %w", o.name, err)
	}
	return c, nil
}

// CheckCoders builds the coders and reports a type that cannot be encoded.
func (o *ReduceOp[K, V, A, O]) CheckCoders() error {
	_, err := o.coders()
	return err
}

// NewInputEncoder returns a Pusher of KV[K, V] emitting encoded keys and values (or one-value accumulators).
func (o *ReduceOp[K, V, A, O]) NewInputEncoder(emit exec.EmitKV) (any, error) {
	c, err := o.coders()
	if err != nil {
		return nil, err
	}
	return &groupEncoder[K, V, A, O]{op: o, c: c, emit: emit}, nil
}

type groupEncoder[K comparable, V, A, O any] struct {
	op     *ReduceOp[K, V, A, O]
	c      reduceCoders[K, V, A]
	emit   exec.EmitKV
	kb, vb []byte
}

func (g *groupEncoder[K, V, A, O]) Push(e pipeline.Element[pipeline.KV[K, V]]) error {
	var err error
	if g.kb, err = g.c.k.Append(g.kb[:0], e.Value.Key); err != nil {
		return fmt.Errorf("%s: encode key %s: %w", g.op.name, Short(e.Value.Key), err)
	}
	if g.op.Lifted() {
		a := g.op.agg.Add(g.op.agg.Create(), e.Value.Value)
		if g.vb, err = g.c.a.Append(g.vb[:0], a); err != nil {
			return fmt.Errorf("%s: encode accumulator: %w", g.op.name, err)
		}
	} else if g.vb, err = g.c.v.Append(g.vb[:0], e.Value.Value); err != nil {
		return fmt.Errorf("%s: encode value %s: %w", g.op.name, Short(e.Value.Value), err)
	}
	return g.emit(g.kb, g.vb, exec.Meta{Time: e.Time, Window: e.Window, Pane: e.Pane})
}

// NewPreCombiner returns a Pusher of KV[K, V] that pre-combines per window (or slice) and key.
func (o *ReduceOp[K, V, A, O]) NewPreCombiner(emit exec.EmitKV) (any, error) {
	if !o.Lifted() {
		return nil, fmt.Errorf("%s: %s does not pre-combine", o.name, o.kind)
	}
	c, err := o.coders()
	if err != nil {
		return nil, err
	}
	pc := &preCombiner[K, V, A, O]{op: o, c: c, emit: emit, parts: map[pipeline.Window]map[K]*partial[A]{}}
	if sl, ok := o.st.WindowFn().(windowing.Sliding); ok && o.st.Deferred {
		pc.sliding, pc.slices = sl, true
	}
	return pc, nil
}

type partial[A any] struct {
	a    A
	minT pipeline.Time
}

type preCombiner[K comparable, V, A, O any] struct {
	op      *ReduceOp[K, V, A, O]
	c       reduceCoders[K, V, A]
	emit    exec.EmitKV
	parts   map[pipeline.Window]map[K]*partial[A]
	n       int
	sliding windowing.Sliding
	slices  bool
	kb, vb  []byte
	lastW   pipeline.Window
	last    map[K]*partial[A]
}

func (p *preCombiner[K, V, A, O]) Push(e pipeline.Element[pipeline.KV[K, V]]) error {
	w := e.Window
	if p.slices {
		_, w = p.sliding.Slice(e.Time)
	}
	m := p.last
	if m == nil || w != p.lastW {
		m = p.parts[w]
		if m == nil {
			m = map[K]*partial[A]{}
			p.parts[w] = m
		}
		p.last, p.lastW = m, w
	}
	pt := m[e.Value.Key]
	if pt == nil {
		pt = &partial[A]{a: p.op.agg.Create(), minT: e.Time}
		m[e.Value.Key] = pt
		p.n++
	}
	pt.a = p.op.agg.Add(pt.a, e.Value.Value)
	pt.minT = min(pt.minT, e.Time)
	if p.n >= maxPartials {
		return p.Flush()
	}
	return nil
}

// Flush emits every partial accumulator.
func (p *preCombiner[K, V, A, O]) Flush() error {
	for pw, m := range p.parts {
		for k, pt := range m {
			w := pw
			var err error
			if p.kb, err = p.c.k.Append(p.kb[:0], k); err != nil {
				return fmt.Errorf("%s: encode key %s: %w", p.op.name, Short(k), err)
			}
			if p.vb, err = p.c.a.Append(p.vb[:0], pt.a); err != nil {
				return fmt.Errorf("%s: encode accumulator: %w", p.op.name, err)
			}
			if p.slices {
				w = pipeline.GlobalWindow // a slice of deferred sliding windows: its windows are those of minT
			}
			if err := p.emit(p.kb, p.vb, exec.Meta{Time: pt.minT, Window: w, Pane: pipeline.NoFiringPane}); err != nil {
				return err
			}
		}
	}
	clear(p.parts)
	p.n, p.last = 0, nil
	return nil
}

// Partials is the number of partial accumulators held.
func (p *preCombiner[K, V, A, O]) Partials() int { return p.n }

// ByteCombiner returns the aggregation over encoded accumulators.
func (o *ReduceOp[K, V, A, O]) ByteCombiner() (exec.ByteCombiner, error) {
	if !o.Lifted() {
		return nil, fmt.Errorf("%s: %s does not combine", o.name, o.kind)
	}
	c, err := o.coders()
	if err != nil {
		return nil, err
	}
	return &byteCombiner[K, V, A, O]{op: o, c: c}, nil
}

type byteCombiner[K comparable, V, A, O any] struct {
	op *ReduceOp[K, V, A, O]
	c  reduceCoders[K, V, A]
}

func (b *byteCombiner[K, V, A, O]) CreateAccumulator() ([]byte, error) {
	out, err := b.c.a.Append(nil, b.op.agg.Create())
	if err != nil {
		return nil, fmt.Errorf("%s: encode accumulator: %w", b.op.name, err)
	}
	return out, nil
}

func (b *byteCombiner[K, V, A, O]) MergeAccumulators(accs ...[]byte) ([]byte, error) {
	if len(accs) == 1 {
		return accs[0], nil
	}
	a := b.op.agg.Create()
	for _, enc := range accs {
		x, err := b.c.a.Decode(enc)
		if err != nil {
			return nil, fmt.Errorf("%s: decode accumulator: %w", b.op.name, err)
		}
		a = b.op.agg.Merge(a, x)
	}
	out, err := b.c.a.Append(nil, a)
	if err != nil {
		return nil, fmt.Errorf("%s: encode accumulator: %w", b.op.name, err)
	}
	return out, nil
}

// NewGroupedOutput returns the constructor of grouped outputs: values, or partial accumulators of lifted groupings.
func (o *ReduceOp[K, V, A, O]) NewGroupedOutput(out any) (func(key []byte, values iter.Seq[[]byte], m exec.Meta) error, error) {
	c, err := o.coders()
	if err != nil {
		return nil, err
	}
	p, err := PusherOf[pipeline.KV[K, O]](o.name, []any{out}, 0)
	if err != nil {
		return nil, err
	}
	return func(key []byte, values iter.Seq[[]byte], m exec.Meta) error {
		k, err := c.k.Decode(key)
		if err != nil {
			return fmt.Errorf("%s: decode key: %w", o.name, err)
		}
		a := o.agg.Create()
		for vb := range values {
			if o.Lifted() { // the values are partial accumulators
				x, err := c.a.Decode(vb)
				if err != nil {
					return fmt.Errorf("%s: decode accumulator of key %s: %w", o.name, Short(k), err)
				}
				a = o.agg.Merge(a, x)
				continue
			}
			v, err := c.v.Decode(vb)
			if err != nil {
				return fmt.Errorf("%s: decode value of key %s: %w", o.name, Short(k), err)
			}
			a = o.agg.Add(a, v)
		}
		return p.Push(pipeline.Element[pipeline.KV[K, O]]{Value: pipeline.KV[K, O]{Key: k, Value: o.agg.Extract(a)},
			Time: m.Time, Window: m.Window, Pane: m.Pane})
	}, nil
}

// NewCombinedOutput returns the constructor of combined outputs (lifted groupings).
func (o *ReduceOp[K, V, A, O]) NewCombinedOutput(out any) (func(key, acc []byte, m exec.Meta) error, error) {
	c, err := o.coders()
	if err != nil {
		return nil, err
	}
	p, err := PusherOf[pipeline.KV[K, O]](o.name, []any{out}, 0)
	if err != nil {
		return nil, err
	}
	return func(key, acc []byte, m exec.Meta) error {
		k, err := c.k.Decode(key)
		if err != nil {
			return fmt.Errorf("%s: decode key: %w", o.name, err)
		}
		a, err := c.a.Decode(acc)
		if err != nil {
			return fmt.Errorf("%s: decode accumulator of key %s: %w", o.name, Short(k), err)
		}
		return p.Push(pipeline.Element[pipeline.KV[K, O]]{Value: pipeline.KV[K, O]{Key: k, Value: o.agg.Extract(a)},
			Time: m.Time, Window: m.Window, Pane: m.Pane})
	}, nil
}

// InputStrategy returns the input's *windowing.Strategy.
func (o *StatefulOp[K, V, Out]) InputStrategy() any { return o.st }

// KeyType names K.
func (o *StatefulOp[K, V, Out]) KeyType() string { return pipeline.TypeName[K]() }

func (o *StatefulOp[K, V, Out]) coders() (coder.Coder[K], coder.Coder[V], error) {
	kc, err := coder.KeyOf[K]()
	if err != nil {
		return kc, coder.Coder[V]{}, fmt.Errorf("%s: key: %w", o.name, err)
	}
	vc, err := coder.Of[V]()
	if err != nil {
		return kc, vc, fmt.Errorf("%s: value: %w", o.name, err)
	}
	return kc, vc, nil
}

// CheckCoders builds the key and value coders.
func (o *StatefulOp[K, V, Out]) CheckCoders() error {
	_, _, err := o.coders()
	return err
}

// NewInputEncoder returns a Pusher of KV[K, V] emitting encoded keys and values.
func (o *StatefulOp[K, V, Out]) NewInputEncoder(emit exec.EmitKV) (any, error) {
	kc, vc, err := o.coders()
	if err != nil {
		return nil, err
	}
	return &statefulEncoder[K, V]{name: o.name, kc: kc, vc: vc, emit: emit}, nil
}

type statefulEncoder[K comparable, V any] struct {
	name   string
	kc     coder.Coder[K]
	vc     coder.Coder[V]
	emit   exec.EmitKV
	kb, vb []byte
}

func (s *statefulEncoder[K, V]) Push(e pipeline.Element[pipeline.KV[K, V]]) error {
	var err error
	if s.kb, err = s.kc.Append(s.kb[:0], e.Value.Key); err != nil {
		return fmt.Errorf("%s: encode key %s: %w", s.name, Short(e.Value.Key), err)
	}
	if s.vb, err = s.vc.Append(s.vb[:0], e.Value.Value); err != nil {
		return fmt.Errorf("%s: encode value %s: %w", s.name, Short(e.Value.Value), err)
	}
	return s.emit(s.kb, s.vb, exec.Meta{Time: e.Time, Window: e.Window, Pane: e.Pane})
}

// NewPortable returns the stateful DoFn runner of one worker, pushing into out (a Pusher of Out).
func (o *StatefulOp[K, V, Out]) NewPortable(w *exec.Worker, out any) (exec.PortableStateful, error) {
	kc, vc, err := o.coders()
	if err != nil {
		return nil, err
	}
	e, err := NewEmitter[Out](out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	ps := &portableStateful[K, V, Out]{op: o, w: w, kc: kc, vc: vc, emit: e.(*Emitter[Out])}
	ps.emit.setCurrent(&ps.meta)
	return ps, nil
}

type portableStateful[K comparable, V, Out any] struct {
	op   *StatefulOp[K, V, Out]
	w    *exec.Worker
	kc   coder.Coder[K]
	vc   coder.Coder[V]
	emit *Emitter[Out]
	meta Meta
}

// context decodes the key and the state cells and builds the DoFn's view of them.
func (p *portableStateful[K, V, Out]) context(key []byte, m exec.Meta, st *exec.StateIO) (*KeyContext[K], error) {
	k, err := p.kc.Decode(key)
	if err != nil {
		return nil, fmt.Errorf("%s: decode key: %w", p.op.name, err)
	}
	cells := map[string]any{}
	if len(st.Cells) > 0 {
		if cells, err = decodeCellsBlob(st.Cells); err != nil {
			return nil, fmt.Errorf("%s: key %s: decode state: %w", p.op.name, Short(k), err)
		}
	}
	kc := &KeyContext[K]{Key: k, Window: m.Window, Watermark: st.Watermark, Now: st.Now, ks: &keyState{cells: cells}}
	kc.sets = func(name string, t TimerSpec) {
		st.Timers = append(st.Timers, exec.TimerChange{Name: name, ProcessingTime: t.Domain == ProcessingTime, Time: t.T, PT: t.PT, Clear: t.Clear,
			Output: t.Output, HasOutput: t.HasOutput})
	}
	return kc, nil
}

// decodeGobCells decodes cells a portable state of an older version encoded with gob.
func decodeGobCells(b []byte) (map[string]any, error) {
	cells := map[string]any{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&cells); err != nil {
		return nil, err
	}
	return cells, nil
}

// save encodes the cells back into st (format 3, encodeCellsBlob).
func (p *portableStateful[K, V, Out]) save(kc *KeyContext[K], st *exec.StateIO) error {
	cells := kc.ks.cells
	if len(cells) == 0 {
		st.Changed = len(st.Cells) > 0
		st.Cells = nil
		return nil
	}
	b, err := encodeCellsBlob(cells)
	if err != nil {
		return fmt.Errorf("%s: key %s: encode state: %w", p.op.name, Short(kc.Key), err)
	}
	st.Cells, st.Changed = b, true
	return nil
}

func (p *portableStateful[K, V, Out]) Process(ctx context.Context, key, value []byte, m exec.Meta, st *exec.StateIO) error {
	kc, err := p.context(key, m, st)
	if err != nil {
		return err
	}
	v, err := p.vc.Decode(value)
	if err != nil {
		return fmt.Errorf("%s: key %s: decode value: %w", p.op.name, Short(kc.Key), err)
	}
	p.meta = Meta{T: m.Time, W: m.Window, Pane: m.Pane}
	p.w.Current = p.op.name
	err = p.op.fn.Process(ctx, kc, pipeline.Element[V]{Value: v, Time: m.Time, Window: m.Window, Pane: m.Pane}, p.emit)
	if err == nil {
		err = p.emit.FirstErr()
	}
	if err != nil {
		return fmt.Errorf("%s: key %v: %w", p.op.name, kc.Key, err)
	}
	return p.save(kc, st)
}

func (p *portableStateful[K, V, Out]) OnTimer(ctx context.Context, key []byte, t exec.FiredTimer, m exec.Meta, st *exec.StateIO) error {
	kc, err := p.context(key, m, st)
	if err != nil {
		return err
	}
	domain := EventTime
	if t.ProcessingTime {
		domain = ProcessingTime
	}
	p.meta = Meta{T: m.Time, W: m.Window, Pane: pipeline.NoFiringPane}
	p.w.Current = p.op.name
	ft := FiredTimer{Name: t.Name, Domain: domain, Time: t.Time, ProcessingTime: t.PT, Window: m.Window}
	err = p.op.fn.OnTimer(ctx, kc, ft, p.emit)
	if err == nil {
		err = p.emit.FirstErr()
	}
	if err != nil {
		return fmt.Errorf("%s: key %v: timer %q: %w", p.op.name, kc.Key, t.Name, err)
	}
	return p.save(kc, st)
}

var (
	_ exec.GroupOp    = (*ReduceOp[string, int, int, int])(nil)
	_ exec.StatefulOp = (*StatefulOp[string, int, int])(nil)
)
