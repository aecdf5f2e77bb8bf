package iotest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/pipeline"
)

// suite holds the harness of one TestSource call.
type suite struct {
	h Harness
	f Features
}

// base is the event time of the suite's records: W1's base time, a whole minute.
var base = time.UnixMilli(w1.BaseTime).UTC()

// at returns base + ms milliseconds.
func at(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

// records returns n records of split: Key "s<split>", Values from, from+1, …, and event times that mostly
// increase with the value, with some disorder.
func records(split, from, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		v := int64(from + i)
		out[i] = Record{Key: splitKey(split), Value: v, Time: at(v*10 + (v%3)*7)}
	}
	return out
}

func splitKey(split int) string { return fmt.Sprintf("s%d", split) }

// setup creates a fresh environment with n splits.
func (s *suite) setup(t *testing.T, n int) Env {
	t.Helper()
	env := s.h.Setup(t, n)
	if env == nil {
		t.Fatalf("iotest: Harness.Setup(%d) returned a nil Env", n)
	}
	return env
}

// end finishes a bounded environment.
func (s *suite) end(t *testing.T, env Env) {
	t.Helper()
	if s.f.Bounded {
		env.End(t)
	}
}

// source returns a new source of env and checks that it is as bounded as the features say.
func (s *suite) source(t *testing.T, env Env) pipeline.Source[Record] {
	t.Helper()
	src := env.Source(t)
	if src == nil {
		t.Fatal("iotest: Env.Source returned nil")
	}
	if src.Name() == "" {
		t.Fatal("iotest: the source's Name is empty")
	}
	if src.Bounded() != s.f.Bounded {
		t.Fatalf("source %s: Bounded() = %v, but Features.Bounded = %v", src.Name(), src.Bounded(), s.f.Bounded)
	}
	return src
}

// splits lists the splits of src.
func (s *suite) splits(t *testing.T, src pipeline.Source[Record]) []pipeline.Split {
	t.Helper()
	ctx := t.Context() // like the runner's run context, it outlives the call: a connector may keep it
	sps, err := src.Splits(ctx)
	if err != nil {
		t.Fatalf("source %s: Splits: %v", src.Name(), err)
	}
	if len(sps) == 0 {
		t.Fatalf("source %s: Splits listed none", src.Name())
	}
	return sps
}

// onlySplit returns the single split of a source set up with one split.
func (s *suite) onlySplit(t *testing.T, src pipeline.Source[Record]) pipeline.Split {
	t.Helper()
	sps := s.splits(t, src)
	if len(sps) != 1 {
		t.Fatalf("source %s: Setup(t, 1) gave %d splits (%v), want 1", src.Name(), len(sps), sps)
	}
	return sps[0]
}

// reader is a split reader under test: every ReadBatch call is checked against the contract.
type reader struct {
	s     *suite
	src   pipeline.Source[Record]
	split pipeline.Split
	r     pipeline.SplitReader[Record]
	ended bool
	hint  pipeline.Time // the largest Batch.Watermark so far: no later record may be older
	b     pipeline.Batch[Record]
}

// batch is what one or more ReadBatch calls returned.
type batch struct {
	vals  []Record
	times []pipeline.Time
	fails []*pipeline.RecordError
}

func (b *batch) add(o batch) {
	b.vals = append(b.vals, o.vals...)
	b.times = append(b.times, o.times...)
	b.fails = append(b.fails, o.fails...)
}

func (b *batch) n() int { return len(b.vals) + len(b.fails) }

// open opens split of src at pos; the reader is closed when t ends unless closed before.
func (s *suite) open(t *testing.T, src pipeline.Source[Record], split pipeline.Split, pos []byte) *reader {
	t.Helper()
	ctx := t.Context()
	r, err := src.Open(ctx, split, pos)
	if err != nil {
		t.Fatalf("source %s: Open(split %s, position %q): %v", src.Name(), split.ID, pos, err)
	}
	rd := &reader{s: s, src: src, split: split, r: r, hint: pipeline.MinTime}
	t.Cleanup(func() { rd.close(t) })
	return rd
}

func (r *reader) close(t *testing.T) {
	t.Helper()
	if r.r == nil {
		return
	}
	err := r.r.Close()
	r.r = nil
	if err != nil {
		t.Errorf("split %s: Close: %v", r.split.ID, err)
	}
}

// position returns a copy of the reader's position, checking that asking twice gives the same bytes.
func (r *reader) position(t *testing.T) []byte {
	t.Helper()
	p := slices.Clone(r.r.Position())
	if q := r.r.Position(); !slices.Equal(p, q) {
		t.Fatalf("split %s: Position changed between two calls without a read: %q then %q", r.split.ID, p, q)
	}
	return p
}

// read makes one ReadBatch call and checks it: no error but ErrEndOfInput, and that only from a bounded source
// and then on every later call with no records; Times parallel to Values and equal to the records' times, none
// older than a Batch.Watermark the split stated before; at most MaxRecords records and failures (one with
// MaxBytes 1); an unbounded call no longer than MaxWait plus the slack; failures with their Source and a
// Location.
func (r *reader) read(t *testing.T, lim pipeline.Limits) batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.s.f.Timeout)
	defer cancel()
	r.b.Reset()
	start := time.Now()
	err := r.r.ReadBatch(ctx, &r.b, lim)
	took := time.Since(start)
	b := &r.b
	id, name := r.split.ID, r.src.Name()
	end := errors.Is(err, pipeline.ErrEndOfInput)
	n, nf := len(b.Values), len(b.Failures)
	switch {
	case err != nil && !end:
		t.Fatalf("source %s split %s: ReadBatch: %v", name, id, err)
	case end && !r.s.f.Bounded:
		t.Fatalf("source %s split %s: an unbounded split returned ErrEndOfInput (after %d records and %d failures in the batch)", name, id, n, nf)
	case r.ended && (!end || n+nf > 0):
		t.Fatalf("source %s split %s: ReadBatch after ErrEndOfInput returned %d records, %d failures and error %v; want none and ErrEndOfInput", name, id, n, nf, err)
	case len(b.Times) != n:
		t.Fatalf("source %s split %s: batch has %d values but %d times", name, id, n, len(b.Times))
	case lim.MaxRecords > 0 && n+nf > lim.MaxRecords:
		t.Fatalf("source %s split %s: batch of %d records and %d failures exceeds Limits.MaxRecords %d", name, id, n, nf, lim.MaxRecords)
	case lim.MaxBytes == 1 && n+nf > 1:
		t.Fatalf("source %s split %s: batch of %d records and %d failures with Limits.MaxBytes 1; want at most one", name, id, n, nf)
	case !r.s.f.Bounded && took > lim.MaxWait+r.s.f.MaxWaitSlack:
		t.Fatalf("source %s split %s: ReadBatch took %v with Limits.MaxWait %v (allowed slack %v, %d records)", name, id, took.Round(time.Millisecond), lim.MaxWait, r.s.f.MaxWaitSlack, n)
	}
	for i, v := range b.Values {
		if want := pipeline.TimeOf(v.Time); b.Times[i] != want {
			t.Fatalf("source %s split %s: record %v has event time %s in Batch.Times, want its Time %s", name, id, v, b.Times[i], want)
		}
		if b.Times[i] < r.hint {
			t.Fatalf("source %s split %s: record %v is older than the Batch.Watermark %s an earlier batch stated", name, id, v, r.hint)
		}
	}
	r.hint = max(r.hint, b.Watermark)
	for _, f := range b.Failures {
		switch {
		case f == nil:
			t.Fatalf("source %s split %s: nil failure in Batch.Failures", name, id)
		case f.Source != name:
			t.Fatalf("source %s split %s: failure %v has Source %q, want the source's name %q", name, id, f, f.Source, name)
		case f.Location == "":
			t.Fatalf("source %s split %s: failure %v has no Location", name, id, f)
		case f.Err == nil:
			t.Fatalf("source %s split %s: failure at %s has no Err", name, id, f.Location)
		}
	}
	r.ended = r.ended || end
	return batch{vals: slices.Clone(b.Values), times: slices.Clone(b.Times), fails: slices.Clone(b.Failures)}
}

// readN reads until it has n records and failures, with batches of at most batchSize (and never more than
// the remainder, so that it stops exactly at n), waiting up to Timeout for them.
func (r *reader) readN(t *testing.T, n, batchSize int) batch {
	t.Helper()
	var got batch
	deadline := time.Now().Add(r.s.f.Timeout)
	for got.n() < n {
		if r.ended {
			t.Fatalf("source %s split %s: ended after %d records and failures, want %d: %v", r.src.Name(), r.split.ID, got.n(), n, got.vals)
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %s split %s: read %d records and failures in %v, want %d: %v", r.src.Name(), r.split.ID, got.n(), r.s.f.Timeout, n, got.vals)
		}
		got.add(r.read(t, pipeline.Limits{MaxRecords: min(batchSize, n-got.n()), MaxWait: 100 * time.Millisecond}))
	}
	return got
}

// quiet checks that the readers have nothing more: a bounded reader ends (now or at its next call, and again
// after that) with no record; unbounded readers return nothing (and do not end) for Settle.
func (s *suite) quiet(t *testing.T, rs ...*reader) {
	t.Helper()
	lim := pipeline.Limits{MaxRecords: 100, MaxWait: 50 * time.Millisecond}
	if s.f.Bounded {
		for _, r := range rs {
			for range 2 {
				if b := r.read(t, lim); b.n() > 0 {
					t.Fatalf("source %s split %s: read %d more records and %d failures after all were read: %v", r.src.Name(), r.split.ID, len(b.vals), len(b.fails), b.vals)
				}
			}
			if !r.ended {
				t.Fatalf("source %s split %s: bounded split did not return ErrEndOfInput after its last record", r.src.Name(), r.split.ID)
			}
		}
		return
	}
	for end := time.Now().Add(s.f.Settle); time.Now().Before(end); {
		for _, r := range rs {
			if b := r.read(t, lim); b.n() > 0 {
				t.Fatalf("source %s split %s: read %d more records and %d failures after all were read (duplicates?): %v %v", r.src.Name(), r.split.ID, len(b.vals), len(b.fails), b.vals, b.fails)
			}
		}
	}
}

// drained is what each split of a source gave.
type drained struct {
	readers []*reader
	bySplit map[string]*batch
	all     batch
}

// drain opens every split of src (at positions[ID] when given) and reads them round robin with batches of at
// most batchSize: a bounded source to the end of every split, an unbounded one until want records and failures
// have come (failing after Timeout). Then it checks that nothing more comes.
func (s *suite) drain(t *testing.T, src pipeline.Source[Record], positions map[string][]byte, want, batchSize int) *drained {
	t.Helper()
	d := &drained{bySplit: map[string]*batch{}}
	for _, sp := range s.splits(t, src) {
		d.readers = append(d.readers, s.open(t, src, sp, positions[sp.ID]))
		d.bySplit[sp.ID] = &batch{}
	}
	lim := pipeline.Limits{MaxRecords: batchSize, MaxWait: 50 * time.Millisecond}
	deadline := time.Now().Add(s.f.Timeout)
	for {
		done := true
		for _, r := range d.readers {
			if r.ended {
				continue
			}
			b := r.read(t, lim)
			d.bySplit[r.split.ID].add(b)
			d.all.add(b)
			done = done && r.ended
		}
		if (s.f.Bounded && done) || (!s.f.Bounded && d.all.n() >= want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %s: read %d records and failures in %v, want %d: %v", src.Name(), d.all.n(), s.f.Timeout, want, d.all.vals)
		}
	}
	s.quiet(t, d.readers...)
	return d
}

// restartAtEnd opens every split of a new source of env at the positions d ended at: they read nothing (and a
// bounded split ends at once).
func (s *suite) restartAtEnd(t *testing.T, env Env, d *drained) {
	t.Helper()
	again := s.drain(t, s.source(t, env), d.positions(t), 0, 3)
	if again.all.n() > 0 {
		t.Fatalf("after a restart at the final positions: read %d records and %d failures, want none: %v %v", len(again.all.vals), len(again.all.fails), again.all.vals, again.all.fails)
	}
}

// positions returns the readers' positions by split ID.
func (d *drained) positions(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, r := range d.readers {
		out[r.split.ID] = r.position(t)
	}
	return out
}

func strs(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.String()
	}
	return out
}

// equal fails t unless got and want are the same records in the same order.
func equal(t *testing.T, what string, want, got []Record) {
	t.Helper()
	if !slices.Equal(strs(want), strs(got)) {
		t.Fatalf("%s: got %d records, want %d:\n  got:  %s\n  want: %s", what, len(got), len(want),
			strings.Join(strs(got), " "), strings.Join(strs(want), " "))
	}
}

// checkSplits checks that the records of each harness split (told apart by Key) came back from one source split,
// in append order, and that nothing else came back.
func checkSplits(t *testing.T, d *drained, want map[string][]Record) {
	t.Helper()
	home := map[string]string{} // key → source split
	got := map[string][]Record{}
	for _, r := range d.readers {
		for _, v := range d.bySplit[r.split.ID].vals {
			if _, ok := want[v.Key]; !ok {
				t.Fatalf("split %s: read record %v that was never appended", r.split.ID, v)
			}
			if h, ok := home[v.Key]; ok && h != r.split.ID {
				t.Fatalf("records appended to one split (key %s) came back from two source splits, %s and %s", v.Key, h, r.split.ID)
			}
			home[v.Key] = r.split.ID
			got[v.Key] = append(got[v.Key], v)
		}
	}
	for _, k := range sortedKeys(want) {
		equal(t, fmt.Sprintf("records appended with key %s (source split %s), in read order", k, home[k]), want[k], got[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
