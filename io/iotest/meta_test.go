package iotest_test

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/iotest"
	"github.com/kappaflow/kappa/pipeline"
)

// faultEnv is set in the environment of the child test process to the fault its source has.
const faultEnv = "IOTEST_FAULT"

// Each check fails on a source that breaks the rule it checks. The broken sources are the feed with one fault
// each; the suite runs on them in a child test process (a failing subtest cannot be observed in-process), and the
// test requires that the check fails with the expected message.
func TestSuiteCatchesBrokenSources(t *testing.T) {
	tests := []struct {
		fault string // see faultyReader
		check string // the subtest that must fail
		want  string // in its failure message
	}{
		{"reverse-batches", "OrderPerSplit", "records appended with key s0 (source split 0), in read order: got 12 records, want 12"},
		{"position-one-early", "Restart", "records read before (1) and after (11) a restart"},
		{"ignore-max-records", "Limits", "batch of 10 records and 0 failures exceeds Limits.MaxRecords 3"},
		{"ignore-max-bytes", "Limits", "batch of 10 records and 0 failures with Limits.MaxBytes 1; want at most one"},
		{"sleep-past-max-wait", "Limits", "ReadBatch took"},
		{"times-off-by-one", "EventTimes", "in Batch.Times, want its Time"},
		{"watermark-too-far", "EventTimes", "is older than the Batch.Watermark 2016-09-21T18:30:00.999Z an earlier batch stated"},
		{"end-when-caught-up", "EndOfInput", "an unbounded split returned ErrEndOfInput"},
		{"says-bounded", "EndOfInput", "Bounded() = true, but Features.Bounded = false"},
		{"drop-failures", "BadRecords", "read 6 records and failures in 2s, want 7"},
		{"wrong-location", "BadRecords", `Location "offset 2", want "split 0 offset 2"`},
		{"repeat-failure-on-restart", "BadRecords", "after a restart at the final positions: read 0 records and 2 failures, want none"},
		{"sink-commit-twice", "Sink", "after all were read (duplicates?)"},
		{"sink-own-tokens-only", "Sink", "read 24 records and failures in 2s, want 30"},
		{"sink-publishes-at-write", "Sink", "after all were read (duplicates?)"},
		{"sink-keeps-slices", "Sink", "record overwritten=-1@"},
		{"block-when-empty", "Runner/IdleSplitWatermark", "waiting for windows 0s and 1s with split 1 idle"},
		{"drop-failures", "Runner/DeadLetters", "dead letters: got 0 ([]), want 1 at split 0 offset 3"},
		{"drop-failures", "Runner/BadRecordFailsRun", "the run succeeded; want it to fail at the bad record at split 0 offset 3"},
		{"no-new-splits", "Runner/NewSplits", "waiting for the records of split 1 added while running"},
		{"duplicate-first", "Runner/StreamEqualsBatch", "differs from the batch run"},
	}
	for _, tc := range tests {
		t.Run(tc.fault+" fails "+tc.check, func(t *testing.T) {
			t.Parallel()
			pattern := "^TestBrokenSource$"
			for _, part := range strings.Split(tc.check, "/") {
				pattern += "/^" + part + "$"
			}
			cmd := exec.Command(os.Args[0], "-test.run", pattern, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), faultEnv+"="+tc.fault)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the suite passed a source with fault %s:\n%s", tc.fault, out)
			require.Contains(t, string(out), "--- FAIL: TestBrokenSource/"+tc.check, "%s", out)
			require.Contains(t, string(out), tc.want, "%s", out)
		})
	}
}

// TestBrokenSource runs the suite on the feed with the fault in $IOTEST_FAULT; it is skipped without one.
func TestBrokenSource(t *testing.T) {
	fault := os.Getenv(faultEnv)
	if fault == "" {
		t.Skip("run by TestSuiteCatchesBrokenSources")
	}
	h := feedHarness
	h.Features.Timeout = 2 * time.Second
	h.Setup = func(t *testing.T, splits int) iotest.Env {
		return &faultyEnv{Env: newFeedEnv(t, splits), fault: fault}
	}
	iotest.TestSource(t, h)
}

type faultyEnv struct {
	iotest.Env
	fault string
	once  sync.Once
	src   *faultySource
}

func (e *faultyEnv) Sink(*testing.T) pipeline.Sink[iotest.Record] {
	return newFeedSink(e.Env.(*feedEnv).feed, e.fault)
}

func (e *faultyEnv) Source(t *testing.T) pipeline.Source[iotest.Record] {
	e.once.Do(func() { e.src = &faultySource{Source: e.Env.Source(t), fault: e.fault} })
	return e.src
}

type faultySource struct {
	pipeline.Source[iotest.Record]
	fault  string
	mu     sync.Mutex
	splits []pipeline.Split
}

func (s *faultySource) Bounded() bool { return s.fault == "says-bounded" || s.Source.Bounded() }

func (s *faultySource) Splits(ctx context.Context) ([]pipeline.Split, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == "no-new-splits" && s.splits != nil {
		return s.splits, nil
	}
	sps, err := s.Source.Splits(ctx)
	s.splits = sps
	return sps, err
}

func (s *faultySource) Open(ctx context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[iotest.Record], error) {
	r, err := s.Source.Open(ctx, sp, pos)
	if err != nil {
		return nil, err
	}
	return &faultyReader{SplitReader: r, fault: s.fault, resumed: pos != nil}, nil
}

// faultyReader breaks one rule of the source contract.
type faultyReader struct {
	pipeline.SplitReader[iotest.Record]
	fault   string
	resumed bool
	read    int
}

func (r *faultyReader) ReadBatch(ctx context.Context, b *pipeline.Batch[iotest.Record], lim pipeline.Limits) error {
	switch r.fault {
	case "ignore-max-records":
		lim.MaxRecords = 1 << 20
	case "ignore-max-bytes":
		lim.MaxBytes = 0
	}
	err := r.SplitReader.ReadBatch(ctx, b, lim)
	for r.fault == "block-when-empty" && b.Len() == 0 && err == nil && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // waits for data, ignoring MaxWait
		err = r.SplitReader.ReadBatch(ctx, b, lim)
	}
	switch r.fault {
	case "reverse-batches":
		slices.Reverse(b.Values)
		slices.Reverse(b.Times)
	case "sleep-past-max-wait":
		if b.Len() == 0 {
			time.Sleep(lim.MaxWait + time.Second)
		}
	case "watermark-too-far":
		if b.Len() > 0 {
			b.Watermark = slices.Max(b.Times) // wrong: later records may be older
		}
	case "times-off-by-one":
		for i := range b.Times {
			b.Times[i]++
		}
	case "end-when-caught-up":
		if b.Len() == 0 && len(b.Failures) == 0 && err == nil {
			return pipeline.ErrEndOfInput
		}
	case "drop-failures":
		b.Failures = b.Failures[:0]
	case "wrong-location":
		for _, f := range b.Failures {
			f.Location = strings.TrimPrefix(f.Location, "split 0 ")
		}
	case "repeat-failure-on-restart":
		if r.resumed && r.read == 0 {
			b.Fail(&pipeline.RecordError{Source: "feed", Location: "split 0 offset 2", Err: context.Canceled})
		}
	case "duplicate-first":
		if r.read == 0 && b.Len() > 0 {
			b.Add(b.Values[0], b.Times[0])
		}
	}
	r.read++
	return err
}

func (r *faultyReader) Position() []byte {
	p := r.SplitReader.Position()
	if r.fault == "position-one-early" {
		if n := binary.BigEndian.Uint64(p); n > 0 {
			return binary.BigEndian.AppendUint64(nil, n-1)
		}
	}
	return p
}
