package beam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

type emitFn = func(beam.EventTime, []byte, []byte)

// stageBase is what every stage DoFn carries across the wire — which pipeline, which stage — and, on the worker,
// the stage's operators instantiated once per DoFn instance.
type stageBase struct {
	// Run identifies the run: the key of the process-local registry of loopback runs.
	Run string `json:"run"`
	// Builder names the registered builder that rebuilds the pipeline on a worker of another process.
	Builder string `json:"builder,omitempty"`
	// Fingerprint checks that the rebuilt pipeline is the one submitted.
	Fingerprint string `json:"fingerprint"`
	// Stage is the stage's index in the plan.
	Stage int `json:"stage"`
	// Params are the builder's parameters (JSON), for workers that do not receive the pipeline options (those
	// of an external worker pool).
	Params string `json:"params,omitempty"`
	// StopWhenIdle ends the splits of unbounded sources after this long without records (Config.StopWhenIdle).
	StopWhenIdle time.Duration `json:"stopWhenIdle,omitempty"`

	rt *stageRT
	e  [maxOutputs]emitFn
	bf beam.BundleFinalization // of the bundle being processed, in stages with finalized sinks
}

func (b *stageBase) set(es ...emitFn) {
	for i, e := range es {
		b.e[i] = e
	}
}

var shards atomic.Int64

type sinkInst struct {
	t *pipeline.Transform
	r exec.SinkRunner
	// final: the sink commits in Beam's bundle finalization (FinalizedSink).
	final bool
}

// stageRT is a stage instantiated on one worker.
type stageRT struct {
	pl    *plan
	st    *stage
	w     *exec.Worker
	epoch uint64

	src      exec.SourceOp
	head     any // Pusher of the entry's output (sources, scripts)
	dlq      any
	script   func(e pipeline.Element[[]byte]) error
	grouped  func(key []byte, values iter.Seq[[]byte], m exec.Meta) error
	stateful exec.PortableStateful
	// cleared holds the timers a stateful DoFn cleared in the bundle being processed (and did not set again):
	// the Beam Go SDK (v2.77) processes a timer cleared in a bundle as an inline firing at time 0 when timers of
	// its key are delivered later in the bundle (exec.ParDo.ProcessTimers does not skip cleared timers), so
	// onTimer drops those firings. A DoFn that clears a timer in OnTimer otherwise loops on the cleared timer
	// until Prism's bundle deadline (TableJoin did).
	cleared map[timerID]struct{}

	// Side-input stages: the DoFn runner, the main input's decoder, and per side input a decoder into a view
	// builder and the builder's take; the views built per side window, for the bundle being processed.
	side      exec.PortableSide
	mainDec   func(pipeline.Element[[]byte]) error
	sideDecs  []func(pipeline.Element[[]byte]) error
	sideTakes []func() any
	sideCache map[sideKey]any
	views     []any

	life  []exec.Lifecycle
	pre   []exec.PreCombiner
	sinks []sinkInst
}

func (b *stageBase) setup(ctx context.Context) error {
	pl, err := lookupPlan(b.Run, b.Builder, b.Fingerprint, b.Params)
	if err != nil {
		return err
	}
	if b.Stage < 0 || b.Stage >= len(pl.stages) {
		return fmt.Errorf("kappa/beam: run %s has no stage %d", b.Run, b.Stage)
	}
	rt := &stageRT{pl: pl, st: pl.stages[b.Stage], cleared: map[timerID]struct{}{}}
	rt.w = &exec.Worker{Index: 0, Count: 1, Ctx: context.WithoutCancel(ctx), Now: time.Now, Logger: slog.Default()}
	if err := guard(rt.w, func() error { return rt.instantiate(ctx, b) }); err != nil {
		return err
	}
	for _, l := range rt.life {
		if err := l.Start(ctx); err != nil {
			return err
		}
	}
	b.rt = rt
	return nil
}

func (b *stageBase) teardown(ctx context.Context) error {
	if b.rt == nil {
		return nil
	}
	var errs []error
	for _, l := range b.rt.life {
		errs = append(errs, l.Finish(ctx))
	}
	for _, s := range b.rt.sinks {
		if err := s.r.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", s.t.Name(), err))
		}
	}
	b.rt = nil
	return errors.Join(errs...)
}

// guard runs fn, turning a panic in user code into an error naming the transform.
func guard(w *exec.Worker, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = exec.PanicError(w.Current, v)
		}
	}()
	return fn()
}

// instantiate builds the stage's operators for this DoFn instance, from the last member back to the entry, as the
// local runner plans a worker.
func (rt *stageRT) instantiate(ctx context.Context, b *stageBase) error {
	st := rt.st
	bounds := make([]any, len(st.outs))
	for j, bd := range st.outs {
		kn := bd.kn
		emit := rt.boundaryEmit(b, j, kn)
		var p any
		var err error
		switch {
		case kn.side != nil:
			p, err = rt.sideEncoder(b, j, bd)
		case kn.group != nil && kn.group.Lifted():
			p, err = kn.group.NewPreCombiner(emit)
			if pc, ok := p.(exec.PreCombiner); ok {
				rt.pre = append(rt.pre, pc)
			}
		case kn.group != nil:
			p, err = kn.group.NewInputEncoder(emit)
		default:
			p, err = kn.stateful.NewInputEncoder(emit)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", kn.t.Name(), err)
		}
		bounds[j] = p
	}
	inputs := map[*pipeline.Transform][]any{}
	outsOf := func(t *pipeline.Transform) ([]any, error) {
		outs := make([]any, len(t.Outputs()))
		for oi, c := range t.Outputs() {
			var ps []any
			var seen []*pipeline.Transform
			for _, ct := range c.Consumers() {
				if slices.Contains(seen, ct) {
					continue
				}
				seen = append(seen, ct)
				if _, ok := rt.pl.byT[ct]; ok {
					for _, bd := range rt.pl.boundaries(ct, c) {
						ps = append(ps, bounds[slices.Index(st.outs, bd)])
					}
					continue
				}
				for ii, in := range ct.Inputs() {
					if in == c {
						ps = append(ps, inputs[ct][ii])
					}
				}
			}
			ti, ok := c.Type().(exec.TypeInfo)
			if !ok {
				return nil, fmt.Errorf("kappa/beam: %s: collection type info %T", c, c.Type())
			}
			tee, err := ti.NewTee(ps)
			if err != nil {
				return nil, fmt.Errorf("kappa/beam: %s: %w", c, err)
			}
			outs[oi] = tee
		}
		return outs, nil
	}
	for i := len(st.members) - 1; i >= 0; i-- {
		t := st.members[i]
		outs, err := outsOf(t)
		if err != nil {
			return err
		}
		switch op := t.Op().(type) {
		case exec.SinkOp:
			n := int(shards.Add(1))
			sr, err := op.Open(ctx, pipeline.Shard{Index: n - 1, Count: n, Bundles: true})
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name(), err)
			}
			r, ok := sr.(exec.SinkRunner)
			if !ok {
				return fmt.Errorf("%s: sink runner %T", t.Name(), sr)
			}
			rt.sinks = append(rt.sinks, sinkInst{t: t, r: r, final: finalized(op)})
			inputs[t] = []any{sr}
		case exec.ElementOp:
			inst, err := op.Instantiate(rt.w, outs)
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name(), err)
			}
			if l, ok := inst.(exec.Lifecycle); ok {
				rt.life = append(rt.life, l)
			}
			inputs[t] = slices.Repeat([]any{inst}, max(len(t.Inputs()), 1))
		}
	}
	outs, err := outsOf(st.entry)
	if err != nil {
		return err
	}
	switch st.kind {
	case stageSource:
		rt.src = st.entry.Op().(exec.SourceOp)
		rt.head = outs[0]
		if rt.src.HasDeadLetters() && len(outs) > 1 {
			rt.dlq = outs[1]
		}
	case stageScript:
		src, _ := sourceOf(st.entry.Op().(exec.SourceOp))
		rt.script, err = src.(exec.ScriptedSource).NewDecoder(outs[0])
	case stageGrouped:
		rt.grouped, err = st.in.group.NewGroupedOutput(outs[0])
	case stageCombined:
		rt.grouped, err = st.in.group.NewGroupedOutput(outs[0])
	case stageStateful:
		rt.stateful, err = st.in.stateful.NewPortable(rt.w, outs[0])
	case stageSide:
		err = rt.instantiateSide(outs)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", st.entry.Name(), err)
	}
	return nil
}

// boundaryEmit returns the function that hands an encoded element to boundary output j (the input of keyed
// operator kn). Beam's WindowInto before the keyed operator assigns windows again from timestamps, so the
// timestamp is chosen to land the element in the window kappa gave it.
func (rt *stageRT) boundaryEmit(b *stageBase, j int, kn *keyedNode) exec.EmitKV {
	return func(key, value []byte, m exec.Meta) error {
		ts, err := boundaryTime(kn.st, m)
		if err != nil {
			return fmt.Errorf("%s: %w", kn.t.Name(), err)
		}
		b.e[j](toBeamTime(ts), slices.Clone(key), slices.Clone(value))
		return nil
	}
}

// boundaryTime returns the timestamp under which an element of window m.Window enters a keyed operator with
// strategy st, or an error when no timestamp puts it in that window (it was re-windowed by EmitElement).
func boundaryTime(st *windowing.Strategy, m exec.Meta) (pipeline.Time, error) {
	if st.Deferred {
		if !m.Window.IsGlobal() {
			return 0, fmt.Errorf("an element in window %s entered a grouping over sliding windows that Beam assigns itself; elements that a transform put in a window of their own (EmitElement with another window) are not supported on Beam", m.Window)
		}
		return m.Time, nil
	}
	switch fn := st.WindowFn().(type) {
	case windowing.Global:
		if !m.Window.IsGlobal() {
			return 0, rewindowed(m.Window, st)
		}
		return m.Time, nil
	case windowing.Fixed:
		if fn.Window(m.Time) == m.Window {
			return m.Time, nil
		}
		if fn.Window(m.Window.MaxTimestamp()) == m.Window {
			return m.Window.MaxTimestamp(), nil
		}
		return 0, rewindowed(m.Window, st)
	case windowing.Sessions:
		if m.Window.End == m.Window.Start.Add(fn.Gap) {
			return m.Window.Start, nil
		}
		return m.Time, nil
	case windowing.Sliding:
		// Materialised sliding windows (validate refuses them before a grouping); take the timestamp as it is.
		return m.Time, nil
	}
	return 0, fmt.Errorf("window function %s is not supported on Beam", st.WindowFn())
}

func rewindowed(w pipeline.Window, st *windowing.Strategy) error {
	return fmt.Errorf("an element in window %s entered a grouping whose windowing (%s) does not assign that window; elements that a transform put in a window of their own (EmitElement with another window) are not supported on Beam: window them with windowing.Into instead", w, st)
}

func toBeamTime(t pipeline.Time) beam.EventTime {
	switch {
	case t <= pipeline.Time(mtime.MinTimestamp):
		return mtime.MinTimestamp
	case t >= pipeline.Time(mtime.MaxTimestamp):
		return mtime.MaxTimestamp
	}
	return mtime.Time(t)
}

func fromBeamTime(t beam.EventTime, w pipeline.Window) pipeline.Time {
	switch {
	case t <= mtime.MinTimestamp:
		return pipeline.MinTime
	case t >= mtime.MaxTimestamp:
		return pipeline.MaxTime
	case w.IsGlobal() && t >= mtime.EndOfGlobalWindowTime:
		return pipeline.GlobalWindow.MaxTimestamp()
	}
	return pipeline.Time(t)
}

func fromBeamWindow(w beam.Window) pipeline.Window {
	switch w := w.(type) {
	case window.IntervalWindow:
		return pipeline.Window{Start: pipeline.Time(w.Start), End: pipeline.Time(w.End)}
	case *window.IntervalWindow:
		return pipeline.Window{Start: pipeline.Time(w.Start), End: pipeline.Time(w.End)}
	}
	return pipeline.GlobalWindow
}

func fromBeamPane(p typex.PaneInfo) pipeline.Pane {
	out := pipeline.Pane{Index: p.Index, NonSpeculativeIndex: p.NonSpeculativeIndex, First: p.IsFirst, Last: p.IsLast}
	switch p.Timing {
	case typex.PaneEarly:
		out.Timing = pipeline.Early
	case typex.PaneOnTime:
		out.Timing = pipeline.OnTime
	case typex.PaneLate:
		out.Timing = pipeline.Late
	}
	return out
}

func meta(pn typex.PaneInfo, w beam.Window, ts beam.EventTime) exec.Meta {
	kw := fromBeamWindow(w)
	return exec.Meta{Time: fromBeamTime(ts, kw), Window: kw, Pane: fromBeamPane(pn)}
}

// readLimits bound one read of a split inside the source DoFn.
var readLimits = pipeline.Limits{MaxRecords: 10000, MaxBytes: 16 << 20}

func (b *stageBase) readSplit(ctx context.Context, split []byte) error {
	rt := b.rt
	var sp pipeline.Split
	if err := json.Unmarshal(split, &sp); err != nil {
		return fmt.Errorf("%s: bad split: %w", rt.st.entry.Name(), err)
	}
	return guard(rt.w, func() error {
		r, err := rt.src.Open(ctx, sp, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", rt.st.entry.Name(), err)
		}
		sr, ok := r.(exec.SplitRunner)
		if !ok {
			return fmt.Errorf("%s: split reader %T", rt.st.entry.Name(), r)
		}
		defer sr.Close()
		for {
			_, _, _, _, err := sr.Read(ctx, readLimits, rt.head, rt.dlq)
			if errors.Is(err, pipeline.ErrEndOfInput) {
				return nil
			}
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
}

func (b *stageBase) pushScript(ctx context.Context, ts beam.EventTime, v []byte) error {
	rt := b.rt
	return guard(rt.w, func() error {
		return rt.script(pipeline.Element[[]byte]{Value: v, Time: fromBeamTime(ts, pipeline.GlobalWindow), Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane})
	})
}

func (b *stageBase) pushGrouped(ctx context.Context, pn beam.PaneInfo, w beam.Window, ts beam.EventTime, k []byte, vs func(*[]byte) bool) error {
	rt := b.rt
	values := func(yield func([]byte) bool) {
		var v []byte
		for vs(&v) {
			if !yield(v) {
				return
			}
		}
	}
	if pn.Index == 0 && !pn.IsFirst && onePane(rt.st.in.st) {
		// Prism (v2.77) emits the panes of merged session windows without pane information (the zero PaneInfo,
		// which no firing has: the first pane is marked first). Where the strategy allows exactly one pane per
		// window — watermark trigger without early or late firings, no allowed lateness — it can only be that one.
		pn = typex.PaneInfo{Timing: typex.PaneOnTime, IsFirst: true, IsLast: true}
	}
	return guard(rt.w, func() error { return rt.grouped(k, values, meta(pn, w, ts)) })
}

// onePane reports whether strategy st fires exactly one (on-time) pane per key and window.
func onePane(st *windowing.Strategy) bool {
	if st.AllowedLateness != 0 {
		return false
	}
	switch t := st.TriggerOrDefault().(type) {
	case windowing.Default:
		return true
	case windowing.AfterWatermark:
		return t.Early == nil && t.Late == nil
	}
	return false
}

// statefulIO is the Beam state and timers of the key and window being processed.
type statefulIO struct {
	cells *state.Value[[]byte]
	event timers.EventTime
	sp    state.Provider
	tp    timers.Provider
}

// timerID names a timer of a key and window.
type timerID struct {
	key string
	win pipeline.Window
	tag string
}

func (io *statefulIO) load() (*exec.StateIO, error) {
	cells, _, err := io.cells.Read(io.sp)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return &exec.StateIO{Cells: cells, Watermark: pipeline.MinTime, Now: time.Now()}, nil
}

// save writes the state the call changed and sets or clears its timers, noting in cleared (keyed by key and
// window) the timers cleared and not set again.
func (io *statefulIO) save(st *exec.StateIO, cleared map[timerID]struct{}, key []byte, w pipeline.Window) error {
	if st.Changed {
		var err error
		if st.Cells == nil {
			err = io.cells.Clear(io.sp)
		} else {
			err = io.cells.Write(io.sp, st.Cells)
		}
		if err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	for _, tc := range st.Timers {
		switch {
		case tc.Clear:
			io.event.ClearTag(io.tp, tc.Name)
			cleared[timerID{key: string(key), win: w, tag: tc.Name}] = struct{}{}
		case tc.ProcessingTime:
			return fmt.Errorf("processing-time timer %q: the Beam runner does not run processing-time timers (Prism's Go SDK harness stalls on them): use an event-time timer, or runners/local", tc.Name)
		default:
			if len(cleared) > 0 { // no key string to build on the common path
				delete(cleared, timerID{key: string(key), win: w, tag: tc.Name})
			}
			if tc.HasOutput {
				io.event.Set(io.tp, tc.Time.Std(), timers.WithTag(tc.Name), timers.WithOutputTimestamp(tc.Output.Std()))
			} else {
				io.event.Set(io.tp, tc.Time.Std(), timers.WithTag(tc.Name))
			}
		}
	}
	return nil
}

func (b *stageBase) pushStateful(ctx context.Context, pn beam.PaneInfo, w beam.Window, ts beam.EventTime, io *statefulIO, k, v []byte) error {
	rt := b.rt
	st, err := io.load()
	if err != nil {
		return fmt.Errorf("%s: %w", rt.st.entry.Name(), err)
	}
	m := meta(pn, w, ts)
	if err := guard(rt.w, func() error { return rt.stateful.Process(ctx, k, v, m, st) }); err != nil {
		return err
	}
	if err := io.save(st, rt.cleared, k, m.Window); err != nil {
		return fmt.Errorf("%s: %w", rt.st.entry.Name(), err)
	}
	return nil
}

func (b *stageBase) onTimer(ctx context.Context, w beam.Window, ts beam.EventTime, io *statefulIO, k []byte, t timers.Context) error {
	rt := b.rt
	m := meta(typex.NoFiringPane(), w, ts)
	if len(rt.cleared) > 0 {
		if _, ok := rt.cleared[timerID{key: string(k), win: m.Window, tag: t.Tag}]; ok {
			return nil // the SDK's inline firing of a timer cleared in this bundle (stageRT.cleared)
		}
	}
	st, err := io.load()
	if err != nil {
		return fmt.Errorf("%s: %w", rt.st.entry.Name(), err)
	}
	ft := exec.FiredTimer{Name: t.Tag, Time: m.Time, PT: time.Now()}
	if err := guard(rt.w, func() error { return rt.stateful.OnTimer(ctx, k, ft, m, st) }); err != nil {
		return err
	}
	if err := io.save(st, rt.cleared, k, m.Window); err != nil {
		return fmt.Errorf("%s: %w", rt.st.entry.Name(), err)
	}
	return nil
}

// finishBundle flushes pre-combined partials across the boundaries and publishes what sinks wrote in the bundle.
func (b *stageBase) finishBundle(ctx context.Context) error {
	rt := b.rt
	clear(rt.sideCache) // Beam's side input data may change from one bundle to the next
	clear(rt.cleared)   // the SDK's timer modifications are per bundle
	return guard(rt.w, func() error {
		for _, pc := range rt.pre {
			if err := pc.Flush(); err != nil {
				return err
			}
		}
		for _, l := range rt.life {
			if err := l.EndOfBatch(ctx); err != nil {
				return err
			}
		}
		for _, s := range rt.sinks {
			if err := s.r.Flush(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.t.Name(), err)
			}
			tok, err := s.r.Prepare(ctx, pipeline.Epoch{ID: rt.epoch, Watermark: pipeline.MinTime})
			if err != nil {
				return fmt.Errorf("%s: %w", s.t.Name(), err)
			}
			if s.final {
				if b.bf == nil {
					return fmt.Errorf("%s: the sink commits in bundle finalization, but the bundle has no finalizer", s.t.Name())
				}
				s := s
				b.bf.RegisterCallback(finalizeTimeout, func() error {
					cctx, cancel := context.WithTimeout(context.Background(), finalizeTimeout)
					defer cancel()
					if err := s.r.Commit(cctx, tok); err != nil {
						return fmt.Errorf("%s: commit in bundle finalization: %w", s.t.Name(), err)
					}
					return nil
				})
				continue
			}
			if err := s.r.Commit(ctx, tok); err != nil {
				return fmt.Errorf("%s: %w", s.t.Name(), err)
			}
		}
		rt.epoch++
		b.bf = nil
		return nil
	})
}

// finalizeTimeout bounds how long a prepared bundle waits for its finalization, and the commit in it.
var finalizeTimeout = 5 * time.Minute

// FinalizedSink is implemented by sinks that keep an exactly-once guarantee on Beam by committing in bundle
// finalization: at the end of a bundle the runner calls Prepare, which must stage the bundle's output where no
// reader sees it and must not depend on the epoch's watermark or Final flag; once the runner has durably persisted
// the bundle's results it calls Commit with the token, which publishes the output and is idempotent. A token of a
// bundle that failed is never committed (its staged output is abandoned: the bundle is retried).
type FinalizedSink interface {
	// CommitsOnBundleFinalization reports whether the sink's Prepare and Commit keep that contract.
	CommitsOnBundleFinalization() bool
}

// finalized reports whether sink op commits in bundle finalization (it is a FinalizedSink and not already safe
// to commit at the end of each bundle).
func finalized(op exec.SinkOp) bool {
	sink, _ := sinkOf(op)
	if bs, ok := sink.(exec.BundleSink); ok && bs.BundleSafe() {
		return false
	}
	fs, ok := sink.(FinalizedSink)
	return ok && fs.CommitsOnBundleFinalization()
}
