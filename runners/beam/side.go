package beam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// Side inputs (transforms.ParDoWithSide, MapWithSide) become Beam's native side inputs. A ParDo with side inputs
// starts a stage of its own: its main input crosses a stage boundary as the stage DoFn's main input, windowed in
// Beam by the main input's window function (so that Beam's window is kappa's), and each side input crosses one as
// a Beam side input (an iterable of encoded elements) of that DoFn. Every element carries a small header with its
// kappa timestamp and pane, so that the views built on the worker apply kappa's latest-pane rule exactly.
//
// Beam maps the main window to a side window with the side window function's default mapping: the side window
// containing the main window's last timestamp. Beam Go picks the *earliest* such sliding window, kappa (and Beam
// Java) the latest, so side windows are not given to Beam as they are: a fixed side window stays itself, and a
// sliding side window [s, s+size) travels as the fixed window [s, s+period) — the one Beam's fixed mapping gives
// for the main windows that kappa maps to [s, s+size) — holding the elements of [s, s+size). A globally windowed
// side input stays global.
//
// On the worker, the view of each side window is built once per bundle from the iterables (Beam's side input
// data is fixed for a bundle) with the transform's own view contents (engine.SideContents), and the DoFn runs with
// them as on runners/local.

// metaHeader appends the element's kappa timestamp and pane to dst.
func metaHeader(dst []byte, t pipeline.Time, p pipeline.Pane) []byte {
	dst = binary.AppendVarint(dst, int64(t))
	dst = binary.AppendVarint(dst, p.Index)
	dst = binary.AppendVarint(dst, p.NonSpeculativeIndex)
	flags := byte(p.Timing) << 2
	if p.First {
		flags |= 1
	}
	if p.Last {
		flags |= 2
	}
	return append(dst, flags)
}

var errHeader = errors.New("kappa/beam: malformed side-input element header")

// readHeader reads a header written by metaHeader and returns the rest of b.
func readHeader(b []byte) (pipeline.Time, pipeline.Pane, []byte, error) {
	var vs [3]int64
	for i := range vs {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, pipeline.Pane{}, nil, errHeader
		}
		vs[i], b = v, b[n:]
	}
	if len(b) == 0 {
		return 0, pipeline.Pane{}, nil, errHeader
	}
	f := b[0]
	p := pipeline.Pane{Index: vs[1], NonSpeculativeIndex: vs[2], Timing: pipeline.Timing(f >> 2), First: f&1 != 0, Last: f&2 != 0}
	return pipeline.Time(vs[0]), p, b[1:], nil
}

// sideEncoder returns the Pusher of boundary j, input b.input of a ParDo with side inputs: it encodes each element
// of the input collection, prefixes the header and emits it with the Beam timestamp that puts it in its Beam
// window (main input: the kappa window; side input: the Beam window standing for the kappa window).
func (rt *stageRT) sideEncoder(sb *stageBase, j int, b boundary) (any, error) {
	t := b.kn.t
	c := t.Inputs()[b.input]
	cd, err := c.Coder()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	codec, ok := c.Type().(exec.Codec)
	if !ok {
		return nil, fmt.Errorf("kappa/beam: %s: collection type %T has no codec", c, c.Type())
	}
	var buf []byte
	out := func(ts pipeline.Time, e pipeline.Element[[]byte]) {
		buf = metaHeader(buf[:0], e.Time, e.Pane)
		buf = append(buf, e.Value...)
		sb.e[j](toBeamTime(ts), nil, slices.Clone(buf))
	}
	if b.input == 0 {
		st := b.kn.st
		return codec.NewEncoder(cd, func(_ []byte, e pipeline.Element[[]byte]) error {
			ts, err := boundaryTime(st, exec.Meta{Time: e.Time, Window: e.Window, Pane: e.Pane})
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name(), err)
			}
			out(ts, e)
			return nil
		})
	}
	st, _ := b.kn.side.SideStrategies()[b.input-1].(*windowing.Strategy)
	if st == nil {
		return nil, fmt.Errorf("kappa/beam: %s: side input %d has no windowing strategy", t.Name(), b.input-1)
	}
	fn := st.WindowFn()
	var wins []pipeline.Window
	return codec.NewEncoder(cd, func(_ []byte, e pipeline.Element[[]byte]) error {
		switch fn := fn.(type) {
		case windowing.Global:
			out(e.Time, e)
			return nil
		case windowing.Fixed:
			ts, err := boundaryTime(st, exec.Meta{Time: e.Time, Window: e.Window, Pane: e.Pane})
			if err != nil {
				return fmt.Errorf("%s: side input %d: %w", t.Name(), b.input-1, err)
			}
			out(ts, e)
			return nil
		case windowing.Sliding:
			// Each kappa window [s, s+size) the element is in travels as Beam's fixed window [s, s+period).
			if e.Window.IsGlobal() {
				wins = fn.AssignWindows(wins[:0], e.Time) // deferred assignment
			} else {
				wins = append(wins[:0], e.Window)
			}
			for _, w := range wins {
				out(w.Start, e)
			}
			return nil
		}
		return fmt.Errorf("%s: side input %d is windowed by %s, which the Beam runner cannot map", t.Name(), b.input-1, fn)
	})
}

// sideBeamWindowing returns the Beam window function of side input i's boundary (see sideEncoder).
func sideBeamWindowing(st *windowing.Strategy) (*window.Fn, error) {
	switch fn := st.WindowFn().(type) {
	case windowing.Global:
		return window.NewGlobalWindows(), nil
	case windowing.Fixed:
		return window.NewFixedWindows(fn.Size), nil
	case windowing.Sliding:
		return window.NewFixedWindows(fn.Period), nil
	}
	return nil, fmt.Errorf("side input windowed by %s: the Beam runner maps only fixed, sliding and global side windows", st.WindowFn())
}

// mainBeamWindowing returns the Beam window function of a side-input ParDo's main input: the main input's own.
func mainBeamWindowing(st *windowing.Strategy) (*window.Fn, error) {
	fn, _, err := beamWindowing(st)
	return fn, err
}

// instantiateSide sets up the entry of a side-input stage: the DoFn runner, the main input's decoder and a view
// builder per side input.
func (rt *stageRT) instantiateSide(outs []any) error {
	t := rt.st.entry
	op := rt.st.in.side
	ps, err := op.NewPortable(rt.w, outs)
	if err != nil {
		return err
	}
	rt.side = ps
	rt.life = append(rt.life, ps)
	dec := func(c *pipeline.Collection, out any) (func(pipeline.Element[[]byte]) error, error) {
		cd, err := c.Coder()
		if err != nil {
			return nil, err
		}
		codec, ok := c.Type().(exec.Codec)
		if !ok {
			return nil, fmt.Errorf("kappa/beam: %s: collection type %T has no codec", c, c.Type())
		}
		return codec.NewDecoder(cd, out)
	}
	if rt.mainDec, err = dec(t.Inputs()[0], ps.Main()); err != nil {
		return err
	}
	for i := range op.SideKinds() {
		fill, take, err := ps.NewViewBuilder(i)
		if err != nil {
			return err
		}
		d, err := dec(t.Inputs()[i+1], fill)
		if err != nil {
			return fmt.Errorf("side input %d: %w", i, err)
		}
		rt.sideDecs = append(rt.sideDecs, d)
		rt.sideTakes = append(rt.sideTakes, take)
	}
	rt.sideCache = map[sideKey]any{}
	return nil
}

// sideKey identifies a view built in a bundle: side input and side window (several main windows map to one side
// window, every one of them to the global window of a globally windowed side input).
type sideKey struct {
	input  int
	window pipeline.Window
}

// pushSide runs the side-input ParDo on one main element (v: header and encoded value) in Beam window w, reading
// side input i from sides[i] (Beam's iterable of side input i for the side window w maps to).
func (b *stageBase) pushSide(w beam.Window, v []byte, sides ...func(*[]byte, *[]byte) bool) error {
	rt := b.rt
	name := rt.st.entry.Name()
	t, pane, body, err := readHeader(v)
	if err != nil {
		return fmt.Errorf("%s: main input: %w", name, err)
	}
	kw := fromBeamWindow(w)
	return guard(rt.w, func() error {
		if len(rt.views) != len(sides) {
			rt.views = make([]any, len(sides))
		}
		for i, it := range sides {
			sw := rt.st.in.side.MapWindow(i, kw)
			key := sideKey{input: i, window: sw}
			view, ok := rt.sideCache[key]
			if !ok {
				var k, sv []byte
				for it(&k, &sv) {
					st, sp, sb, err := readHeader(sv)
					if err != nil {
						return fmt.Errorf("%s: side input %d: %w", name, i, err)
					}
					if err := rt.sideDecs[i](pipeline.Element[[]byte]{Value: sb, Time: st, Window: sw, Pane: sp}); err != nil {
						return fmt.Errorf("%s: side input %d: %w", name, i, err)
					}
				}
				view = rt.sideTakes[i]()
				rt.sideCache[key] = view
			}
			rt.views[i] = view
		}
		rt.side.SetViews(rt.views)
		return rt.mainDec(pipeline.Element[[]byte]{Value: body, Time: t, Window: kw, Pane: pane})
	})
}
