// Package teststream scripts the arrival of elements, watermark advances and processing-time advances for
// streaming tests, like Beam's TestStream. Each step of the script is one micro-batch of the local runner in
// stream mode, and processing time comes from a fake clock the script advances, so tests are deterministic and
// never sleep.
//
//	ts := teststream.New[Score](start).
//		AddElements(teststream.At(Score{"blue", 5}, t("12:00:26"))).
//		AdvanceProcessingTime(time.Minute).
//		AdvanceWatermark(t("12:02:00"))
//	scores := teststream.Read(s, ts)
//	...
//	teststream.Run(t, p, ts) // local runner, stream mode, the script's clock
package teststream

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kappaflow/kappa/coder"
	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// Clock is a fake processing-time clock advanced by a script.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; pass it as local.Config.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type stepKind uint8

const (
	addElements stepKind = iota
	advanceWatermark
	advanceProcessingTime
)

type step[T any] struct {
	kind  stepKind
	elems []pipelinetest.Timed[T]
	wm    pipeline.Time
	d     time.Duration
}

// Stream is a script of elements of T. Build it with New and the Add/Advance methods, read it with Read.
type Stream[T any] struct {
	clock *Clock
	steps []step[T]
}

// New starts a script whose clock shows start.
func New[T any](start time.Time) *Stream[T] { return &Stream[T]{clock: NewClock(start)} }

// NewWithClock starts a script that shares clock with others.
func NewWithClock[T any](clock *Clock) *Stream[T] { return &Stream[T]{clock: clock} }

// Clock returns the script's clock.
func (s *Stream[T]) Clock() *Clock { return s.clock }

// At pairs a value with an event time.
func At[T any](v T, t time.Time) pipelinetest.Timed[T] { return pipelinetest.At(v, t) }

// AddElements makes elements arrive, in one micro-batch.
func (s *Stream[T]) AddElements(elems ...pipelinetest.Timed[T]) *Stream[T] {
	s.steps = append(s.steps, step[T]{kind: addElements, elems: elems})
	return s
}

// AdvanceWatermark advances the source watermark to t, in one micro-batch.
func (s *Stream[T]) AdvanceWatermark(t time.Time) *Stream[T] {
	s.steps = append(s.steps, step[T]{kind: advanceWatermark, wm: pipeline.TimeOf(t)})
	return s
}

// AdvanceWatermarkToInfinity ends event time: every window fires. (The end of the script does the same.)
func (s *Stream[T]) AdvanceWatermarkToInfinity() *Stream[T] {
	s.steps = append(s.steps, step[T]{kind: advanceWatermark, wm: pipeline.MaxTime})
	return s
}

// AdvanceProcessingTime advances the clock by d, in one micro-batch.
func (s *Stream[T]) AdvanceProcessingTime(d time.Duration) *Stream[T] {
	s.steps = append(s.steps, step[T]{kind: advanceProcessingTime, d: d})
	return s
}

// Read adds the script to the pipeline as an unbounded-looking source whose watermark is exactly the scripted one.
func Read[T any](sc pipeline.Scope, s *Stream[T]) pipeline.PCollection[T] {
	return pipeline.Read(sc, pipeline.Source[T](&source[T]{s: s}), pipeline.ReadName("TestStream"),
		pipeline.WithWatermark(func() pipeline.WatermarkEstimator { return scripted{} }))
}

// Config returns a local runner configuration for the script: stream mode, the script's clock.
func Config(clock *Clock, workers int) local.Config {
	return local.Config{Mode: local.Stream, Now: clock.Now, Workers: workers}
}

// Run runs p in stream mode on the script's clock with 2 workers, then verifies pipelinetest assertions.
func Run(t testing.TB, p *pipeline.Pipeline, clock *Clock) *local.Runner {
	t.Helper()
	return pipelinetest.Run(t, p, Config(clock, 2))
}

// scripted leaves the watermark entirely to the script.
type scripted struct{}

func (scripted) Observe(pipeline.Time)             {}
func (scripted) Watermark(time.Time) pipeline.Time { return pipeline.MinTime }

type source[T any] struct{ s *Stream[T] }

func (src *source[T]) Name() string { return "teststream" }

// Bounded is true: the script ends, and its end advances the watermark to +inf.
func (src *source[T]) Bounded() bool { return true }

func (src *source[T]) Splits(context.Context) ([]pipeline.Split, error) {
	return []pipeline.Split{{ID: "script"}}, nil
}

func (src *source[T]) Open(_ context.Context, _ pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	r := &reader[T]{s: src.s, wm: pipeline.MinTime}
	if len(pos) == 8 {
		r.next = int(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type reader[T any] struct {
	s    *Stream[T]
	next int
	wm   pipeline.Time
	pos  [8]byte
}

// ReadBatch performs one step of the script.
func (r *reader[T]) ReadBatch(_ context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	if r.next >= len(r.s.steps) {
		return pipeline.ErrEndOfInput
	}
	st := r.s.steps[r.next]
	r.next++
	switch st.kind {
	case addElements:
		if len(st.elems) > lim.MaxRecords {
			return fmt.Errorf("teststream: step %d adds %d elements, more than a micro-batch holds (%d)", r.next-1, len(st.elems), lim.MaxRecords)
		}
		for _, e := range st.elems {
			b.Add(e.Value, e.Time)
		}
	case advanceWatermark:
		if st.wm < r.wm {
			return fmt.Errorf("teststream: step %d moves the watermark back from %s to %s", r.next-1, r.wm, st.wm)
		}
		r.wm = st.wm
	case advanceProcessingTime:
		r.s.clock.Advance(st.d)
	}
	b.Watermark = r.wm
	return nil
}

func (r *reader[T]) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *reader[T]) Close() error { return nil }

// Script returns the steps of the script with their elements encoded by coder.Of[T], for runners that replay the
// script with their own engine's test stream (runners/beam on Prism; internal/exec.ScriptedSource).
func (src *source[T]) Script() ([]exec.ScriptStep, error) {
	c, err := coder.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("teststream: %w", err)
	}
	out := make([]exec.ScriptStep, 0, len(src.s.steps))
	for i, st := range src.s.steps {
		step := exec.ScriptStep{Watermark: pipeline.MinTime}
		switch st.kind {
		case addElements:
			step.Elements = make([]pipeline.Element[[]byte], 0, len(st.elems))
			for _, e := range st.elems {
				b, err := c.Append(nil, e.Value)
				if err != nil {
					return nil, fmt.Errorf("teststream: step %d: encode %+v: %w", i, e.Value, err)
				}
				step.Elements = append(step.Elements, pipeline.Element[[]byte]{Value: b, Time: e.Time, Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane})
			}
		case advanceWatermark:
			step.Watermark = st.wm
		case advanceProcessingTime:
			step.Advance = st.d
		}
		out = append(out, step)
	}
	return out, nil
}

// NewDecoder returns a function decoding an element of the script and pushing it into out, a Pusher of T.
func (src *source[T]) NewDecoder(out any) (func(e pipeline.Element[[]byte]) error, error) {
	c, err := coder.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("teststream: %w", err)
	}
	p, ok := out.(exec.Pusher[T])
	if !ok {
		return nil, fmt.Errorf("teststream: output accepts %T", out)
	}
	return func(e pipeline.Element[[]byte]) error {
		v, err := c.Decode(e.Value)
		if err != nil {
			return fmt.Errorf("teststream: decode: %w", err)
		}
		return p.Push(pipeline.Element[T]{Value: v, Time: e.Time, Window: e.Window, Pane: e.Pane})
	}, nil
}
