package beam

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

func init() {
	for _, fn := range stageFnTypes {
		beam.RegisterType(reflect.TypeOf(fn).Elem())
	}
	beam.RegisterType(reflect.TypeOf((*splitsFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*byteCombineFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*streamWatermark)(nil)).Elem())
	register.Emitter3[beam.EventTime, []byte, []byte]()
	register.Emitter1[[]byte]()
	register.Iter1[[]byte]()
	register.Iter2[[]byte, []byte]()
}

// splitsFn lists the splits of a source, on a worker, from Beam's impulse.
type splitsFn struct {
	stageBase
}

func (f *splitsFn) ProcessElement(ctx context.Context, _ []byte, emit func([]byte)) error {
	pl, err := lookupPlan(f.Run, f.Builder, f.Fingerprint, f.Params)
	if err != nil {
		return err
	}
	src := pl.stages[f.Stage].entry.Op().(exec.SourceOp)
	splits, err := src.Splits(ctx)
	if err != nil {
		return fmt.Errorf("%s: splits: %w", pl.stages[f.Stage].entry.Name(), err)
	}
	for _, sp := range splits {
		b, err := json.Marshal(sp)
		if err != nil {
			return err
		}
		emit(b)
	}
	return nil
}

// byteCombineFn is Beam's CombineFn of a lifted kappa grouping, over encoded accumulators: its inputs are the
// partial accumulators the stages upstream pre-combined.
type byteCombineFn struct {
	stageBase
	c exec.ByteCombiner
}

func (f *byteCombineFn) Setup(ctx context.Context) error {
	pl, err := lookupPlan(f.Run, f.Builder, f.Fingerprint, f.Params)
	if err != nil {
		return err
	}
	f.c, err = pl.stages[f.Stage].in.group.ByteCombiner()
	return err
}

func (f *byteCombineFn) CreateAccumulator() []byte {
	a, err := f.c.CreateAccumulator()
	if err != nil {
		panic(err)
	}
	return a
}

func (f *byteCombineFn) AddInput(a, in []byte) []byte { return f.MergeAccumulators(a, in) }

func (f *byteCombineFn) MergeAccumulators(a, b []byte) []byte {
	m, err := f.c.MergeAccumulators(a, b)
	if err != nil {
		panic(err)
	}
	return m
}

func (f *byteCombineFn) ExtractOutput(a []byte) []byte { return a }

// finalizedSink returns a member of stage st that is a sink committing in bundle finalization, or nil.
func finalizedSink(st *stage) *pipeline.Transform {
	for _, t := range st.members {
		if op, ok := t.Op().(exec.SinkOp); ok && finalized(op) {
			return t
		}
	}
	return nil
}

// build translates the plan into a Beam pipeline.
func build(pl *plan, base stageBase) (*beam.Pipeline, error) {
	bp, root := beam.NewPipelineWithRoot()
	outs := map[*stage][]beam.PCollection{}
	// Beam's TestStream must come first (its coder is the pipeline's first).
	scripts := map[*stage]beam.PCollection{}
	for _, st := range pl.stages {
		if st.kind != stageScript {
			continue
		}
		src, _ := sourceOf(st.entry.Op().(exec.SourceOp))
		steps, err := src.(exec.ScriptedSource).Script()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.entry.Name(), err)
		}
		cfg := teststream.NewConfig()
		wm := pipeline.MinTime
		for _, step := range steps {
			switch {
			case step.Elements != nil:
				for _, e := range step.Elements {
					if err := cfg.AddElements(int64(toBeamTime(e.Time)), e.Value); err != nil {
						return nil, fmt.Errorf("%s: %w", st.entry.Name(), err)
					}
				}
			case step.Watermark != pipeline.MinTime:
				if step.Watermark > wm {
					wm = step.Watermark
					if err := cfg.AdvanceWatermark(int64(toBeamTime(step.Watermark))); err != nil {
						return nil, fmt.Errorf("%s: %w", st.entry.Name(), err)
					}
				}
			case step.Advance > 0:
				cfg.AdvanceProcessingTime(step.Advance.Milliseconds())
			}
		}
		if wm != pipeline.MaxTime {
			if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
				return nil, fmt.Errorf("%s: %w", st.entry.Name(), err)
			}
		}
		scripts[st] = teststream.Create(root.Scope(st.entry.Name()), cfg)
	}
	for _, st := range pl.stages {
		b := base
		b.Stage = st.id
		s := root.Scope(st.entry.Name())
		stream := st.kind == stageSource && !st.entry.Op().(exec.SourceOp).Bounded()
		fn := newStageFn(st.kind, len(st.outs), b)
		if stream {
			fn = newStreamFn(len(st.outs), b)
		}
		if st.kind == stageSide {
			fn = newSideFn(len(st.entry.Inputs())-1, len(st.outs), b)
		}
		if fin := finalizedSink(st); fin != nil {
			if fn = newFinFn(st.kind, stream, len(st.outs), b); fn == nil {
				return nil, fmt.Errorf("%s: sink %s commits in bundle finalization, which the Beam runner supports only in stages that start at a source, a test stream or a grouping, not after a stateful ParDo or a ParDo with side inputs: write after a grouping, or use a bundle-safe sink", st.entry.Name(), fin.Name())
			}
		}
		if fn == nil {
			return nil, fmt.Errorf("%s: %d outputs to keyed transforms; the Beam runner supports at most %d per stage", st.entry.Name(), len(st.outs), maxOutputs)
		}
		var in beam.PCollection
		var opts []beam.Option
		switch st.kind {
		case stageSide:
			var err error
			if in, opts, err = sideInputs(s, st.in, outs); err != nil {
				return nil, fmt.Errorf("%s: %w", st.entry.Name(), err)
			}
		case stageScript:
			in = scripts[st]
		case stageSource:
			imp := beam.Impulse(s)
			splits := beam.ParDo(s, &splitsFn{stageBase: b}, imp)
			in = beam.Reshuffle(s, splits)
		default:
			kn := st.in
			cols := fromCols(kn, 0, outs)
			col := cols[0]
			if len(cols) > 1 {
				col = beam.Flatten(s, cols...)
			}
			wfn, opts, err := beamWindowing(kn.st)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kn.t.Name(), err)
			}
			col = beam.WindowInto(s, wfn, col, opts...)
			switch st.kind {
			case stageGrouped:
				in = beam.GroupByKey(s, col)
			case stageCombined:
				// Partial accumulators, pre-combined per bundle by the stages upstream, grouped and merged by
				// the entry. Beam Go's CombinePerKey would merge them too, but its outputs carry no pane
				// (Prism, v2.77): triggered panes would lose their index and timing.
				in = beam.GroupByKey(s, col)
			case stageStateful:
				in = col
			}
		}
		if len(st.outs) == 0 {
			beam.ParDo0(s, fn, in, opts...)
			continue
		}
		outs[st] = beam.ParDoN(s, fn, in, opts...)
	}
	return bp, nil
}

// fromCols returns the Beam collections of the stage outputs feeding input in of keyed node kn.
func fromCols(kn *keyedNode, in int, outs map[*stage][]beam.PCollection) []beam.PCollection {
	var cols []beam.PCollection
	for _, f := range kn.from {
		if f.input == in {
			cols = append(cols, outs[f.stage][f.index])
		}
	}
	return cols
}

// sideInputs returns the main input of the stage starting at ParDo-with-side-inputs kn, windowed as kappa windows
// it, and its side inputs, each windowed so that Beam's window mapping gives the side window kappa maps to
// (side.go).
func sideInputs(s beam.Scope, kn *keyedNode, outs map[*stage][]beam.PCollection) (beam.PCollection, []beam.Option, error) {
	flat := func(in int) (beam.PCollection, error) {
		cols := fromCols(kn, in, outs)
		switch len(cols) {
		case 0:
			return beam.PCollection{}, fmt.Errorf("input %d (%s) is produced by no stage", in, kn.t.Inputs()[in])
		case 1:
			return cols[0], nil
		}
		return beam.Flatten(s, cols...), nil
	}
	main, err := flat(0)
	if err != nil {
		return main, nil, err
	}
	wfn, err := mainBeamWindowing(kn.st)
	if err != nil {
		return main, nil, err
	}
	main = beam.WindowInto(s, wfn, main)
	var opts []beam.Option
	for i, x := range kn.side.SideStrategies() {
		st, _ := x.(*windowing.Strategy)
		if st == nil {
			return main, nil, fmt.Errorf("side input %d has no windowing strategy", i)
		}
		col, err := flat(i + 1)
		if err != nil {
			return main, nil, err
		}
		wfn, err := sideBeamWindowing(st)
		if err != nil {
			return main, nil, fmt.Errorf("side input %d: %w", i, err)
		}
		opts = append(opts, beam.SideInput{Input: beam.WindowInto(s, wfn, col)})
	}
	return main, opts, nil
}
