package nexmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// SourceConfig says how a Source splits and paces the generated events.
type SourceConfig struct {
	// Splits is the number of splits (default 1). Split j of k generates events j, j+k, j+2k, …, so every split
	// moves through event time at the same pace, like the partitions of a topic; the events are the same for
	// any number of splits.
	Splits int
	// RateLimited releases each event when it is due in wall-clock time: Start plus its event time's offset from
	// the base time (Beam's isRateLimited). Default false: as fast as the pipeline reads.
	RateLimited bool
	// Start is the wall-clock time of the first event of a rate-limited source (default: when the source is first
	// opened).
	Start time.Time
	// Now is the wall clock of a rate-limited source (default time.Now); tests inject a fake one.
	Now func() time.Time
}

// Source is a kappa source of generated Nexmark events: bounded with Config.Events > 0, unbounded otherwise
// (Beam's bounded and unbounded event sources). A split's position is the number of the next event it generates,
// so restarted jobs resume exactly; its watermark is exact (Generator.MinTimeFrom), in batch and in stream mode:
// read it with Read or with ReadOptions.
type Source struct {
	gen   *Generator
	cfg   SourceConfig
	once  sync.Once
	start time.Time
}

// NewSource returns a source of cfg's events; cfg is validated (zero fields take their defaults).
func NewSource(cfg Config, sc SourceConfig) (*Source, error) {
	g, err := NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	if sc.Splits < 0 {
		return nil, &ConfigError{Field: "Splits", Value: sc.Splits, Want: ">= 1"}
	}
	sc.Splits = max(sc.Splits, 1)
	if int64(sc.Splits) > g.Len() {
		sc.Splits = int(g.Len())
	}
	if sc.Now == nil {
		sc.Now = time.Now
	}
	return &Source{gen: g, cfg: sc, start: sc.Start}, nil
}

// Generator returns the source's generator.
func (s *Source) Generator() *Generator { return s.gen }

// Name describes the source, e.g. "nexmark(events=1000000, seed=0)".
func (s *Source) Name() string { return s.gen.String() }

// Bounded reports whether the source ends: Config.Events > 0.
func (s *Source) Bounded() bool { return s.gen.cfg.Events > 0 }

// Splits returns the splits "j/k".
func (s *Source) Splits(context.Context) ([]pipeline.Split, error) {
	k := int64(s.cfg.Splits)
	out := make([]pipeline.Split, k)
	avg := (int64(s.gen.cfg.AvgPersonByteSize)*PersonProportion + int64(s.gen.cfg.AvgAuctionByteSize)*AuctionProportion +
		int64(s.gen.cfg.AvgBidByteSize)*BidProportion) / ProportionDenominator
	for j := range k {
		var size int64
		if s.Bounded() {
			size = (s.gen.Len() - j + k - 1) / k * avg
		}
		out[j] = pipeline.Split{ID: fmt.Sprintf("%d/%d", j, k), Size: size}
	}
	return out, nil
}

// ReadOptions returns the read options the source's watermarks need: its own exact watermark (the runner's
// out-of-orderness estimate would run ahead of out-of-order groups) and no warning about event times ahead of
// the clock (a rate-limited source with a base time in the future is deliberate).
func (s *Source) ReadOptions() []pipeline.ReadOption {
	return []pipeline.ReadOption{pipeline.WithWatermark(func() pipeline.WatermarkEstimator { return exactWatermark{} }),
		pipeline.FutureSkewWarning(-1)}
}

// Read reads the source's events into the pipeline with its ReadOptions (and opts).
func Read(s pipeline.Scope, src *Source, opts ...pipeline.ReadOption) pipeline.PCollection[Event] {
	return pipeline.Read[Event](s, src, append(src.ReadOptions(), opts...)...)
}

// exactWatermark leaves the watermark to the source's Batch.Watermark guarantees.
type exactWatermark struct{}

func (exactWatermark) Observe(pipeline.Time)             {}
func (exactWatermark) Watermark(time.Time) pipeline.Time { return pipeline.MinTime }

// Open opens split j/k at pos (the next event number, 8 bytes big-endian) or at its first event.
func (s *Source) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[Event], error) {
	var j, k int64
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &j, &k); err != nil || k < 1 || j < 0 || j >= k {
		return nil, fmt.Errorf("nexmark: bad split %q: want j/k with 0 <= j < k", sp.ID)
	}
	r := &reader{s: s, next: j, step: k}
	if pos != nil {
		if len(pos) != 8 {
			return nil, fmt.Errorf("nexmark: split %s: bad position %x: want 8 bytes", sp.ID, pos)
		}
		r.next = int64(binary.BigEndian.Uint64(pos))
		if r.next%k != j || r.next < 0 {
			return nil, fmt.Errorf("nexmark: split %s: position %d is not one of its events", sp.ID, r.next)
		}
	}
	if s.cfg.RateLimited {
		s.once.Do(func() {
			if s.start.IsZero() {
				s.start = s.cfg.Now()
			}
		})
	}
	return r, nil
}

type reader struct {
	s          *Source
	next, step int64
	pos        [8]byte
}

func (r *reader) ReadBatch(ctx context.Context, b *pipeline.Batch[Event], lim pipeline.Limits) error {
	g := r.s.gen
	n := g.Len()
	// MaxWait is real time, whatever clock releases the events.
	deadline := time.Now().Add(lim.MaxWait)
	for {
		due := n
		if r.s.cfg.RateLimited {
			elapsed := r.s.cfg.Now().Sub(r.s.start).Milliseconds()
			due = min(n, r.dueBy(elapsed))
		}
		for r.next < due && b.Len() < lim.MaxRecords && (lim.MaxBytes <= 0 || b.Bytes < lim.MaxBytes) {
			e := g.Event(r.next)
			b.Add(e, pipeline.Time(e.DateTime))
			b.Bytes += e.SizeBytes()
			r.next += r.step
		}
		if r.next >= n {
			return pipeline.ErrEndOfInput
		}
		// A guarantee, not an estimate: no later event of this split is older than the first event of the
		// out-of-order group of its next event.
		b.Watermark = pipeline.Time(g.MinTimeFrom(r.next))
		if !r.s.cfg.RateLimited || b.Len() > 0 {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		wait := r.s.start.Add(time.Duration(g.ReleaseOffsetMs(r.next)) * time.Millisecond).Sub(r.s.cfg.Now())
		wait = min(max(wait, time.Millisecond), left)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// dueBy returns the first event of this split not yet due elapsed ms after the start (binary search: release
// offsets grow with the event number).
func (r *reader) dueBy(elapsed int64) int64 {
	g := r.s.gen
	if g.ReleaseOffsetMs(r.next) > elapsed {
		return r.next
	}
	lo, hi := r.next, r.next+r.step // lo is due; find a bound that is not
	for hi < g.Len() && g.ReleaseOffsetMs(hi) <= elapsed {
		lo, hi = hi, hi+(hi-r.next)*2
	}
	hi = min(hi, g.Len())
	// Invariant: lo due, hi not due (or the end); both on this split's grid.
	for hi-lo > r.step {
		mid := lo + (hi-lo)/r.step/2*r.step
		if g.ReleaseOffsetMs(mid) <= elapsed {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

func (r *reader) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *reader) Close() error { return nil }
