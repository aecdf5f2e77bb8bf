package transforms_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/pipelinetest/teststream"
	"github.com/kappaflow/kappa/transforms"
)

// A day-long deduplication, shortened to 10 s of event time: a MapState of ids seen, each entry with a TTL on the
// watermark's clock. A repeated id is dropped while its entry lives and passes again once it has expired.
func TestStateTTLEventTimeDedup(t *testing.T) {
	seen := transforms.MapState[string, bool]{Name: "seen", TTL: transforms.TTL{After: 10 * time.Second, Clock: transforms.EventTime}}
	at := func(s int64) time.Time { return time.UnixMilli(s * 1000) }
	ts := teststream.New[skv](time.Unix(5000, 0)).
		AddElements(teststream.At(skv{Key: "u", Value: 1}, at(1))).AdvanceWatermark(at(1)).
		AddElements(teststream.At(skv{Key: "u", Value: 1}, at(5))).AdvanceWatermark(at(5)).  // duplicate: dropped
		AddElements(teststream.At(skv{Key: "u", Value: 2}, at(6))).AdvanceWatermark(at(12)). // id 1 expires at 11
		AddElements(teststream.At(skv{Key: "u", Value: 1}, at(12))).                         // passes again
		AddElements(teststream.At(skv{Key: "u", Value: 2}, at(13)))                          // id 2 lives until 16: dropped
	p := pipeline.New()
	s := p.Root()
	out := transforms.StatefulParDo(s, teststream.Read(s, ts), transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[string]) error {
			id := fmt.Sprint(e.Value)
			if _, dup := seen.Get(sc, id); dup {
				return nil
			}
			seen.Put(sc, id, true)
			emit.Emit(fmt.Sprintf("%s@%d", id, e.Time/1000))
			return nil
		}})
	pipelinetest.Equals(s, out, "1@1", "2@6", "1@12")
	teststream.Run(t, p, ts.Clock())
}

// A ValueState with a processing-time TTL forgets its value once the runner's clock has moved past it, whatever
// the watermark does; a write restarts the clock, a read does not.
func TestStateTTLProcessingTime(t *testing.T) {
	last := transforms.ValueState[int]{Name: "last", TTL: transforms.TTL{After: time.Minute, Clock: transforms.ProcessingTime}}
	ts := teststream.New[skv](time.Unix(5000, 0)).
		AddElements(teststream.At(skv{Key: "a", Value: 1}, time.UnixMilli(1000))).
		AdvanceProcessingTime(30 * time.Second).
		AddElements(teststream.At(skv{Key: "a", Value: 2}, time.UnixMilli(2000))). // sees 1; writes 2 at +30 s
		AdvanceProcessingTime(45 * time.Second).
		AddElements(teststream.At(skv{Key: "a", Value: 3}, time.UnixMilli(3000))). // +75 s: sees 2 (written +30 s)
		AdvanceProcessingTime(2 * time.Minute).
		AddElements(teststream.At(skv{Key: "a", Value: 4}, time.UnixMilli(4000))) // +195 s: 3 expired at +135 s
	p := pipeline.New()
	s := p.Root()
	out := transforms.StatefulParDo(s, teststream.Read(s, ts), transforms.StatefulFuncs[string, int, string]{
		Process: func(_ context.Context, sc *transforms.StateContext[string], e pipeline.Element[int], emit transforms.Emitter[string]) error {
			prev, ok := last.Read(sc)
			if !ok {
				emit.Emit(fmt.Sprintf("%d after nothing", e.Value))
			} else {
				emit.Emit(fmt.Sprintf("%d after %d", e.Value, prev))
			}
			last.Write(sc, e.Value)
			return nil
		}})
	pipelinetest.Equals(s, out, "1 after nothing", "2 after 1", "3 after 2", "4 after nothing")
	teststream.Run(t, p, ts.Clock())
}
