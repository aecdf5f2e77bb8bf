package w1

import (
	"context"
	"fmt"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// LiveSource releases W1's keys and values in real time, Rate events per second, for latency measurements: event
// i becomes readable at Start + i/Rate and its event time is that moment minus W1's delay for i (up to MaxDelay),
// so event time follows the clock as in a live stream. It is unbounded until N events have been released.
type LiveSource struct {
	N     int64
	Rate  float64
	Parts int
	Start time.Time
}

// Name returns "w1-live".
func (s LiveSource) Name() string { return fmt.Sprintf("w1-live(n=%d, %.0f/s)", s.N, s.Rate) }

// Bounded is true: the source ends after N events.
func (s LiveSource) Bounded() bool { return true }

// Splits interleaves events over Parts splits, like Source.
func (s LiveSource) Splits(ctx context.Context) ([]pipeline.Split, error) {
	return Source{N: s.N, Parts: s.Parts}.Splits(ctx)
}

// Open opens split j/k.
func (s LiveSource) Open(_ context.Context, sp pipeline.Split, _ []byte) (pipeline.SplitReader[Event], error) {
	var j, k int64
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &j, &k); err != nil || k < 1 || j < 0 || j >= k {
		return nil, fmt.Errorf("w1: bad split %q", sp.ID)
	}
	return &liveReader{s: s, next: j, step: k}, nil
}

type liveReader struct {
	s          LiveSource
	next, step int64
}

func (r *liveReader) due(now time.Time) int64 {
	return int64(now.Sub(r.s.Start).Seconds() * r.s.Rate)
}

func (r *liveReader) ReadBatch(ctx context.Context, b *pipeline.Batch[Event], lim pipeline.Limits) error {
	deadline := time.Now().Add(lim.MaxWait)
	for {
		now := time.Now()
		due := min(r.due(now), r.s.N)
		for r.next < due && b.Len() < lim.MaxRecords {
			h := Splitmix64(uint64(r.next))
			release := r.s.Start.Add(time.Duration(float64(r.next) / r.s.Rate * float64(time.Second)))
			e := Event{Key: keys[h%1000], Value: int64((h >> 16) % 1000), Time: release.UnixMilli() - int64((h>>32)%2000)}
			b.Add(e, pipeline.Time(e.Time))
			b.Bytes += EventBytes
			r.next += r.step
		}
		if r.next >= r.s.N {
			return pipeline.ErrEndOfInput
		}
		if b.Len() > 0 || !now.Before(deadline) {
			return nil
		}
		wait := time.Until(r.s.Start.Add(time.Duration(float64(r.next) / r.s.Rate * float64(time.Second))))
		wait = min(max(wait, time.Millisecond), time.Until(deadline))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (r *liveReader) Position() []byte { return nil }
func (r *liveReader) Close() error     { return nil }
