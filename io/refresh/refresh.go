package refresh

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/transforms"
)

// ErrEmptySnapshot is the cause of a failed reload whose Load returned no rows in stream mode: a side input cannot
// tell an empty snapshot from one not loaded yet, so an empty load keeps the previous snapshot, like a failure.
var ErrEmptySnapshot = errors.New("the load returned no rows")

// Config configures a periodically re-read source.
type Config[T any] struct {
	// Load reads the whole snapshot: every row of the table, file or folder. It is called once at the start and
	// then every Every; a call that fails keeps the previous snapshot (see MaxFailures). ParquetLoad and CSVLoad
	// make Loads for files. Required.
	Load func(ctx context.Context) ([]T, error)
	// Every is the processing time between the start of one load and the start of the next, in stream mode.
	// Required unless Bounded.
	Every time.Duration
	// Bounded loads once and ends, for batch runs: the side input is then complete (its watermark +inf) and
	// every main element sees that one snapshot. Default false: reload every Every, never end (stream runs).
	Bounded bool
	// MaxFailures, when positive, fails the run after that many consecutive failed reloads. Default 0: never;
	// the previous snapshot is kept for as long as reloads fail. Either way each failure is logged with the
	// source's Name and the error, and counted as a dead letter of the source (local runner: Stats.DeadLettered
	// and the kappa_dead_letter_records metric, labelled with Name).
	MaxFailures int
	// Name names the source in logs, metrics, errors and the status page, e.g. the file's URL. Default "refresh".
	Name string
	// Logger receives a line per load and per failure. Default: the job's logger (slog.Default() outside a run).
	Logger *slog.Logger
}

func (c *Config[T]) validate() error {
	var errs []error
	if c.Load == nil {
		errs = append(errs, errors.New("refresh: Config.Load is nil"))
	}
	if !c.Bounded && c.Every <= 0 {
		errs = append(errs, fmt.Errorf("refresh: Config.Every is %s: set a positive interval, or Bounded", c.Every))
	}
	if c.MaxFailures < 0 {
		errs = append(errs, fmt.Errorf("refresh: Config.MaxFailures is %d, not ≥ 0", c.MaxFailures))
	}
	return errors.Join(errs...)
}

// Snapshot is one load: its generation (0 for the first load of a job, counting on across restarts from a
// checkpoint) and its rows. The Source emits one Snapshot per load; Read turns it into rows.
type Snapshot[T any] struct {
	// Gen is the load's generation, the pane index of its rows.
	Gen int64
	// Rows are the rows the load returned.
	Rows []T
}

// Read adds a periodically re-read source to the pipeline and returns its rows: every load's rows, as one pane
// of the global window whose pane index is the load's generation. Read it as a side input (AsSingleton, AsIter,
// or — with transforms.Snapshots — AsMap, AsMultiMap, AsTable) to have main elements see the latest snapshot; see
// the package documentation for timestamps, watermark and failures. Failed reloads are counted as dead letters
// of the source and dropped; ReadWithFailures returns them.
func Read[T any](s pipeline.Scope, cfg Config[T]) pipeline.PCollection[T] {
	rows, _ := ReadWithFailures(s, cfg)
	return rows
}

// ReadWithFailures is Read that also returns the failed reloads, one *pipeline.RecordError each (Source the
// Name, Location the generation and the count of failures in a row, Err the Load's error), for alerting.
func ReadWithFailures[T any](s pipeline.Scope, cfg Config[T]) (pipeline.PCollection[T], pipeline.PCollection[*pipeline.RecordError]) {
	src, err := NewSource(cfg)
	if err != nil {
		s.AddError(err)
		return pipeline.PCollection[T]{}, pipeline.PCollection[*pipeline.RecordError]{}
	}
	snaps, failures := pipeline.ReadWithDeadLetters[Snapshot[T]](s, src, pipeline.ReadName("refresh.Read"),
		pipeline.FutureSkewWarning(-1))
	rows := transforms.ParDo(s, snaps, transforms.DoFunc[Snapshot[T], T](func(_ context.Context, e pipeline.Element[Snapshot[T]], emit transforms.Emitter[T]) error {
		pane := pipeline.Pane{Index: e.Value.Gen, NonSpeculativeIndex: e.Value.Gen, First: e.Value.Gen == 0, Last: cfg.Bounded}
		for _, v := range e.Value.Rows {
			emit.EmitElement(pipeline.Element[T]{Value: v, Time: e.Time, Window: e.Window, Pane: pane})
		}
		return nil
	}), transforms.Name("refresh.Rows"))
	return rows, failures
}

// Source is the pipeline.Source of Read: one split whose records are Snapshots.
type Source[T any] struct {
	cfg        Config[T]
	log        *slog.Logger
	defaultLog bool
}

// NewSource validates cfg and returns the source.
func NewSource[T any](cfg Config[T]) (*Source[T], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Source[T]{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log, s.defaultLog = slog.Default(), true
	}
	return s, nil
}

// SetDefaultLogger makes the source log to the job's logger unless Config.Logger is set.
func (s *Source[T]) SetDefaultLogger(l *slog.Logger) {
	if l != nil && s.defaultLog {
		s.log = l
	}
}

// Name returns Config.Name, or "refresh".
func (s *Source[T]) Name() string {
	if s.cfg.Name != "" {
		return s.cfg.Name
	}
	return "refresh"
}

// Bounded reports Config.Bounded.
func (s *Source[T]) Bounded() bool { return s.cfg.Bounded }

// splitID is the source's only split.
const splitID = "snapshots"

// Splits returns the one split.
func (s *Source[T]) Splits(context.Context) ([]pipeline.Split, error) {
	return []pipeline.Split{{ID: splitID}}, nil
}

var _ pipeline.Source[Snapshot[int]] = (*Source[int])(nil)

// Open opens the split at pos: the generation of the next snapshot (8 bytes big-endian), or 0 when nil. A
// reader opened at a position loads at once: the files may have changed while the job was down.
func (s *Source[T]) Open(ctx context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[Snapshot[T]], error) {
	if sp.ID != splitID {
		return nil, fmt.Errorf("%s: unknown split %q (the source has one split, %q)", s.Name(), sp.ID, splitID)
	}
	r := &reader[T]{s: s}
	if pos != nil {
		if len(pos) != 8 {
			return nil, fmt.Errorf("%s: bad position %x (want the next generation, 8 bytes)", s.Name(), pos)
		}
		r.gen = int64(binary.BigEndian.Uint64(pos))
	}
	// Loads in stream mode run in the background (see ReadBatch): they get a context of their own, cancelled by
	// Close, with the values of the run's.
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return r, nil
}

// loadResult is what a background load returns.
type loadResult[T any] struct {
	rows    []T
	err     error
	started time.Time
	took    time.Duration
}

type reader[T any] struct {
	s        *Source[T]
	gen      int64     // generation of the next snapshot; > 0: a snapshot was emitted (in this run or before a restore)
	next     time.Time // when the next load starts (zero: at once)
	failures int       // consecutive failed loads
	pending  chan loadResult[T]
	ctx      context.Context
	cancel   context.CancelFunc
	pos      [8]byte
}

func (r *reader[T]) load(ctx context.Context) loadResult[T] {
	start := time.Now()
	rows, err := r.s.cfg.Load(ctx)
	return loadResult[T]{rows: rows, err: err, started: start, took: time.Since(start)}
}

// ReadBatch emits a snapshot when a load has finished. In stream mode it never waits: a due load starts in the
// background and ReadBatch returns an empty batch at once, so a slow load does not hold up the micro-batches of
// the rest of the pipeline; its snapshot is emitted by the first ReadBatch after it finished. Every batch carries
// the processing time minus 1 ms as its watermark guarantee (the next snapshot is stamped later). In Bounded
// mode it loads synchronously, once, and ends.
func (r *reader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[Snapshot[T]], _ pipeline.Limits) error {
	if r.s.cfg.Bounded {
		if r.gen > 0 {
			return pipeline.ErrEndOfInput
		}
		res := r.load(ctx)
		if res.err != nil {
			return fmt.Errorf("load: %w", res.err) // the runner names the source and split
		}
		r.emit(b, res, time.Now())
		return pipeline.ErrEndOfInput
	}
	now := time.Now() // the snapshot's timestamp and, minus 1 ms, the batch's watermark guarantee
	if r.pending == nil && !now.Before(r.next) {
		ch := make(chan loadResult[T], 1)
		r.pending = ch
		go func() { ch <- r.load(r.ctx) }()
	}
	if r.pending != nil {
		select {
		case res := <-r.pending:
			r.pending = nil
			r.next = res.started.Add(r.s.cfg.Every)
			if err := r.finished(b, res, now); err != nil {
				return err
			}
		default:
		}
	}
	b.Watermark = max(b.Watermark, pipeline.TimeOf(now)-1)
	return nil
}

// finished handles a background load's result: a snapshot, or a failure.
func (r *reader[T]) finished(b *pipeline.Batch[Snapshot[T]], res loadResult[T], now time.Time) error {
	if res.err == nil && len(res.rows) == 0 {
		res.err = ErrEmptySnapshot
	}
	if res.err == nil {
		r.failures = 0
		r.emit(b, res, now)
		return nil
	}
	if r.ctx.Err() != nil {
		return nil // closing
	}
	r.failures++
	if r.gen == 0 {
		// No snapshot ever: main elements would wait for one forever. A restored run has one (in the checkpoint).
		return fmt.Errorf("first load: %w", res.err)
	}
	if r.s.cfg.MaxFailures > 0 && r.failures >= r.s.cfg.MaxFailures {
		return fmt.Errorf("%d reloads in a row failed (MaxFailures %d), the last one: %w", r.failures,
			r.s.cfg.MaxFailures, res.err)
	}
	r.s.log.Warn("refresh: reload failed; keeping the previous snapshot", "source", r.s.Name(),
		"snapshot", r.gen-1, "failures_in_a_row", r.failures, "next", r.next.UTC().Format(time.RFC3339), "error", res.err)
	b.Fail(&pipeline.RecordError{Source: r.s.Name(), Location: fmt.Sprintf("reload %d (failure %d in a row)", r.gen, r.failures),
		Err: res.err})
	return nil
}

// emit appends the snapshot, stamped with the processing time now (after the watermarks given so far, which were
// earlier processing times minus 1 ms).
func (r *reader[T]) emit(b *pipeline.Batch[Snapshot[T]], res loadResult[T], now time.Time) {
	b.Add(Snapshot[T]{Gen: r.gen, Rows: res.rows}, pipeline.TimeOf(now))
	r.s.log.Info("refresh: loaded snapshot", "source", r.s.Name(), "snapshot", r.gen, "rows", len(res.rows),
		"took", res.took.Round(time.Millisecond))
	r.gen++
}

// Position returns the generation of the next snapshot.
func (r *reader[T]) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.gen))
	return r.pos[:]
}

// Close cancels a load in flight.
func (r *reader[T]) Close() error {
	r.cancel()
	return nil
}
