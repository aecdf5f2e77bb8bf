package beam

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// A plan cuts a kappa graph into stages. A stage starts at an entry — a source split, a scripted test stream, the
// output of a grouping (grouped values or a combined accumulator) or a stateful ParDo — and holds every
// element-wise operator and sink reachable from it without crossing a keyed operator: one Beam DoFn runs the whole
// chain, so only what crosses a stage boundary (the input of a keyed operator) is encoded. An element-wise operator
// reachable from several entries (a Flatten of two stages' outputs) runs in each of them. Every boundary is the
// input of a keyed operator: the stages that reach it emit encoded keys and values (or partial accumulators),
// Beam flattens them, windows them with the operator's strategy and groups, combines or runs the stateful DoFn.
//
// The plan is a pure function of the graph, so a worker that rebuilds the pipeline by name gets the same stages;
// the fingerprint (a hash of the graph dump) checks that it did.

type stageKind uint8

const (
	stageSource stageKind = iota
	stageScript
	stageCombined
	stageGrouped
	stageStateful
	stageSide
)

func (k stageKind) String() string {
	return [...]string{"source", "script", "combined", "grouped", "stateful", "side"}[k]
}

type stage struct {
	id      int
	kind    stageKind
	entry   *pipeline.Transform
	members []*pipeline.Transform // element-wise operators and sinks, topological order
	outs    []boundary            // boundary outputs, in emitter order
	in      *keyedNode            // the keyed operator this stage starts at (keyed kinds)
}

// boundary is one boundary output of a stage: the input of a keyed operator. Groupings and stateful ParDos have
// one input (0); a ParDo with side inputs has its main input (0) and one per side input, each a boundary of its
// own (they travel apart: the main input as Beam's main input, the others as Beam side inputs).
type boundary struct {
	kn    *keyedNode
	input int
}

type keyedNode struct {
	t        *pipeline.Transform
	group    exec.GroupOp    // GroupByKey, CombinePerKey, CoGroupByKey
	stateful exec.StatefulOp // StatefulParDo
	side     exec.SideOp     // ParDoWithSide, MapWithSide
	st       *windowing.Strategy
	from     []stageOut // the stage outputs that feed it
	stage    *stage     // the stage starting at its output
}

type stageOut struct {
	stage *stage
	index int
	input int // the keyed operator's input it feeds
}

type plan struct {
	p           *pipeline.Pipeline
	fingerprint string
	stages      []*stage
	keyed       []*keyedNode
	byT         map[*pipeline.Transform]*keyedNode
}

// fingerprint hashes the graph dump (transform names, operators, collections and their types).
func fingerprint(p *pipeline.Pipeline) string {
	h := sha256.Sum256([]byte(p.String()))
	return hex.EncodeToString(h[:12])
}

// newPlan cuts p into stages. It fails on operators it does not know; validate reports everything Beam cannot
// run, with advice, before this.
func newPlan(p *pipeline.Pipeline) (*plan, error) {
	pl := &plan{p: p, fingerprint: fingerprint(p), byT: map[*pipeline.Transform]*keyedNode{}}
	for _, t := range p.Transforms() {
		switch op := t.Op().(type) {
		case exec.SourceOp:
			kind := stageSource
			if src, ok := sourceOf(op); ok {
				if _, scripted := src.(exec.ScriptedSource); scripted {
					kind = stageScript
				}
			}
			if err := pl.addStage(kind, t, nil); err != nil {
				return nil, err
			}
		case exec.KeyedOp:
			kn := pl.keyedFor(t)
			if kn.group == nil && kn.stateful == nil && kn.side == nil {
				return nil, fmt.Errorf("%s: keyed operator %T has no portable description", t.Name(), op)
			}
			pl.keyed = append(pl.keyed, kn)
			kind := stageStateful
			if kn.side != nil {
				kind = stageSide
			}
			if kn.group != nil {
				kind = stageGrouped
				if kn.group.Lifted() {
					kind = stageCombined
				}
			}
			if err := pl.addStage(kind, t, kn); err != nil {
				return nil, err
			}
		case exec.ElementOp, exec.SinkOp:
		default:
			return nil, fmt.Errorf("%s: the Beam runner cannot execute operator %T", t.Name(), t.Op())
		}
	}
	return pl, nil
}

func sourceOf(op exec.SourceOp) (any, bool) {
	s, ok := op.(interface{ Source() any })
	if !ok {
		return nil, false
	}
	return s.Source(), true
}

func (pl *plan) addStage(kind stageKind, entry *pipeline.Transform, in *keyedNode) error {
	st := &stage{id: len(pl.stages), kind: kind, entry: entry, in: in}
	if in != nil {
		in.stage = st
	}
	member := map[*pipeline.Transform]bool{}
	var visit func(c *pipeline.Collection) error
	visit = func(c *pipeline.Collection) error {
		for _, ct := range c.Consumers() {
			switch ct.Op().(type) {
			case exec.KeyedOp:
				for _, b := range pl.boundaries(ct, c) {
					if !slices.Contains(st.outs, b) {
						st.outs = append(st.outs, b)
					}
				}
			case exec.ElementOp, exec.SinkOp:
				if member[ct] {
					continue
				}
				member[ct] = true
				for _, o := range ct.Outputs() {
					if err := visit(o); err != nil {
						return err
					}
				}
			default:
				return fmt.Errorf("%s: the Beam runner cannot execute operator %T", ct.Name(), ct.Op())
			}
		}
		return nil
	}
	for _, o := range entry.Outputs() {
		if err := visit(o); err != nil {
			return err
		}
	}
	for _, t := range pl.p.Transforms() {
		if member[t] {
			st.members = append(st.members, t)
		}
	}
	for i, b := range st.outs {
		b.kn.from = append(b.kn.from, stageOut{stage: st, index: i, input: b.input})
	}
	pl.stages = append(pl.stages, st)
	return nil
}

// keyedFor returns the node of a keyed transform, creating it ahead of its own turn when a stage reaches it.
func (pl *plan) keyedFor(t *pipeline.Transform) *keyedNode {
	if kn, ok := pl.byT[t]; ok {
		return kn
	}
	kn := &keyedNode{t: t}
	switch d := t.Op().(type) {
	case exec.GroupOp:
		kn.group = d
		kn.st, _ = d.InputStrategy().(*windowing.Strategy)
	case exec.StatefulOp:
		kn.stateful = d
		kn.st, _ = d.InputStrategy().(*windowing.Strategy)
	case exec.SideOp:
		kn.side = d
		kn.st, _ = d.MainStrategy().(*windowing.Strategy)
	}
	if kn.st == nil {
		kn.st = &windowing.Strategy{}
	}
	pl.byT[t] = kn
	return kn
}

// boundaries returns the boundaries by which collection c enters keyed transform t: one for a grouping or a
// stateful ParDo, one per input that c is for a ParDo with side inputs (a collection may be its main input and a
// side input, or several side inputs).
func (pl *plan) boundaries(t *pipeline.Transform, c *pipeline.Collection) []boundary {
	kn := pl.keyedFor(t)
	if kn.side == nil {
		return []boundary{{kn: kn}}
	}
	var out []boundary
	for i, in := range t.Inputs() {
		if in == c {
			out = append(out, boundary{kn: kn, input: i})
		}
	}
	return out
}
