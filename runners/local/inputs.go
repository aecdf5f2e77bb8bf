package local

import (
	"slices"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Per-input watermarks and watermark holds (internal/exec's InputsAdvancer and WatermarkHolder): a keyed
// transform whose consumer holds elements back (a ParDo with side inputs) keeps the watermark of everything
// downstream of it at or below the oldest element it holds, and a consumer that needs each input's watermark gets
// them separately. Pipelines without such consumers see exactly the per-stage watermarks of runner.go.

// holdPlan says, per keyed transform and sink, which sources and holding keyed transforms are upstream.
type holdPlan struct {
	keyed map[*keyedNode]*keyedInputs
	sinks map[*sinkNode][]*keyedNode
}

type keyedInputs struct {
	srcs  [][]int         // per input: the sources upstream
	holds [][]*keyedNode  // per input: the holding keyed transforms upstream
	all   []*keyedNode    // the union of holds
	last  []pipeline.Time // per input: the last watermark given (watermarks only move forward)
	stage pipeline.Time   // the last stage watermark given
	adv   exec.InputsAdvancer
}

// planHolds finds, after every operator is instantiated, the holding keyed transforms upstream of each keyed
// transform's inputs and of each sink.
func (ru *run) planHolds() {
	holding := map[*pipeline.Transform]*keyedNode{}
	advancers := false
	for _, k := range ru.keyed {
		if _, ok := k.cons[0].(exec.WatermarkHolder); ok {
			holding[k.t] = k
		}
		if _, ok := k.cons[0].(exec.InputsAdvancer); ok {
			advancers = true
		}
	}
	if len(holding) == 0 && !advancers {
		return // the plain per-stage watermarks
	}
	srcIdx := map[*pipeline.Transform]int{}
	for i, s := range ru.sources {
		srcIdx[s.t] = i
	}
	type up struct {
		srcs  []int
		holds []*keyedNode
	}
	memo := map[*pipeline.Transform]*up{}
	var upstream func(t *pipeline.Transform) *up // sources and holders upstream of t's outputs, t included
	upstream = func(t *pipeline.Transform) *up {
		if u, ok := memo[t]; ok {
			return u
		}
		u := &up{}
		if i, ok := srcIdx[t]; ok {
			u.srcs = []int{i}
		}
		if k, ok := holding[t]; ok {
			u.holds = []*keyedNode{k}
		}
		for _, in := range t.Inputs() {
			p := upstream(in.Producer())
			for _, i := range p.srcs {
				if !slices.Contains(u.srcs, i) {
					u.srcs = append(u.srcs, i)
				}
			}
			for _, k := range p.holds {
				if !slices.Contains(u.holds, k) {
					u.holds = append(u.holds, k)
				}
			}
		}
		memo[t] = u
		return u
	}
	ru.holds = holdPlan{keyed: map[*keyedNode]*keyedInputs{}, sinks: map[*sinkNode][]*keyedNode{}}
	for _, k := range ru.keyed {
		ki := &keyedInputs{stage: pipeline.MinTime}
		ki.adv, _ = k.cons[0].(exec.InputsAdvancer)
		for _, in := range k.t.Inputs() {
			u := upstream(in.Producer())
			ki.srcs = append(ki.srcs, u.srcs)
			ki.holds = append(ki.holds, u.holds)
			ki.last = append(ki.last, pipeline.MinTime)
			for _, h := range u.holds {
				if !slices.Contains(ki.all, h) {
					ki.all = append(ki.all, h)
				}
			}
		}
		ru.holds.keyed[k] = ki
	}
	for _, s := range ru.sinks {
		var hs []*keyedNode
		for _, in := range s.t.Inputs() {
			for _, h := range upstream(in.Producer()).holds {
				if !slices.Contains(hs, h) {
					hs = append(hs, h)
				}
			}
		}
		ru.holds.sinks[s] = hs
	}
}

// holdOf is the smallest timestamp the holding keyed transform k holds, over its workers.
func (ru *run) holdOf(k *keyedNode) pipeline.Time {
	h := pipeline.MaxTime
	for _, c := range k.cons {
		h = min(h, c.(exec.WatermarkHolder).Hold())
	}
	return h
}

// keyedWatermark is the watermark keyed transform k advances to in this micro-batch: the minimum over its sources
// and over the holds upstream of it, never less than the last one.
func (ru *run) keyedWatermark(k *keyedNode) pipeline.Time {
	wm := ru.stageWatermark(k.srcs)
	ki := ru.holds.keyed[k]
	if ki == nil {
		return wm
	}
	for _, h := range ki.all {
		wm = min(wm, ru.holdOf(h))
	}
	ki.stage = max(ki.stage, wm)
	return ki.stage
}

// inputWatermarks returns, when keyed transform k's consumers want each input's watermark, those watermarks for
// this micro-batch (stage is the stage watermark, for inputs fed by no source); else nil.
func (ru *run) inputWatermarks(k *keyedNode, stage pipeline.Time) []pipeline.Time {
	ki := ru.holds.keyed[k]
	if ki == nil || ki.adv == nil {
		return nil
	}
	wms := make([]pipeline.Time, len(ki.srcs))
	for i := range wms {
		w := stage
		if len(ki.srcs[i]) > 0 {
			w = ru.stageWatermark(ki.srcs[i])
		}
		for _, h := range ki.holds[i] {
			w = min(w, ru.holdOf(h))
		}
		ki.last[i] = max(ki.last[i], w)
		wms[i] = ki.last[i]
	}
	return wms
}

// advance moves consumer c to watermark wm, or to the input watermarks wms when it wants them (inputWatermarks).
func (ru *run) advance(c exec.Consumer, wm pipeline.Time, wms []pipeline.Time, now time.Time) error {
	if wms == nil {
		return c.Advance(wm, now)
	}
	return c.(exec.InputsAdvancer).AdvanceInputs(exec.InputAdvance{Watermarks: wms, Now: now, Batch: ru.cfg.Mode == Batch})
}

// sinkWatermark is the watermark an epoch reports to sink s: the minimum over its sources and the holds upstream.
func (ru *run) sinkWatermark(s *sinkNode) pipeline.Time {
	wm := ru.stageWatermark(s.srcs)
	for _, h := range ru.holds.sinks[s] {
		wm = min(wm, ru.holdOf(h))
	}
	return wm
}
