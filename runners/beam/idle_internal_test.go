package beam

import (
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/stretchr/testify/require"
)

// The stage watermark that every split of an unbounded source reports follows runners/local's rule for a
// source's watermark: the minimum over active splits, idle splits left out while any split is active, the maximum
// over idle splits when all are idle, ended splits never counted, and it never moves back.
func TestSplitMarksIdleRule(t *testing.T) {
	wmMin, wmMax := int64(mtime.MinTimestamp), int64(mtime.MaxTimestamp)
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	const idle = time.Second
	type step struct {
		split string
		wm    int64         // the split's own watermark it reports
		at    time.Duration // after t0
		data  bool          // the split read a record at this time
		end   bool          // the split ended at this time
		want  int64
	}
	for _, tc := range []struct {
		name  string
		idle  time.Duration
		steps []step
	}{
		{"no idle timeout: the minimum over all splits", 0, []step{
			{split: "0", wm: 100, at: 5 * time.Second, data: true, want: wmMin},
			{split: "1", wm: 50, at: 5 * time.Second, want: 50},
		}},
		{"an idle split does not hold back an active one", idle, []step{
			{split: "0", wm: 100, at: 500 * time.Millisecond, data: true, want: wmMin},
			{split: "0", wm: 100, at: time.Second, want: 100},
			{split: "0", wm: 200, at: 1500 * time.Millisecond, data: true, want: 200},
		}},
		{"every split idle: the maximum over them", idle, []step{
			{split: "0", wm: 100, at: 0, data: true, want: wmMin},
			{split: "1", wm: 300, at: 0, data: true, want: 100},
			{split: "1", wm: 300, at: 2 * time.Second, want: 300},
		}},
		{"a split active again does not move the watermark back", idle, []step{
			{split: "0", wm: 100, at: 0, data: true, want: wmMin},
			{split: "1", wm: 300, at: 0, data: true, want: 100},
			{split: "1", wm: 300, at: 2 * time.Second, want: 300},
			{split: "0", wm: 150, at: 2 * time.Second, data: true, want: 300},
			{split: "1", wm: 400, at: 2500 * time.Millisecond, data: true, want: 300},
			{split: "0", wm: 350, at: 2500 * time.Millisecond, data: true, want: 350},
		}},
		{"an ended split does not count, idle or not", idle, []step{
			{split: "0", wm: 100, at: 0, data: true, want: wmMin},
			{split: "1", at: 0, end: true, want: 100},
			{split: "0", wm: 100, at: 3 * time.Second, want: 100},
			{split: "0", at: 3 * time.Second, end: true, want: wmMax},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := &splitMarks{idle: tc.idle, m: map[string]*splitMark{}, wm: wmMin}
			for _, id := range []string{"0", "1"} {
				sm.m[id] = &splitMark{wm: wmMin, lastData: t0}
			}
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.data {
					sm.data(s.split, now)
				}
				if s.end {
					sm.end(s.split)
				}
				require.Equal(t, s.want, sm.set(s.split, s.wm, now), "step %d: split %s at %v", i, s.split, s.at)
			}
		})
	}
}
