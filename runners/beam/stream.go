package beam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// OffsetPositions is what an unbounded source implements to be read on Beam: its split positions are offsets
// (io/kafkaio.Source: the next offset of a partition), so that a split's restriction is an offset range that the
// runner checkpoints and resumes.
type OffsetPositions interface {
	// PositionOffset returns the next offset that a position of the source's split reader holds.
	PositionOffset(pos []byte) (int64, error)
	// OffsetPosition returns the position at which a split reader opened with it reads offset next first.
	OffsetPosition(next int64) []byte
}

// streamSlice is how long one call of the stream DoFn reads before it checkpoints (hands the rest of its
// restriction back to the runner), so that bundles end, sinks commit and the watermark moves.
var streamSlice = 500 * time.Millisecond

// lastData holds when each split of a run last read a record, across the calls of its resumed restriction (in
// this process: a split resumed on another worker starts its idle clock again).
var lastData sync.Map

// noOffset is the restriction start of a split that has no position yet: the reader starts where the source's
// configuration says (e.g. Kafka's earliest offset).
const noOffset = -1

// streamBase is the splittable DoFn of an unbounded source: its element is a split (JSON), its restriction the
// offset range [next offset, ∞) of that split, its watermark estimator the source's (kappa's) estimator.
type streamBase struct {
	stageBase
}

// CreateInitialRestriction starts a split where the source's configuration says.
func (b *streamBase) CreateInitialRestriction(_ []byte) offsetrange.Restriction {
	return offsetrange.Restriction{Start: noOffset, End: math.MaxInt64}
}

// SplitRestriction keeps a split's restriction whole: a split is the unit of parallelism.
func (b *streamBase) SplitRestriction(_ []byte, r offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{r}
}

// RestrictionSize is unknown for a stream; every split weighs the same.
func (b *streamBase) RestrictionSize(_ []byte, _ offsetrange.Restriction) float64 { return 1 }

// CreateTracker returns the tracker of a split's offset range.
func (b *streamBase) CreateTracker(r offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(&streamTracker{rest: r, next: r.Start})
}

// TruncateRestriction ends a split when the pipeline drains.
func (b *streamBase) TruncateRestriction(rt *sdf.LockRTracker, _ []byte) offsetrange.Restriction {
	r := rt.GetRestriction().(offsetrange.Restriction)
	return offsetrange.Restriction{Start: r.Start, End: r.Start}
}

// InitialWatermarkEstimatorState starts a split's watermark at the beginning of time.
func (b *streamBase) InitialWatermarkEstimatorState(_ beam.EventTime, _ offsetrange.Restriction, _ []byte) int64 {
	return int64(mtime.MinTimestamp)
}

// CreateWatermarkEstimator returns kappa's watermark estimator of the source, resumed at state (milliseconds).
func (b *streamBase) CreateWatermarkEstimator(state int64) *streamWatermark {
	we := &streamWatermark{state: state}
	if b.rt != nil && b.rt.src != nil {
		we.est = b.rt.src.NewWatermarkEstimator()
	}
	return we
}

// WatermarkEstimatorState is the watermark reached, kept across checkpoints.
func (b *streamBase) WatermarkEstimatorState(we *streamWatermark) int64 {
	return int64(we.current())
}

// streamWatermark drives Beam's output watermark of a split from kappa's watermark estimator of the source
// (pipeline.WatermarkEstimator: BoundedOutOfOrderness by default), never moving it back.
//
// Prism (v2.77) takes a stage's output watermark from the residuals of the last bundle that returned any, not the
// minimum over every split still pending, so one split's watermark would run ahead of the others' data. The
// watermark a split reports is therefore the watermark of its stage's source as runners/local computes it, over
// the splits of the stage that this process knows of (splitMarks: all of the source's splits, listed once),
// idleness included: a split that has read no record for the source's IdleTimeout does not hold it back.
type streamWatermark struct {
	mu    sync.Mutex
	est   pipeline.WatermarkEstimator
	state int64 // watermark reached by this split, Beam milliseconds
	marks *splitMarks
	split string
}

// splitMarks holds the watermark and the time of the last record read of every split of one unbounded source
// stage in this process, and the stage's watermark computed from them.
type splitMarks struct {
	mu   sync.Mutex
	idle time.Duration // the source's IdleTimeout; 0: splits never count as idle
	m    map[string]*splitMark
	wm   int64 // the stage's watermark reported so far (it never moves back)
}

// splitMark is one split's entry of splitMarks.
type splitMark struct {
	wm       int64     // the split's own watermark, Beam milliseconds
	lastData time.Time // when the split last read a record (or was listed)
	ended    bool
}

var stageMarks sync.Map // run/stage → *splitMarks

// marksOf returns the split watermarks of the stage, listing the source's splits the first time.
func (b *streamBase) marksOf(ctx context.Context) (*splitMarks, error) {
	key := fmt.Sprintf("%s/%d", b.Run, b.Stage)
	if v, ok := stageMarks.Load(key); ok {
		return v.(*splitMarks), nil
	}
	splits, err := b.rt.src.Splits(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: splits: %w", b.rt.st.entry.Name(), err)
	}
	now := time.Now()
	sm := &splitMarks{idle: b.rt.src.IdleTimeout(), m: map[string]*splitMark{}, wm: int64(mtime.MinTimestamp)}
	for _, sp := range splits {
		sm.m[sp.ID] = &splitMark{wm: int64(mtime.MinTimestamp), lastData: now}
	}
	v, _ := stageMarks.LoadOrStore(key, sm)
	return v.(*splitMarks), nil
}

// mark returns the entry of split, adding it when the source listed it after the stage's first split started.
func (sm *splitMarks) mark(split string, now time.Time) *splitMark {
	m, ok := sm.m[split]
	if !ok {
		m = &splitMark{wm: int64(mtime.MinTimestamp), lastData: now}
		sm.m[split] = m
	}
	return m
}

// data records that split read a record at now.
func (sm *splitMarks) data(split string, now time.Time) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.mark(split, now).lastData = now
}

// end records that split ended: it no longer counts.
func (sm *splitMarks) end(split string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	m := sm.mark(split, time.Now())
	m.ended, m.wm = true, int64(mtime.MaxTimestamp)
}

// set records split's own watermark wm and returns the stage's watermark at now, by runners/local's rule for a
// source: the minimum over the splits that have not ended, leaving out those idle (no record for the idle
// timeout) while any is active; when every one is idle, the maximum over them (nothing is arriving, so nothing can
// be late relative to what was seen: Flink's StatusWatermarkValve); when every one has ended, the end of time.
// The stage's watermark never moves back.
func (sm *splitMarks) set(split string, wm int64, now time.Time) int64 {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if m := sm.mark(split, now); wm > m.wm {
		m.wm = wm
	}
	var v exec.IdleValve[int64]
	for _, m := range sm.m {
		if !m.ended {
			v.Add(m.wm, sm.idle > 0 && now.Sub(m.lastData) >= sm.idle)
		}
	}
	low := int64(mtime.MaxTimestamp) // every split ended
	if wm, ok, _ := v.Watermark(); ok {
		low = wm
	}
	sm.wm = max(sm.wm, low)
	return sm.wm
}

func (w *streamWatermark) bind(sm *splitMarks, split string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.marks, w.split = sm, split
}

// end marks the split ended: it no longer holds its stage's watermark back.
func (w *streamWatermark) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state = int64(mtime.MaxTimestamp)
	if w.marks != nil {
		w.marks.end(w.split)
	}
}

// observe feeds the largest event time of a batch of records read to the estimator and restarts the split's idle
// clock.
func (w *streamWatermark) observe(maxTime pipeline.Time, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.est != nil && maxTime != pipeline.MinTime {
		w.est.Observe(maxTime)
	}
	if w.marks != nil {
		w.marks.data(w.split, now)
	}
}

func (w *streamWatermark) current() mtime.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.est != nil {
		if wm := int64(toBeamTime(w.est.Watermark(time.Now()))); wm > w.state {
			w.state = wm
		}
	}
	return mtime.Time(w.state)
}

// CurrentWatermark implements Beam's WatermarkEstimator: the stage's watermark over its splits (splitMarks.set).
func (w *streamWatermark) CurrentWatermark() time.Time {
	own := int64(w.current())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.marks == nil {
		return mtime.Time(own).ToTime()
	}
	return mtime.Time(w.marks.set(w.split, own, time.Now())).ToTime()
}

// streamTracker tracks a split's offset range [Start, End): a claim moves the next offset to read; the split
// ends when the source reports the end of its input or stays idle for the run's StopWhenIdle. The runner may
// checkpoint it only where the DoFn offers (between two reads, when it returns to be resumed), so that no record
// pushed into the stage is outside the restriction that committed it.
type streamTracker struct {
	rest       offsetrange.Restriction
	next       int64
	done       bool
	checkpoint bool
	err        error
}

// streamEnd claims the rest of a split.
type streamEnd struct{}

// TryClaim claims the offsets up to next (an int64), or the rest of the split (streamEnd).
func (t *streamTracker) TryClaim(pos any) bool {
	if t.done {
		return false
	}
	switch p := pos.(type) {
	case int64:
		if p < t.next && t.next != noOffset {
			t.err = fmt.Errorf("kappa/beam: claim of offset %d behind the next offset %d", p, t.next)
			return false
		}
		t.next = p
		return true
	case streamEnd:
		t.rest.End = max(t.next, t.rest.Start)
		t.done = true
		return true
	}
	t.err = fmt.Errorf("kappa/beam: claim of %T", pos)
	return false
}

// GetError returns the error of a bad claim.
func (t *streamTracker) GetError() error { return t.err }

// TrySplit checkpoints the split where the DoFn offered it (fraction 0): the primary ends at the next offset,
// the residual reads on from there. Other splits are declined.
func (t *streamTracker) TrySplit(fraction float64) (any, any, error) {
	if t.done || !t.checkpoint || fraction != 0 {
		return t.rest, nil, nil
	}
	primary := offsetrange.Restriction{Start: t.rest.Start, End: max(t.next, t.rest.Start)}
	residual := offsetrange.Restriction{Start: t.next, End: t.rest.End}
	t.rest = primary
	t.done = true
	return primary, residual, nil
}

// GetProgress reports nothing measurable of a stream: done or not.
func (t *streamTracker) GetProgress() (float64, float64) {
	if t.done {
		return 1, 0
	}
	return 0, 1
}

// IsDone reports whether the split was ended or checkpointed.
func (t *streamTracker) IsDone() bool { return t.done }

// GetRestriction returns the offset range.
func (t *streamTracker) GetRestriction() any { return t.rest }

// IsBounded reports false: a stream's range is open until it ends.
func (t *streamTracker) IsBounded() bool { return t.done }

// offerCheckpoint lets the runner checkpoint the split now (the DoFn is returning to be resumed).
func offerCheckpoint(rt *sdf.LockRTracker) {
	rt.Mu.Lock()
	defer rt.Mu.Unlock()
	rt.Rt.(*streamTracker).checkpoint = true
}

// readStream reads a split of an unbounded source from the restriction's start for up to streamSlice, pushing
// the records into the stage, and returns to be resumed; it ends the split at the end of the input or after the
// run's StopWhenIdle without records.
func (b *streamBase) readStream(ctx context.Context, we *streamWatermark, rt *sdf.LockRTracker, split []byte) (sdf.ProcessContinuation, error) {
	srt := b.rt
	name := srt.st.entry.Name()
	var sp pipeline.Split
	if err := json.Unmarshal(split, &sp); err != nil {
		return sdf.StopProcessing(), fmt.Errorf("%s: bad split: %w", name, err)
	}
	src, _ := sourceOf(srt.src)
	offs, ok := src.(OffsetPositions)
	if !ok {
		return sdf.StopProcessing(), fmt.Errorf("%s: unbounded source %s has no offset positions (beam.OffsetPositions)", name, srt.src.SourceName())
	}
	marks, err := b.marksOf(ctx)
	if err != nil {
		return sdf.StopProcessing(), err
	}
	we.bind(marks, sp.ID)
	rest := rt.GetRestriction().(offsetrange.Restriction)
	var pos []byte
	if rest.Start != noOffset {
		pos = offs.OffsetPosition(rest.Start)
	}
	cont := sdf.StopProcessing()
	err = guard(srt.w, func() error {
		r, err := srt.src.Open(ctx, sp, pos)
		if err != nil {
			return fmt.Errorf("%s: split %s at offset %d: %w", name, sp.ID, rest.Start, err)
		}
		sr, ok := r.(exec.SplitRunner)
		if !ok {
			return fmt.Errorf("%s: split reader %T", name, r)
		}
		defer sr.Close()
		start := time.Now()
		key := fmt.Sprintf("%s/%d/%s", b.Run, b.Stage, sp.ID)
		last := start
		if v, ok := lastData.Load(key); ok {
			last = v.(time.Time)
		}
		idle := b.StopWhenIdle
		for {
			n, _, maxTime, _, err := sr.Read(ctx, readLimits, srt.head, srt.dlq)
			if errors.Is(err, pipeline.ErrEndOfInput) {
				rt.TryClaim(streamEnd{})
				we.end()
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: split %s: %w", name, sp.ID, err)
			}
			if n > 0 {
				last = time.Now()
				lastData.Store(key, last)
				next, err := offs.PositionOffset(sr.Position())
				if err != nil {
					return fmt.Errorf("%s: split %s: %w", name, sp.ID, err)
				}
				if !rt.TryClaim(next) {
					if err := rt.GetError(); err != nil {
						return fmt.Errorf("%s: split %s: %w", name, sp.ID, err)
					}
					return nil
				}
				we.observe(maxTime, last)
			} else {
				if _, ok := lastData.Load(key); !ok {
					lastData.Store(key, last)
				}
				if idle > 0 && time.Since(last) >= idle {
					lastData.Delete(key)
					rt.TryClaim(streamEnd{})
					we.end()
					return nil
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Since(start) >= streamSlice {
				offerCheckpoint(rt)
				cont = sdf.ResumeProcessingIn(0)
				return nil
			}
		}
	})
	if err != nil {
		return sdf.StopProcessing(), err
	}
	return cont, nil
}
