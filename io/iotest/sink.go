package iotest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/kappaflow/kappa/pipeline"
)

// testSink writes records through two shard writers of the sink over epochs as the runner does, with a crash
// between Prepare and Commit recovered by committing the token from a new writer, and a second Commit of every
// token; the source then reads back every committed record exactly once. For an exactly-once sink, an epoch
// whose token is lost is replayed by a new writer, and a writer closed before Prepare publishes nothing.
func testSink(t *testing.T, s *suite) {
	env := s.setup(t, 2)
	recs := make([]Record, 36)
	for i := range recs {
		recs[i] = Record{Key: splitKey(i % 3), Value: int64(i), Time: at(int64(i) * 10)}
	}
	sink := env.Sink(t)
	w0, w1 := s.openWriter(t, sink, 0), s.openWriter(t, sink, 1)

	// Epoch 0: both shards write, prepare and commit, and commit again (Commit is idempotent).
	s.write(t, w0, recs[0:6])
	s.write(t, w1, recs[6:12])
	t0, t1 := s.prepare(t, w0, 0), s.prepare(t, w1, 0)
	for range 2 {
		s.commit(t, w0, t0)
		s.commit(t, w1, t1)
	}
	// Epoch 1: shard 0 crashes after Prepare; its successor commits the token from the checkpoint.
	s.write(t, w0, recs[12:18])
	lost := s.prepare(t, w0, 1)
	s.closeWriter(t, w0)
	w0 = s.openWriter(t, sink, 0)
	s.commit(t, w0, lost)
	s.write(t, w1, recs[18:24])
	s.commit(t, w1, s.prepare(t, w1, 1))
	want := recs[:24]

	if s.f.ExactlyOnceSink {
		// Epoch 2: shard 0 prepares, then crashes before the checkpoint holds its token: the epoch is replayed by
		// a new writer. Shard 1 crashes before Prepare: what it wrote is discarded.
		s.write(t, w0, recs[24:30])
		s.prepare(t, w0, 2)
		s.closeWriter(t, w0)
		w0 = s.openWriter(t, sink, 0)
		s.write(t, w0, recs[24:30])
		s.commit(t, w0, s.prepare(t, w0, 2))
		s.write(t, w1, recs[30:36])
		s.closeWriter(t, w1)
		want = recs[:30]
	}
	s.closeWriter(t, w0)
	s.closeWriter(t, w1)
	s.end(t, env)

	d := s.drain(t, s.source(t, env), nil, len(want), 10)
	got, exp := strs(d.all.vals), strs(want)
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		missing, extra := diffSorted(exp, got)
		t.Fatalf("records read back after the sink committed: got %d, want %d\n  missing: %v\n  unexpected: %v", len(got), len(exp), missing, extra)
	}
}

// writer is a sink writer under test.
type writer struct {
	pipeline.SinkWriter[Record]
	closed bool
}

// openWriter opens the writer of shard (of 2); it is closed when t ends unless closed before.
func (s *suite) openWriter(t *testing.T, sink pipeline.Sink[Record], shard int) *writer {
	t.Helper()
	ctx := t.Context()
	sw, err := sink.Open(ctx, pipeline.Shard{Index: shard, Count: 2})
	if err != nil {
		t.Fatalf("sink %s: open shard %d: %v", sink.Name(), shard, err)
	}
	w := &writer{SinkWriter: sw}
	t.Cleanup(func() {
		if !w.closed {
			_ = w.Close(context.Background())
		}
	})
	return w
}

// write writes recs as global-window elements in two calls, overwriting each slice after the call as the runner
// may.
func (s *suite) write(t *testing.T, w *writer, recs []Record) {
	t.Helper()
	ctx := t.Context()
	for part := range slices.Chunk(recs, (len(recs)+1)/2) {
		elems := make([]pipeline.Element[Record], len(part))
		for i, r := range part {
			elems[i] = pipeline.Element[Record]{Value: r, Time: pipeline.TimeOf(r.Time), Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane}
		}
		if err := w.Write(ctx, elems); err != nil {
			t.Fatalf("sink write: %v", err)
		}
		for i := range elems {
			elems[i].Value = Record{Key: "overwritten", Value: -1, Time: base}
		}
	}
}

func (s *suite) prepare(t *testing.T, w *writer, epoch uint64) []byte {
	t.Helper()
	ctx := t.Context()
	tok, err := w.Prepare(ctx, pipeline.Epoch{ID: epoch, Watermark: pipeline.MinTime})
	if err != nil {
		t.Fatalf("sink prepare (epoch %d): %v", epoch, err)
	}
	return slices.Clone(tok)
}

func (s *suite) commit(t *testing.T, w *writer, tok []byte) {
	t.Helper()
	ctx := t.Context()
	if err := w.Commit(ctx, tok); err != nil {
		t.Fatalf("sink commit of token %s: %v", fmt.Sprintf("%q", tok), err)
	}
}

func (s *suite) closeWriter(t *testing.T, w *writer) {
	t.Helper()
	ctx := t.Context()
	w.closed = true
	if err := w.Close(ctx); err != nil {
		t.Fatalf("sink writer close: %v", err)
	}
}
