package engine

import (
	"context"
	"fmt"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Portable side inputs (exec.SideOp): a runner whose engine broadcasts side inputs itself (runners/beam, with
// Beam's native side inputs) hands the operator each main element with the contents of its side windows, which it
// builds from the side elements its engine gives it, through view builders; readiness, holds and broadcast are the
// engine's.

// MainStrategy returns the main input's *windowing.Strategy.
func (o *SideParDoOp[In]) MainStrategy() any { return o.spec.Strategy }

// SideStrategies returns each side input's *windowing.Strategy, in input order.
func (o *SideParDoOp[In]) SideStrategies() []any {
	out := make([]any, len(o.spec.Sides))
	for i, s := range o.spec.Sides {
		out[i] = s.strategy()
	}
	return out
}

// SideKinds names each side input's view kind ("AsMap", …), in input order.
func (o *SideParDoOp[In]) SideKinds() []string {
	out := make([]string, len(o.spec.Sides))
	for i, s := range o.spec.Sides {
		out[i] = s.Kind()
	}
	return out
}

// NewPortable returns the DoFn runner of one worker of a portable engine; outs[i] is a Pusher of output i's type.
func (o *SideParDoOp[In]) NewPortable(w *exec.Worker, outs []any) (exec.PortableSide, error) {
	if len(outs) != len(o.spec.Outputs) {
		return nil, fmt.Errorf("%s: runner gave %d outputs, want %d", o.name, len(outs), len(o.spec.Outputs))
	}
	p := &portableSide[In]{op: o, w: w, fn: o.spec.Fn}
	if pw, ok := p.fn.(perWorker); ok {
		p.fn = pw.NewWorker()
	}
	process, err := o.spec.Bind(p.fn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	p.process = process
	for i, mk := range o.spec.Outputs {
		e, err := mk(outs[i])
		if err != nil {
			return nil, fmt.Errorf("%s: output %d: %w", o.name, i, err)
		}
		e.setCurrent(&p.meta)
		p.emits = append(p.emits, e)
	}
	p.side.views = make([]any, len(o.spec.Sides))
	return p, nil
}

type portableSide[In any] struct {
	op      *SideParDoOp[In]
	w       *exec.Worker
	fn      any
	process SideProcessFunc[In]
	emits   []EmitterBase
	meta    Meta
	side    SideValues
	views   []any
}

// Main returns the Pusher of main elements: each is processed at once with the views of the last SetViews.
func (p *portableSide[In]) Main() any { return p }

// SetViews sets the contents of each side input's window for the main elements pushed next (nil: empty).
func (p *portableSide[In]) SetViews(views []any) { p.views = views }

// Push calls the DoFn on e with the views set.
func (p *portableSide[In]) Push(e pipeline.Element[In]) error {
	copy(p.side.views, p.views)
	p.side.err = nil
	p.meta = Meta{T: e.Time, W: e.Window, Pane: e.Pane}
	p.w.Current = p.op.name
	err := p.process(p.w.Ctx, e, &p.side, p.emits)
	if err == nil {
		err = p.side.err
	}
	for _, em := range p.emits {
		if ferr := em.FirstErr(); err == nil {
			err = ferr
		}
	}
	clear(p.side.views)
	if err != nil {
		return fmt.Errorf("%s: %w", p.op.name, err)
	}
	return nil
}

// NewViewBuilder returns, for side input i, a Pusher of the side input's element type that applies elements to the
// contents being built (the view's latest-pane rule), and take, which returns those contents (nil when nothing was
// pushed) and starts new ones.
func (p *portableSide[In]) NewViewBuilder(i int) (fill any, take func() any, err error) {
	if i < 0 || i >= len(p.op.spec.Sides) {
		return nil, nil, fmt.Errorf("%s: no side input %d", p.op.name, i)
	}
	vb, ok := p.op.spec.Sides[i].(interface{ newViewBuilder() *viewBuilderAny })
	if !ok {
		return nil, nil, fmt.Errorf("%s: side input %d (%s) cannot build views", p.op.name, i, p.op.spec.Sides[i].Kind())
	}
	b := vb.newViewBuilder()
	return b.fill, b.take, nil
}

type viewBuilderAny struct {
	fill any
	take func() any
}

type viewBuilder[T any] struct {
	newContents func() SideContents[T]
	cur         SideContents[T]
}

func (s *sideInput[T]) newViewBuilder() *viewBuilderAny {
	b := &viewBuilder[T]{newContents: s.newContents}
	return &viewBuilderAny{fill: b, take: b.take}
}

// Push applies e to the contents being built.
func (b *viewBuilder[T]) Push(e pipeline.Element[T]) error {
	if b.cur == nil {
		b.cur = b.newContents()
	}
	b.cur.Add(e)
	return nil
}

func (b *viewBuilder[T]) take() any {
	c := b.cur
	b.cur = nil
	if c == nil {
		return nil
	}
	return c
}

// MapWindow returns the window of side input i that main window w maps to (the side window containing w's last
// timestamp; the latest-starting one for sliding windows; the global window for a globally windowed side input),
// as the local runner maps it.
func (o *SideParDoOp[In]) MapWindow(i int, w pipeline.Window) pipeline.Window { return o.maps[i](w) }

// Start calls the DoFn's Setup.
func (p *portableSide[In]) Start(ctx context.Context) error {
	if s, ok := p.fn.(setupper); ok {
		p.w.Current = p.op.name
		if err := s.Setup(ctx); err != nil {
			return fmt.Errorf("%s: setup: %w", p.op.name, err)
		}
	}
	return nil
}

// EndOfBatch does nothing.
func (p *portableSide[In]) EndOfBatch(context.Context) error { return nil }

// Finish calls the DoFn's Teardown.
func (p *portableSide[In]) Finish(ctx context.Context) error {
	if t, ok := p.fn.(teardowner); ok {
		p.w.Current = p.op.name
		if err := t.Teardown(ctx); err != nil {
			return fmt.Errorf("%s: teardown: %w", p.op.name, err)
		}
	}
	return nil
}

var _ exec.SideOp = (*SideParDoOp[int])(nil)
