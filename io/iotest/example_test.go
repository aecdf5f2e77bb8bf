package iotest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kappaflow/kappa/io/iotest"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
)

// minimalEnv is the smallest Env: an unbounded in-memory feed without bad records, new splits or a sink.
type minimalEnv struct {
	iotest.Unsupported
	feed *pipelinetest.Feed[iotest.Record]
}

func (e minimalEnv) Source(*testing.T) pipeline.Source[iotest.Record] { return e.feed }

func (e minimalEnv) Append(_ *testing.T, split int, recs ...iotest.Record) {
	for _, r := range recs {
		e.feed.Send(fmt.Sprint(split), pipelinetest.At(r, r.Time))
	}
}

// A connector's test gives TestSource a Harness: what the connector supports and how to set up a fresh location
// with n splits. In a test function: iotest.TestSource(t, harness).
func Example() {
	harness := iotest.Harness{
		Features: iotest.Features{}, // unbounded, no bad records, no new splits, no sink
		Setup: func(t *testing.T, splits int) iotest.Env {
			feed := pipelinetest.NewFeed[iotest.Record]()
			for i := range splits {
				feed.AddSplit(fmt.Sprint(i))
			}
			return minimalEnv{feed: feed}
		},
	}
	_ = harness
}

// Records print as key=value@time in the suite's failure messages.
func ExampleRecord_String() {
	r := iotest.Record{Key: "s0", Value: 7, Time: time.Date(2016, 9, 21, 18, 30, 0, 250e6, time.UTC)}
	fmt.Println(r)
	// Output: s0=7@2016-09-21T18:30:00.250Z
}
