package iotest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// testOrderPerSplit appends records to three splits in interleaved rounds and drains every source split: each
// harness split's records come back from one source split, in append order, each exactly once.
func testOrderPerSplit(t *testing.T, s *suite) {
	const splits, rounds, per = 3, 3, 4
	env := s.setup(t, splits)
	want := map[string][]Record{}
	total := 0
	for round := range rounds {
		for sp := range splits {
			recs := records(sp, round*per, per)
			env.Append(t, sp, recs...)
			want[splitKey(sp)] = append(want[splitKey(sp)], recs...)
			total += per
		}
	}
	last := records(1, rounds*per, 1) // a single-record append
	env.Append(t, 1, last...)
	want[splitKey(1)] = append(want[splitKey(1)], last...)
	total++
	s.end(t, env)
	d := s.drain(t, s.source(t, env), nil, total, 5)
	if len(d.all.fails) > 0 {
		t.Fatalf("unexpected failures: %v", d.all.fails)
	}
	checkSplits(t, d, want)
}

// testRestart reads part of a split, takes its position, and reads the rest through a new source instance (as a
// restarted process would) opened at that position: every record exactly once, in order, at cut points at the
// start, inside and at the boundary of batches, after one-record batches and at the end. An unbounded split
// resumed at its end reads records appended afterwards.
func testRestart(t *testing.T, s *suite) {
	const n = 12
	env := s.setup(t, 1)
	all := records(0, 0, n)
	env.Append(t, 0, all...)
	s.end(t, env)
	cuts := []struct {
		name     string
		cut      int // records read before the restart
		batchMax int // Limits.MaxRecords of the reads before the cut
	}{
		{"before any read", 0, 5},
		{"after the first record", 1, 5},
		{"at a batch boundary", 5, 5},
		{"inside a fetched batch", 7, 5},
		{"after one-record batches", 3, 1},
		{"after the last record", n, 5}, // last: it appends to the split when unbounded
	}
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			src1 := s.source(t, env)
			sp := s.onlySplit(t, src1)
			r1 := s.open(t, src1, sp, nil)
			first := r1.readN(t, c.cut, c.batchMax)
			pos := r1.position(t)
			r1.close(t)

			src2 := s.source(t, env)
			r2 := s.open(t, src2, sp, pos)
			rest := r2.readN(t, n-c.cut, 5)
			got := append(slices.Clone(first.vals), rest.vals...)
			equal(t, fmt.Sprintf("records read before (%d) and after (%d) a restart at position %q", len(first.vals), len(rest.vals), pos), all, got)
			s.quiet(t, r2)
			if s.f.Bounded || c.cut != n {
				return
			}
			more := records(0, n, 2)
			env.Append(t, 0, more...)
			tail := r2.readN(t, len(more), 5)
			s.quiet(t, r2)
			equal(t, "records appended after the restart at the end", more, tail.vals)
		})
	}
}

// testLimits reads a split with Limits.MaxRecords 3 and with Limits.MaxBytes 1 (read checks that no batch is
// larger), and, for unbounded sources, times reads of an empty split against Limits.MaxWait.
func testLimits(t *testing.T, s *suite) {
	t.Run("MaxRecords and MaxBytes", func(t *testing.T) {
		const n = 10
		env := s.setup(t, 1)
		all := records(0, 0, n)
		env.Append(t, 0, all...)
		s.end(t, env)
		src := s.source(t, env)
		sp := s.onlySplit(t, src)
		for _, lim := range []pipeline.Limits{
			{MaxRecords: 3, MaxWait: 100 * time.Millisecond},
			{MaxRecords: 100, MaxBytes: 1, MaxWait: 100 * time.Millisecond},
		} {
			r := s.open(t, src, sp, nil)
			var got batch
			deadline := time.Now().Add(s.f.Timeout)
			for got.n() < n && !r.ended {
				if time.Now().After(deadline) {
					t.Fatalf("read %d records in %v with %+v, want %d", got.n(), s.f.Timeout, lim, n)
				}
				got.add(r.read(t, lim))
			}
			s.quiet(t, r)
			equal(t, fmt.Sprintf("records read with %+v", lim), all, got.vals)
		}
	})
	t.Run("MaxWait", func(t *testing.T) {
		if s.f.Bounded {
			t.Skip("bounded source: Limits.MaxWait applies to unbounded splits")
		}
		env := s.setup(t, 1)
		src := s.source(t, env)
		r := s.open(t, src, s.onlySplit(t, src), nil)
		for _, wait := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 0} {
			// read fails when a call takes longer than wait plus MaxWaitSlack
			if b := r.read(t, pipeline.Limits{MaxRecords: 10, MaxWait: wait}); b.n() > 0 {
				t.Fatalf("empty split returned %v %v", b.vals, b.fails)
			}
		}
		recs := records(0, 0, 3)
		env.Append(t, 0, recs...)
		got := r.readN(t, len(recs), 10)
		equal(t, "records appended while the split was polled", recs, got.vals)
	})
}

// testEventTimes appends records whose event times go back and forth, with odd milliseconds, and checks that
// Batch.Times holds exactly each record's time.
func testEventTimes(t *testing.T, s *suite) {
	offsets := []int64{500, 17, 999, 3, 250, 86_400_001, 1, 59_999}
	env := s.setup(t, 1)
	var recs []Record
	var want []pipeline.Time
	for i, ms := range offsets {
		recs = append(recs, Record{Key: "s0", Value: int64(i), Time: at(ms)})
		want = append(want, pipeline.TimeOf(at(ms)))
	}
	env.Append(t, 0, recs...)
	s.end(t, env)
	d := s.drain(t, s.source(t, env), nil, len(recs), 3)
	equal(t, "records", recs, d.all.vals)
	if !slices.Equal(want, d.all.times) {
		t.Fatalf("Batch.Times: got %v, want %v", d.all.times, want)
	}
}

// testEndOfInput drains two splits and keeps reading: a bounded split returns ErrEndOfInput after its last record
// and on every later call; an unbounded split (also an empty one) never does. The same holds for readers of a new
// source opened at the final positions.
func testEndOfInput(t *testing.T, s *suite) {
	env := s.setup(t, 2)
	a, b := records(0, 0, 3), records(1, 0, 3)
	env.Append(t, 0, a...)
	want := map[string][]Record{"s0": a}
	if s.f.Bounded {
		env.Append(t, 1, b...) // a bounded source may list no split for an empty file
		want["s1"] = b
	}
	s.end(t, env)
	total := 0
	for _, recs := range want {
		total += len(recs)
	}
	d := s.drain(t, s.source(t, env), nil, total, 2)
	checkSplits(t, d, want)
	s.restartAtEnd(t, env, d)
}

// testBadRecords puts an undecodable record between good ones: the source reports it once, as a
// *pipeline.RecordError with the source's name and the location the harness gave, and reads on; a restart at
// the final positions does not report it again.
func testBadRecords(t *testing.T, s *suite) {
	env := s.setup(t, 2)
	before, after, other := records(0, 0, 2), records(0, 2, 2), records(1, 0, 2)
	env.Append(t, 0, before...)
	loc := env.AppendBad(t, 0)
	env.Append(t, 0, after...)
	env.Append(t, 1, other...)
	s.end(t, env)
	src := s.source(t, env)
	d := s.drain(t, src, nil, 7, 3)
	checkSplits(t, d, map[string][]Record{"s0": append(before, after...), "s1": other})
	if len(d.all.fails) != 1 {
		t.Fatalf("got %d failures, want 1 at %s: %v", len(d.all.fails), loc, d.all.fails)
	}
	if f := d.all.fails[0]; f.Location != loc {
		t.Fatalf("failure %v: Location %q, want %q", f, f.Location, loc)
	}
	s.restartAtEnd(t, env, d)
}
