package local

import (
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Mode selects how source watermarks are used.
type Mode uint8

const (
	// Batch fires every window once, complete, as in a Beam or Spark batch job: watermarks move only as far as
	// sources guarantee (Batch.Watermark hints), never on estimates, and jump to +inf when all sources have
	// ended. No data is ever late. The default.
	Batch Mode = iota
	// Stream advances watermarks from each split's event times as data arrives, firing windows (and early and
	// late panes) continuously and dropping state behind the watermark, as a Flink or Beam streaming job.
	Stream
)

// String returns "batch" or "stream".
func (m Mode) String() string {
	if m == Stream {
		return "stream"
	}
	return "batch"
}

// Config configures the local runner. The zero value runs in batch mode on all cores.
type Config struct {
	// Workers is the number of parallel workers (default GOMAXPROCS). Keyed state is hash-partitioned over them.
	Workers int
	// Mode is Batch (default) or Stream.
	Mode Mode
	// BatchRecords caps the records read from each split per micro-batch (default 10000: measured best for W1;
	// larger batches amortise barriers but leave caches). It is per split: a micro-batch over 8 active splits
	// reads up to 8 × BatchRecords records (bounded sources read at most OpenSplits splits per worker at a time).
	BatchRecords int
	// BatchBytes caps the bytes read from each split per micro-batch (default 64 MiB), per split like
	// BatchRecords.
	BatchBytes int64
	// OpenSplits is how many splits of a bounded source one worker reads at a time (default 4); the others wait
	// their turn in split order. Unbounded sources read every split.
	OpenSplits int
	// BatchWait is the longest a micro-batch waits for records from an unbounded source (default 100ms).
	BatchWait time.Duration
	// DiscoveryInterval is how often unbounded sources are asked for new splits (default 10s).
	DiscoveryInterval time.Duration
	// EpochInterval is how often sinks commit (and, with checkpoints, state is saved) in stream mode
	// (default 10s). Batch runs commit once, at the end.
	EpochInterval time.Duration
	// StopWhenIdle, when positive, drains and stops a run once no source has produced a record for this long:
	// the watermark jumps to +inf so every window fires, sinks commit, then Run returns nil.
	StopWhenIdle time.Duration
	// Now is the processing-time clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the run's Prometheus metrics (default: a private registry, see Runner.Gatherer).
	Registerer prometheus.Registerer
	// MetricsAddr, when set (e.g. "127.0.0.1:9464"), serves the metrics at http://MetricsAddr/metrics during the
	// run.
	MetricsAddr string
	// StatusAddr, when set (e.g. "127.0.0.1:8080"), serves the job's status page at http://StatusAddr/ during the
	// run: the graph of stages, rates, split lags and watermarks, what holds the watermark back, state and
	// checkpoints, and the same data as JSON under /api/v1/ (see docs/operations.md). An address without a host
	// binds the loopback interface; port 0 picks a free port (Runner.StatusURL). An address in use fails Run
	// before anything is read.
	StatusAddr string
	// JobName names the job on the status page (default: the program's name).
	JobName string
	// Progress, when set, receives a progress line (records, bytes, rate, and for bounded sources percent and
	// ETA) every ProgressInterval.
	Progress io.Writer
	// ProgressInterval is the time between progress lines (default 5s).
	ProgressInterval time.Duration
	// Checkpoints, when set, makes every epoch a checkpoint: operator state, source positions and watermarks and
	// the sinks' commit tokens are written there atomically before the sinks publish, and a run restores the
	// newest checkpoint found there before it starts. Epochs then also happen in batch mode, every
	// EpochInterval.
	Checkpoints CheckpointStore
	// KeepCheckpoints is how many complete checkpoints are kept (default 3); older ones are deleted.
	KeepCheckpoints int
	// StartFrom names a savepoint (see Runner.Savepoint) to restore instead of the newest checkpoint, or a
	// retained checkpoint by its name, "chk-<epoch>" (to step back past a damaged newest one; the error restoring
	// it lists the others).
	StartFrom string
	// AllowNonRestoredState lets a run restore a checkpoint or savepoint that holds state, positions or commit
	// tokens of transforms the pipeline no longer has (Flink's --allowNonRestoredState): they are dropped, with a
	// warning. By default such a restore is refused before anything is read. State is matched by transform name:
	// renaming a stateful transform drops its state.
	AllowNonRestoredState bool
	// Migrations convert the checkpointed state of keyed transforms whose state types changed (see
	// MigrateAccumulator). Without one, such a restore is refused, naming the transform and both types.
	Migrations []Migration
	// FullCheckpointEvery bounds the chains of incremental checkpoints: a keyed transform's state is written whole
	// at least every FullCheckpointEvery checkpoints (default 20), and otherwise as the changes of each epoch.
	FullCheckpointEvery int
	// StateMemory, when positive, is the heap budget in bytes for keyed state: past it, groupings over
	// non-merging windows with the default trigger move their state to an embedded LSM store (Pebble) on local
	// disk and read it back when their windows fire. The runner also sets the Go memory limit to 1.5× the budget
	// (unless GOMEMLIMIT is set) so that the garbage collector keeps the heap near it.
	StateMemory int64
	// SpillDir is where spilled state lives (default: the system temporary directory); it is removed at the end.
	SpillDir string
	// EpochHook, when set, is called at each step of an epoch's end with the epoch and the step: "prepared"
	// (sinks staged), "state-written" (state objects written, manifest not yet), "checkpointed" (manifest
	// written), "committing" (after the first shard's commit), "committed". Fault-injection tests use it to
	// crash at a precise point.
	EpochHook func(epoch uint64, step string)
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.BatchRecords <= 0 {
		c.BatchRecords = 10000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 64 << 20
	}
	if c.OpenSplits <= 0 {
		c.OpenSplits = 4
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 100 * time.Millisecond
	}
	if c.DiscoveryInterval <= 0 {
		c.DiscoveryInterval = 10 * time.Second
	}
	if c.EpochInterval <= 0 {
		c.EpochInterval = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FullCheckpointEvery <= 0 {
		c.FullCheckpointEvery = 20
	}
	if c.KeepCheckpoints <= 0 {
		c.KeepCheckpoints = 3
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 5 * time.Second
	}
	return c
}
