package status

import (
	"math"
	"time"
)

// Snapshot is the state of a running job at one moment: what GET /api/v1/snapshot returns. A runner builds one
// between micro-batches (the local runner: at most every 250 ms) and the server hands the latest one out; a
// snapshot is never modified once published.
type Snapshot struct {
	// Seq numbers the snapshots of a run: 1, 2, …
	Seq uint64 `json:"seq"`
	// TakenAt is when the snapshot was built (processing time).
	TakenAt time.Time `json:"taken_at"`
	// Job summarises the run.
	Job Job `json:"job"`
	// Stages are the nodes of the job graph: chains of fused transforms that run on every worker between
	// shuffles, in topological order.
	Stages []Stage `json:"stages"`
	// Edges connect the stages: "hash" for a shuffle by key into a keyed transform, "forward" where a fused
	// transform reads the output of another stage without a shuffle (Flatten of two sources).
	Edges []Edge `json:"edges"`
	// Transforms lists every transform of the pipeline with its element counts, in pipeline order.
	Transforms []Transform `json:"transforms"`
	// Sources lists the sources with their splits.
	Sources []Source `json:"sources"`
	// State lists the keyed transforms' state.
	State []KeyedState `json:"state"`
	// Checkpoints is the checkpoint history.
	Checkpoints Checkpoints `json:"checkpoints"`
}

// Job states.
const (
	StateStarting  = "starting"  // planning, opening sinks
	StateRestoring = "restoring" // restoring a checkpoint or savepoint
	StateRunning   = "running"
	StateDraining  = "draining"  // StopWhenIdle: watermarks at +inf, the last windows fire
	StateFinished  = "finished"  // every source ended, or drained
	StateStopped   = "stopped"   // stopped with a savepoint
	StateCancelled = "cancelled" // the context was cancelled
	StateFailed    = "failed"
)

// Job summarises the run.
type Job struct {
	// Name is the job's name (the program name unless the runner was told otherwise).
	Name string `json:"name"`
	// Mode is "batch" or "stream".
	Mode string `json:"mode"`
	// State is one of the State* constants.
	State string `json:"state"`
	// Error is the error the run failed with (State "failed"), redacted.
	Error string `json:"error,omitempty"`
	// StartedAt is when the run started; UptimeMillis the time since.
	StartedAt    time.Time `json:"started_at"`
	UptimeMillis int64     `json:"uptime_ms"`
	// Workers is the number of parallel workers (the parallelism of every stage).
	Workers int `json:"workers"`
	// Supersteps counts micro-batches.
	Supersteps int64 `json:"supersteps"`
	// Epoch is the number of the epoch in progress (epochs committed so far, plus restored ones).
	Epoch uint64 `json:"epoch"`
	// Records and Bytes count what the sources read; the rates are averages over the last RateWindowMillis.
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	RecordsPerSecond float64 `json:"records_per_s"`
	BytesPerSecond   float64 `json:"bytes_per_s"`
	RateWindowMillis int64   `json:"rate_window_ms"`
	// Watermark is the input watermark of the job: the minimum over its sources.
	Watermark Watermark `json:"watermark"`
	// LateDropped counts elements dropped behind the allowed lateness, over all transforms (see
	// Transform.LateDropped); DeadLettered records sent to dead-letter outputs, over all sources; Future records
	// stamped too far ahead of processing time.
	LateDropped  int64 `json:"late_dropped"`
	DeadLettered int64 `json:"dead_lettered"`
	Future       int64 `json:"future"`
	// Panes counts the panes the groupings emitted, by timing.
	Panes Panes `json:"panes"`
	// StateEntries is the keyed state held, over all keyed transforms; Spilled the entries moved to disk so far.
	StateEntries int64 `json:"state_entries"`
	Spilled      int64 `json:"spilled"`
	// Progress is set when every source is bounded (a batch job or a backfill): how much is read, and when it
	// will be done.
	Progress *Progress `json:"progress,omitempty"`
	// RestoredFrom names the checkpoint or savepoint the run started from ("" for none).
	RestoredFrom string `json:"restored_from,omitempty"`
}

// Panes counts panes by timing.
type Panes struct {
	Early  int64 `json:"early"`
	OnTime int64 `json:"on_time"`
	Late   int64 `json:"late"`
}

// Progress is the progress of bounded input.
type Progress struct {
	// Percent read, by bytes when the splits' sizes are known, else by splits.
	Percent float64 `json:"percent"`
	// BytesRead and BytesTotal: bytes of the splits read so far, and of all splits (0 when sizes are unknown).
	BytesRead  int64 `json:"bytes_read"`
	BytesTotal int64 `json:"bytes_total"`
	// SplitsDone and SplitsTotal count splits (Parquet: row groups).
	SplitsDone  int `json:"splits_done"`
	SplitsTotal int `json:"splits_total"`
	// EtaMillis estimates the time left at the rate so far; null until something was read.
	EtaMillis *int64 `json:"eta_ms"`
}

// Watermark is an event time as the page shows it.
type Watermark struct {
	// Time is RFC 3339 with milliseconds in UTC, "-inf" before any input, "+inf" once the input has ended.
	Time string `json:"time"`
	// Millis is the time in Unix milliseconds, null when infinite.
	Millis *int64 `json:"ms"`
	// LagMillis is processing time minus the watermark (how far behind real time it is), null when infinite.
	LagMillis *int64 `json:"lag_ms"`
}

// NewWatermark describes the event time ms (Unix milliseconds; math.MinInt64 and math.MaxInt64 are -inf and
// +inf) at processing time now.
func NewWatermark(ms int64, now time.Time) Watermark {
	switch ms {
	case math.MinInt64:
		return Watermark{Time: "-inf"}
	case math.MaxInt64:
		return Watermark{Time: "+inf"}
	}
	lag := now.UnixMilli() - ms
	return Watermark{Time: time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), Millis: &ms, LagMillis: &lag}
}

// Stage is a node of the job graph: a chain of transforms fused on every worker. A source stage starts at a
// source; a keyed stage starts at the consuming side of a keyed transform (grouping, combine, stateful ParDo),
// after the shuffle. The chain runs up to the next shuffle or the sinks.
type Stage struct {
	// ID is the stage's index in Snapshot.Stages; Name names its first transform.
	ID   int    `json:"id"`
	Name string `json:"name"`
	// Kind is "source" or "keyed".
	Kind string `json:"kind"`
	// Parallelism is the number of workers running the stage.
	Parallelism int `json:"parallelism"`
	// Transforms are the names of the stage's transforms in chain order (details in Snapshot.Transforms).
	Transforms []string `json:"transforms"`
	// Watermark is the stage's input watermark: the minimum over the sources upstream of it.
	Watermark Watermark `json:"watermark"`
	// HeldBack says which split holds the watermark back; null when no split does (every source ended, or no
	// split has data yet).
	HeldBack *HeldBack `json:"held_back"`
	// BusyRatio is the share of wall time the stage's workers spent working over the last RateWindowMillis (0–1):
	// for a source stage, reads that returned records and the fused chain they ran through; for a keyed stage,
	// consuming, firing and the chain after it. BusyMillis is the total since the start, per worker on average.
	BusyRatio  float64 `json:"busy_ratio"`
	BusyMillis float64 `json:"busy_ms"`
	// InPerSecond and OutPerSecond are the element rates into the stage's first transform and out of its last
	// ones, when counted (see Transform).
	InPerSecond  *float64 `json:"in_per_s"`
	OutPerSecond *float64 `json:"out_per_s"`
}

// HeldBack names the split that holds a stage's watermark back: the active split with the smallest watermark
// among the splits of the sources upstream of the stage. Idle splits (past their source's idle timeout) and ended
// ones do not hold anything back.
type HeldBack struct {
	// Source and Split name it (Source is the source's name, redacted).
	Source    string `json:"source"`
	Split     string `json:"split"`
	Transform string `json:"transform"`
	// Watermark is the split's own watermark.
	Watermark Watermark `json:"watermark"`
	// NextSplit is the next slowest active split and ByMillis how far behind it the holding split's watermark is:
	// what the stage's watermark would gain if the split caught up. Null when no other split is active.
	NextSplit *string `json:"next_split"`
	ByMillis  *int64  `json:"by_ms"`
	// MedianGapMillis is how far the split is behind the median watermark of the stage's other active splits,
	// null when there are none.
	MedianGapMillis *int64 `json:"median_gap_ms"`
	// Since is when this split became the one holding the watermark back (continuously since), and ForMillis the
	// time since.
	Since     time.Time `json:"since"`
	ForMillis int64     `json:"for_ms"`
}

// Edge connects two stages.
type Edge struct {
	// From and To are stage IDs.
	From int `json:"from"`
	To   int `json:"to"`
	// Ship is "hash" (shuffled by key) or "forward" (no shuffle).
	Ship string `json:"ship"`
	// Transform is the transform of stage To that reads the edge; Type the element type crossing it.
	Transform string `json:"transform"`
	Type      string `json:"type"`
	// Elements and PerSecond count what crossed the edge, when counted (null otherwise).
	Elements  *int64   `json:"elements"`
	PerSecond *float64 `json:"per_s"`
}

// Transform is one transform of the pipeline.
type Transform struct {
	// Name is the transform's full (unique) name, its uid; Kind the operator, e.g. "CombinePerKey" or
	// "Read(kafka://…)" (redacted).
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Role is "source", "element" (fused element-wise), "keyed" or "sink".
	Role string `json:"role"`
	// Stage is the ID of the stage the transform runs in.
	Stage int `json:"stage"`
	// In and Out count the elements the transform received and emitted on all workers, and the rates are their
	// averages over the last RateWindowMillis. Null when not counted: sources count what they read (Out) and
	// groupings the panes they emit (Out); a transform's In is the sum of its inputs' counts when those are
	// known. Operators that count elements themselves fill the rest (see the local runner's ElementCounter).
	In           *int64   `json:"in"`
	Out          *int64   `json:"out"`
	InPerSecond  *float64 `json:"in_per_s"`
	OutPerSecond *float64 `json:"out_per_s"`
	// LateDropped counts elements the transform dropped behind the allowed lateness; OverlappingSessions session
	// panes that overlap one already emitted; DeadLettered (sources) records sent to the dead-letter output.
	LateDropped         int64 `json:"late_dropped"`
	OverlappingSessions int64 `json:"overlapping_sessions"`
	DeadLettered        int64 `json:"dead_lettered"`
}

// Source is a source of the pipeline.
type Source struct {
	// Name is the source's name (e.g. its URL), redacted; Transform the Read transform; Stage its stage ID.
	Name      string `json:"name"`
	Transform string `json:"transform"`
	Stage     int    `json:"stage"`
	// Bounded is true for finite sources (files, bounded Kafka reads, generators with a count).
	Bounded bool `json:"bounded"`
	// Records and Bytes count what was read; the rates are averages over the last RateWindowMillis.
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	RecordsPerSecond float64 `json:"records_per_s"`
	BytesPerSecond   float64 `json:"bytes_per_s"`
	// Watermark is the source's watermark: the minimum over its active splits.
	Watermark Watermark `json:"watermark"`
	// DeadLettered counts records sent to the dead-letter output; Future records stamped too far ahead of
	// processing time.
	DeadLettered int64 `json:"dead_lettered"`
	Future       int64 `json:"future"`
	// IdleTimeoutMillis is the source's idle timeout (0: splits never count as idle).
	IdleTimeoutMillis int64 `json:"idle_timeout_ms"`
	// Remaining is set for bounded sources: what is left to read and when it will be done.
	Remaining *Remaining `json:"remaining,omitempty"`
	// Splits lists the splits known so far.
	Splits []Split `json:"splits"`
}

// Remaining is what a bounded source has left to read.
type Remaining struct {
	// Splits not read to the end; Files among them (distinct files of Parquet row-group splits, whose IDs are
	// "file#rg=N"; equal to Splits for sources whose splits are not parts of files).
	Splits int `json:"splits"`
	Files  int `json:"files"`
	// Bytes left, when the splits' sizes are known (else 0).
	Bytes int64 `json:"bytes"`
	// Percent read (by bytes when sizes are known, else by splits) and the estimated time left at the source's
	// rate so far (null until something was read).
	Percent   float64 `json:"percent"`
	EtaMillis *int64  `json:"eta_ms"`
}

// Split states.
const (
	SplitReading = "reading" // being read
	SplitIdle    = "idle"    // no record for longer than the source's idle timeout: excluded from the watermark
	SplitWaiting = "waiting" // waits for its parents to end (Kinesis child shards)
	SplitQueued  = "queued"  // bounded source: waits for a free slot (Config.OpenSplits)
	SplitDone    = "done"    // read to the end
)

// Split is one split of a source: a Kafka partition, a Kinesis shard, a Parquet row group.
type Split struct {
	// ID is the split's ID (redacted); Worker the worker reading it; State one of the Split* constants.
	ID     string `json:"id"`
	Worker int    `json:"worker"`
	State  string `json:"state"`
	// Position is the reader's position: the connector's description (e.g. "offset 1234"), else the raw bytes in
	// hex.
	Position string `json:"position"`
	// Records and Bytes count what was read from the split; RecordsPerSecond over the last RateWindowMillis.
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	RecordsPerSecond float64 `json:"records_per_s"`
	// Watermark is the split's own watermark (its estimator's, or the source's guarantee); MaxEventTime the
	// largest event time read from it.
	Watermark    Watermark `json:"watermark"`
	MaxEventTime Watermark `json:"max_event_time"`
	// LastRecordAt is when the split last returned records (null: never in this run).
	LastRecordAt *time.Time `json:"last_record_at"`
	// Lag is how far the reader is behind the head of the split, when the connector knows (Kafka, Kinesis); null
	// otherwise.
	Lag *Lag `json:"lag"`
	// BytesLeft is the split's size minus the bytes read, when the size is known (Parquet row groups).
	BytesLeft *int64 `json:"bytes_left"`
	// HoldsBack is true when this split holds back the watermark of some stage (see Stage.HeldBack).
	HoldsBack bool `json:"holds_back"`
}

// Lag is how far a split's reader is behind the head of its split.
type Lag struct {
	// Records between the position and the head (Kafka: the partition's last stable offset minus the next
	// offset); null when the connector cannot tell (Kinesis).
	Records *int64 `json:"records"`
	// BehindMillis is how far behind the head the reader is in time (Kafka: now minus the timestamp of the next
	// unread record; Kinesis: MillisBehindLatest); null when unknown.
	BehindMillis *int64 `json:"behind_ms"`
}

// KeyedState is the state of one keyed transform.
type KeyedState struct {
	// Transform is the keyed transform's name; Kind its operator; Stage the stage it starts.
	Transform string `json:"transform"`
	Kind      string `json:"kind"`
	Stage     int    `json:"stage"`
	// Entries counts state entries (key × window, or key × slice for sliding windows) held in memory, in all and
	// per worker (skew between workers shows hot keys).
	Entries          int64   `json:"entries"`
	EntriesPerWorker []int64 `json:"entries_per_worker"`
	// Bytes estimates the memory the state holds, when the operator reports it (null otherwise).
	Bytes *int64 `json:"bytes"`
	// Spilled counts entries moved to disk so far (Config.StateMemory).
	Spilled int64 `json:"spilled"`
}

// Checkpoints is the checkpoint history of the run.
type Checkpoints struct {
	// Enabled is true when the run checkpoints (Config.Checkpoints); IntervalMillis is the epoch interval.
	Enabled        bool  `json:"enabled"`
	IntervalMillis int64 `json:"interval_ms"`
	// Completed and Failed count checkpoints and savepoints of this run.
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	// RestoredFrom names what the run restored ("" for none) and RestoreMillis how long that took.
	RestoredFrom  string `json:"restored_from,omitempty"`
	RestoreMillis int64  `json:"restore_ms"`
	// History lists the most recent checkpoints and savepoints, newest first (up to 30).
	History []Checkpoint `json:"history"`
}

// Checkpoint is one checkpoint or savepoint.
type Checkpoint struct {
	// Epoch is the epoch the checkpoint ends; Name its prefix in the store (chk-…/ or savepoint-…/).
	Epoch uint64 `json:"epoch"`
	Name  string `json:"name"`
	// Kind is "checkpoint" or "savepoint".
	Kind string `json:"kind"`
	// StartedAt is when writing it started; DurationMillis how long it took; Bytes its size (state objects and
	// manifest); AgeMillis the time since it completed.
	StartedAt      time.Time `json:"started_at"`
	DurationMillis int64     `json:"duration_ms"`
	Bytes          int64     `json:"bytes"`
	AgeMillis      int64     `json:"age_ms"`
	// Error is set when it failed (redacted).
	Error string `json:"error,omitempty"`
}
