package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

type split struct {
	s        pipeline.Split
	worker   int
	sr       exec.SplitRunner
	est      pipeline.WatermarkEstimator
	hint     pipeline.Time
	maxSeen  pipeline.Time // largest event time read, to restore the estimator
	seen     bool
	done     bool
	lastData time.Time
	records  int64
	bytes    int64
	dead     int64 // records sent to the dead-letter output
	future   int64 // records too far ahead of processing time (pipeline.MaxFutureSkew, FutureSkewWarning)
	pos      []byte
}

type source struct {
	t          *pipeline.Transform
	op         exec.SourceOp
	name       string
	bounded    bool
	outs, dlqs []any
	splits     []*split
	known      map[string]*split
	wm         pipeline.Time
	ended      bool
	// idle: in stream mode every split of the source has been idle past its IdleTimeout, so the source does not
	// hold back the stages it feeds while another source feeding them is active (stageWatermark).
	idle          bool
	lastDiscovery time.Time
	load          []int64 // per worker: assigned split sizes (for balancing)
	readThisStep  int64
	bytesThisStep int64
	records       int64
	bytes         int64
	dead, future  int64       // totals over splits, updated with the watermark
	warnedFuture  atomic.Bool // the first record too far ahead was logged
}

// splitCounts is implemented by pipeline.Read's split runners: what went to the dead-letter output and how many
// records were too far ahead of processing time since the last call.
type splitCounts interface {
	TakeCounts() (deadLettered, future int64, firstFuture string)
}

func newSource(t *pipeline.Transform, op exec.SourceOp, cfg Config) *source {
	if d, ok := op.(interface{ SetDefaultLogger(*slog.Logger) }); ok {
		d.SetDefaultLogger(cfg.Logger) // connectors log where the job logs, unless configured otherwise
	}
	return &source{t: t, op: op, name: op.SourceName(), bounded: op.Bounded(), outs: make([]any, cfg.Workers),
		dlqs: make([]any, cfg.Workers), known: map[string]*split{}, wm: pipeline.MinTime, load: make([]int64, cfg.Workers)}
}

// discover asks the source for its splits and assigns new ones to the least loaded worker.
func (s *source) discover(ctx context.Context, now time.Time) error {
	s.lastDiscovery = now
	splits, err := s.op.Splits(ctx)
	if err != nil {
		return fmt.Errorf("%s: list splits: %w", s.name, err)
	}
	for _, sp := range splits {
		s.add(sp, now)
	}
	return nil
}

// add registers a split (once) and assigns it to the least loaded worker.
func (s *source) add(sp pipeline.Split, now time.Time) *split {
	if st, ok := s.known[sp.ID]; ok {
		return st
	}
	w := 0
	for i := range s.load {
		if s.load[i] < s.load[w] {
			w = i
		}
	}
	s.load[w] += max(sp.Size, 1)
	st := &split{s: sp, worker: w, est: s.op.NewWatermarkEstimator(), hint: pipeline.MinTime, maxSeen: pipeline.MinTime, lastData: now}
	s.known[sp.ID] = st
	s.splits = append(s.splits, st)
	return st
}

// ready reports whether the split may be read: every parent has ended.
func (s *source) ready(sp *split) bool {
	for _, p := range sp.s.Parents {
		if ps, ok := s.known[p]; ok && !ps.done {
			return false
		}
	}
	return true
}

// readWorker reads one batch from every active split assigned to w.
func (s *source) readWorker(ctx context.Context, w *exec.Worker, cfg Config, now time.Time) error {
	active := 0
	for _, sp := range s.splits {
		if sp.worker == w.Index && !sp.done {
			active++
		}
	}
	if active == 0 {
		return nil
	}
	lim := pipeline.Limits{MaxRecords: cfg.BatchRecords, MaxBytes: cfg.BatchBytes, MaxWait: max(cfg.BatchWait/time.Duration(active), time.Millisecond)}
	open := 0
	for _, sp := range s.splits {
		if sp.worker != w.Index || sp.done || !s.ready(sp) {
			continue
		}
		// A bounded source (files, row groups) is read a few splits at a time per worker, in split order, so that
		// a backfill of thousands of row groups does not open them all at once; an unbounded one (partitions,
		// shards) reads every split, or idle partitions would stall its watermark.
		if s.bounded && open >= cfg.OpenSplits {
			break
		}
		open++
		if sp.sr == nil {
			r, err := s.op.Open(ctx, sp.s, sp.pos)
			if err != nil {
				return err
			}
			sr, ok := r.(exec.SplitRunner)
			if !ok {
				return fmt.Errorf("%s: split runner %T", s.name, r)
			}
			sp.sr = sr
		}
		w.Current = s.t.Name()
		if c, ok := sp.sr.(interface{ SetProcessingTime(time.Time) }); ok {
			c.SetProcessingTime(now) // for pipeline.MaxFutureSkew: the micro-batch's processing time
		}
		n, bytes, maxT, hint, err := sp.sr.Read(ctx, lim, s.outs[w.Index], s.dlqs[w.Index])
		end := errors.Is(err, pipeline.ErrEndOfInput)
		if err != nil && !end {
			return err
		}
		sp.records += int64(n)
		sp.bytes += bytes
		if c, ok := sp.sr.(splitCounts); ok {
			dead, future, first := c.TakeCounts()
			sp.dead += dead
			sp.future += future
			if first != "" && !s.warnedFuture.Swap(true) {
				w.Logger.Warn("kappa: records stamped ahead of processing time (a producer's clock is wrong?); "+
					"in stream mode they move the watermark and make the data after them late. Refuse them with "+
					"pipeline.MaxFutureSkew, or raise pipeline.FutureSkewWarning if they are expected",
					"source", s.name, "first", first)
			}
		}
		if n > 0 {
			sp.est.Observe(maxT)
			if !sp.seen || maxT > sp.maxSeen {
				sp.maxSeen, sp.seen = maxT, true
			}
			sp.lastData = now
		}
		if hint > sp.hint {
			sp.hint = hint
		}
		sp.pos = slices.Clone(sp.sr.Position())
		if end {
			sp.done = true
			if err := sp.sr.Close(); err != nil {
				return fmt.Errorf("%s: close split %s: %w", s.name, sp.s.ID, err)
			}
			sp.sr = nil
		}
	}
	return nil
}

// updateWatermark recomputes the source watermark after a read phase: the minimum over active splits (idle ones
// excluded after the idle timeout), +inf once every split of a bounded source has ended. In batch mode it moves
// only as far as the splits' guarantees (Batch.Watermark hints) allow until then. drain forces +inf.
func (s *source) updateWatermark(cfg Config, now time.Time, drain bool) {
	var recs, bytes, dead, future int64
	allDone := s.bounded
	for _, sp := range s.splits {
		recs += sp.records
		bytes += sp.bytes
		dead += sp.dead
		future += sp.future
		allDone = allDone && sp.done
	}
	s.dead, s.future = dead, future
	s.readThisStep, s.bytesThisStep = recs-s.records, bytes-s.bytes
	s.records, s.bytes = recs, bytes
	s.idle = false
	if drain || allDone {
		s.wm, s.ended = pipeline.MaxTime, true
		return
	}
	if cfg.Mode == Batch {
		// Batch mode ignores heuristic estimates — nothing may be late — but honours what sources guarantee (their
		// Batch.Watermark hints: W1's disorder bound, a Parquet row group's minimum time), so that a backfill's
		// windows fire, complete, as the input moves past them and state stays bounded.
		wm := pipeline.MaxTime
		for _, sp := range s.splits {
			if !sp.done {
				wm = min(wm, sp.hint)
			}
		}
		if wm > s.wm {
			s.wm = wm
		}
		return
	}
	// The minimum over active splits; splits idle for longer than the timeout do not count. When every split is
	// idle, the maximum over them, as Flink's StatusWatermarkValve does: nothing is arriving, so nothing can be
	// late relative to what was seen.
	idle := s.op.IdleTimeout()
	var v exec.IdleValve[pipeline.Time]
	for _, sp := range s.splits {
		if sp.done || !s.ready(sp) {
			continue
		}
		v.Add(max(sp.est.Watermark(now), sp.hint), idle > 0 && now.Sub(sp.lastData) >= idle)
	}
	if wm, ok, allIdle := v.Watermark(); ok {
		s.idle = allIdle
		s.wm = max(s.wm, wm)
	}
}

// ack acknowledges the positions read so far upstream (after the sinks committed).
func (s *source) ack(ctx context.Context) error {
	a := s.op.Acknowledger()
	if a == nil {
		return nil
	}
	pos := make(map[string][]byte, len(s.splits))
	for _, sp := range s.splits {
		if sp.pos != nil {
			pos[sp.s.ID] = sp.pos
		}
	}
	if len(pos) == 0 {
		return nil
	}
	if err := a.Ack(ctx, pos); err != nil {
		return fmt.Errorf("%s: acknowledge: %w", s.name, err)
	}
	return nil
}

func (s *source) close() error {
	var errs []error
	for _, sp := range s.splits {
		if sp.sr != nil {
			if err := sp.sr.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: close split %s: %w", s.name, sp.s.ID, err))
			}
			sp.sr = nil
		}
	}
	if c, ok := s.op.(interface{ CloseSource() error }); ok {
		if err := c.CloseSource(); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// progress returns bytes read and the total size of bounded splits (0 when unknown).
func (s *source) progress() (read, total int64) {
	for _, sp := range s.splits {
		if sp.s.Size <= 0 {
			return 0, 0
		}
		total += sp.s.Size
		if sp.done {
			read += sp.s.Size
		} else {
			read += min(sp.bytes, sp.s.Size)
		}
	}
	return read, total
}
