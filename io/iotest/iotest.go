package iotest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Record is what the suite writes through an Env and expects the source to read back. A harness encodes it in
// the connector's native form (a Kafka key, 8-byte value and timestamp; a JSON Kinesis record; a Parquet row) and
// configures the source to decode it again, with Time as the event time.
type Record struct {
	// Key is never empty: "s0", "s1", … (the split the suite appended the record to) or a W1 key.
	Key string `json:"key" parquet:"key"`
	// Value is unique per split in the ordering and restart checks.
	Value int64 `json:"value" parquet:"value"`
	// Time is the record's event time, in UTC with millisecond precision. The source must report it in
	// Batch.Times.
	Time time.Time `json:"time" parquet:"time,timestamp(millisecond)"`
}

// String formats the record as "key=value@time", the form the suite prints in diffs.
func (r Record) String() string {
	return fmt.Sprintf("%s=%d@%s", r.Key, r.Value, pipeline.TimeOf(r.Time))
}

// Features declares what the connector under test supports; checks of unsupported features are skipped, and a
// source that does not match its declaration (Bounded) fails.
type Features struct {
	// Bounded says the source is bounded (Source.Bounded reports true). The suite then appends every record and
	// calls Env.End before it calls Env.Source, and expects each split to end with pipeline.ErrEndOfInput after
	// its last record. An unbounded source is read while records are appended and must never end.
	Bounded bool
	// BadRecords says Env.AppendBad works: the source reports an undecodable record as a *pipeline.RecordError
	// in Batch.Failures and reads on.
	BadRecords bool
	// NewSplits says Env.AddSplit works: Source.Splits lists the new split on its next call. Unbounded sources
	// only.
	NewSplits bool
	// Sink says Env.Sink works: what the sink commits, Env.Source reads back (after Env.End when bounded).
	Sink bool
	// ExactlyOnceSink says the sink publishes only what was prepared and committed: elements a writer never
	// prepared, or prepared under a token that was lost before Commit, never appear (Commit idempotence and
	// recovery by token are checked for every sink).
	ExactlyOnceSink bool

	// Settle is how long the suite reads an unbounded split that has delivered what it expects before it
	// concludes that nothing more will come (no duplicate). It must exceed the time an appended record takes to
	// become readable. Default 300ms.
	Settle time.Duration
	// MaxWaitSlack is how much longer than Limits.MaxWait one ReadBatch call of an unbounded split may take (one
	// request in flight, a busy machine). Default 500ms.
	MaxWaitSlack time.Duration
	// Timeout bounds each wait for records the suite expects. Default 20s.
	Timeout time.Duration
}

func (f Features) withDefaults() Features {
	if f.Settle <= 0 {
		f.Settle = 300 * time.Millisecond
	}
	if f.MaxWaitSlack <= 0 {
		f.MaxWaitSlack = 500 * time.Millisecond
	}
	if f.Timeout <= 0 {
		f.Timeout = 20 * time.Second
	}
	return f
}

// Harness is what a connector gives the suite: its features and a way to create fresh source locations.
type Harness struct {
	// Features declares what the connector supports.
	Features Features
	// Setup creates a fresh, empty location with that many splits (a topic with that many partitions, a stream
	// with that many shards, a folder for that many one-row-group files) and returns its environment; a source
	// over a location set up with one split must list exactly one split. The suite calls Setup once per check, on
	// that check's t; release resources with t.Cleanup.
	Setup func(t *testing.T, splits int) Env
}

// Env is one fresh source location, created by Harness.Setup. Splits are numbered 0 to n-1 in the order the
// suite asked for them; the suite never assumes how they map to the source's split IDs (it tells records apart
// by Key and Value). Embed Unsupported to get failing versions of the methods of features the connector lacks.
type Env interface {
	// Source returns a new source over the location each time it is called, as a restarted process would build
	// it (it may return the same value when the source keeps no state of its own). The source must give each
	// Record's Time as its event time, and report undecodable records in Batch.Failures (configure the
	// connector's dead-letter mode where it has one).
	Source(t *testing.T) pipeline.Source[Record]
	// Append writes recs to split, in this order. For an unbounded source they must be readable within
	// Features.Settle after Append returns.
	Append(t *testing.T, split int, recs ...Record)
	// AppendBad writes to split one record the source cannot decode and returns the RecordError.Location the
	// source will report for it (exactly). Features.BadRecords only.
	AppendBad(t *testing.T, split int) (location string)
	// AddSplit adds a split to the location (a partition, a shard split off an existing one) and returns its
	// number. Features.NewSplits only.
	AddSplit(t *testing.T) (split int)
	// End finishes a bounded location: nothing is appended after it (write the files). Features.Bounded only.
	End(t *testing.T)
	// Sink returns a sink writing to the location, whose committed elements Source reads back as records. A
	// new sink each call, as a restarted process would build it. Features.Sink only.
	Sink(t *testing.T) pipeline.Sink[Record]
}

// Unsupported implements the optional methods of Env by failing the test. Embed it in an Env and override what
// the connector supports.
type Unsupported struct{}

// AppendBad fails t.
func (Unsupported) AppendBad(t *testing.T, split int) string {
	t.Helper()
	t.Fatalf("iotest: Env.AppendBad is not implemented (Features.BadRecords must be false)")
	return ""
}

// AddSplit fails t.
func (Unsupported) AddSplit(t *testing.T) int {
	t.Helper()
	t.Fatalf("iotest: Env.AddSplit is not implemented (Features.NewSplits must be false)")
	return 0
}

// End fails t.
func (Unsupported) End(t *testing.T) {
	t.Helper()
	t.Fatalf("iotest: Env.End is not implemented (Features.Bounded must be false)")
}

// Sink fails t.
func (Unsupported) Sink(t *testing.T) pipeline.Sink[Record] {
	t.Helper()
	t.Fatalf("iotest: Env.Sink is not implemented (Features.Sink must be false)")
	return nil
}

// TestSource runs the conformance checks on the source h builds, each as a subtest of t named after the check
// (see the package documentation for the list); the checks that run pipelines are grouped under "Runner". Checks
// of features h does not declare are skipped with a message saying so.
func TestSource(t *testing.T, h Harness) {
	t.Helper()
	if h.Setup == nil {
		t.Fatal("iotest: Harness.Setup is nil")
	}
	s := &suite{h: h, f: h.Features.withDefaults()}
	runChecks(t, s, sourceChecks)
	t.Run("Runner", func(t *testing.T) { runChecks(t, s, runnerChecks) })
}

func runChecks(t *testing.T, s *suite, cs []check) {
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			if msg := c.skip(s.f); msg != "" {
				t.Skip(msg)
			}
			c.run(t, s)
		})
	}
}

// check is one conformance check; skip returns why it does not apply, or "".
type check struct {
	name string
	skip func(Features) string
	run  func(*testing.T, *suite)
}

func always(Features) string { return "" }

func unboundedOnly(f Features) string {
	if f.Bounded {
		return "bounded source: its splits end instead of idling"
	}
	return ""
}

func needsBadRecords(f Features) string {
	if !f.BadRecords {
		return "Features.BadRecords is false"
	}
	return ""
}

func needsNewSplits(f Features) string {
	switch {
	case f.Bounded:
		return "bounded source: no new splits"
	case !f.NewSplits:
		return "Features.NewSplits is false"
	}
	return ""
}

func needsSink(f Features) string {
	if !f.Sink {
		return "Features.Sink is false"
	}
	return ""
}

// sourceChecks use the Source and SplitReader interfaces directly.
var sourceChecks = []check{
	{"OrderPerSplit", always, testOrderPerSplit},
	{"Restart", always, testRestart},
	{"Limits", always, testLimits},
	{"EventTimes", always, testEventTimes},
	{"EndOfInput", always, testEndOfInput},
	{"BadRecords", needsBadRecords, testBadRecords},
	{"Sink", needsSink, testSink},
}

// runnerChecks run pipelines over the source on the local runner.
var runnerChecks = []check{
	{"IdleSplitWatermark", unboundedOnly, testIdleSplitWatermark},
	{"DeadLetters", needsBadRecords, testRunnerDeadLetters},
	{"BadRecordFailsRun", needsBadRecords, testRunnerBadRecordFails},
	{"NewSplits", needsNewSplits, testRunnerNewSplits},
	{"StreamEqualsBatch", always, testStreamEqualsBatch},
}
