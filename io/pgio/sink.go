package pgio

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/windowing"
)

// ErrEpochCommitted is returned by Prepare when the table's marker table shows that the job already committed the
// epoch being prepared, or a later one: the job was restarted from an older savepoint or checkpoint (or its
// checkpoints were lost), or another job uses the same JobID. Committing again would skip the replayed rows (or,
// in Mode Add, count them twice). See the package documentation for what to do.
var ErrEpochCommitted = errors.New("pgio: epoch already committed")

// ErrStagingLost is returned by Commit when the rows Prepare staged for a token are no longer in the staging
// table (it was truncated or dropped by hand, or another process with the same JobID cleared it).
var ErrStagingLost = errors.New("pgio: staged rows missing")

// RowError is a row the server rejected (a constraint, a value its column type cannot hold) or that could not be
// encoded for its column. It fails the epoch.
type RowError struct {
	// Table is the target table.
	Table string
	// Epoch says which epoch the row belonged to ("epoch 12", or "the epoch after 11" before Prepare).
	Epoch string
	// Key is the row's key, "(user=ann, minute=2024-05-01T12:00:00Z)".
	Key string
	// Err is the cause, a *pgconn.PgError when the server rejected the row.
	Err error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("pgio: table %s: %s: row with key %s rejected: %s", e.Table, e.Epoch, e.Key, describe(e.Err))
}

func (e *RowError) Unwrap() error { return e.Err }

// describe formats an error, with a server error's detail and hint.
func describe(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		s := pe.Error()
		if pe.Detail != "" {
			s += "; " + pe.Detail
		}
		if pe.Hint != "" {
			s += "; hint: " + pe.Hint
		}
		return s
	}
	return err.Error()
}

// Sink upserts values of type T into a PostgreSQL table, exactly once per epoch. It implements
// pipeline.Sink[T]; Write adds one to a pipeline. See the package documentation for how.
type Sink[T any] struct {
	cfg     Config[T]
	connCfg *pgx.ConnConfig
	m       *mapping[T]
	table   qualified
	markers qualified
	name    string

	mu   sync.Mutex
	info *tableInfo // set by the first successful setup
}

var _ pipeline.Sink[struct{}] = (*Sink[struct{}])(nil)

// NewSink validates cfg and returns a sink. It does no I/O: the table is checked (or created) when the first
// shard opens.
func NewSink[T any](cfg Config[T]) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	connCfg, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("pgio: Config.DSN: %w", err)
	}
	if connCfg.ConnectTimeout == 0 {
		connCfg.ConnectTimeout = 10 * time.Second
	}
	m, err := newMapping(&cfg)
	if err != nil {
		return nil, err
	}
	table, _ := parseTable(cfg.Table)
	if cfg.JobID == "" {
		cfg.JobID = "default"
	}
	if cfg.MarkerTable == "" {
		cfg.MarkerTable = "kappa_pgio_commits"
	}
	markers, _ := parseTable(cfg.MarkerTable)
	if cfg.BatchRows == 0 {
		cfg.BatchRows = 10000
	}
	if cfg.RetryTimeout == 0 {
		cfg.RetryTimeout = time.Minute
	}
	if cfg.StagedTTL == 0 {
		cfg.StagedTTL = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	name := cfg.Name
	if name == "" {
		name = "postgres(" + table.String() + ")"
	}
	return &Sink[T]{cfg: cfg, connCfg: connCfg, m: m, table: table, markers: markers, name: name}, nil
}

// Write adds a PostgreSQL sink for col: rows upserted into cfg.Table exactly once per epoch. A config error is
// recorded on the pipeline.
func Write[T any](s pipeline.Scope, col pipeline.PCollection[T], cfg Config[T]) {
	sink, err := NewSink(cfg)
	if err != nil {
		s.AddError(err)
		return
	}
	if msg := paneWarning(sink.cfg.Mode, windowing.Of(col)); msg != "" {
		sink.cfg.Logger.Warn("pgio: "+msg, "sink", sink.name, "windowing", windowing.Of(col).String())
	}
	pipeline.Write[T](s, col, sink)
}

// paneWarning says when the mode does not fit panes that can fire more than once per window: Replace keeps only
// the last of discarding panes, Add counts accumulating panes again.
func paneWarning(mode Mode, st *windowing.Strategy) string {
	once := st.AllowedLateness == 0
	switch t := st.TriggerOrDefault().(type) {
	case windowing.Default:
	case windowing.AfterWatermark:
		once = once && t.Early == nil && t.Late == nil
	default:
		once = false
	}
	switch {
	case once:
		return ""
	case mode == Replace && st.Accumulation == windowing.Discarding:
		return "Mode Replace with discarding panes that can fire more than once per window: each pane overwrites the " +
			"row with only its own part; use Mode Add, or windowing.AccumulatingPanes()"
	case mode == Add && st.Accumulation == windowing.Accumulating:
		return "Mode Add with accumulating panes that can fire more than once per window: each pane adds what earlier " +
			"panes added already; use Mode Replace, or windowing.DiscardingPanes()"
	}
	return ""
}

// CommitsOnBundleFinalization reports true: on runners/beam the sink commits each bundle in Beam's bundle
// finalization (beam.FinalizedSink), exactly once, through the bundle ledger (see the package documentation).
func (s *Sink[T]) CommitsOnBundleFinalization() bool { return true }

// Name returns Config.Name, or "postgres(TABLE)".
func (s *Sink[T]) Name() string { return s.name }

// tableInfo runs setup once (again after a failure).
func (s *Sink[T]) tableInfo(ctx context.Context, conn *pgx.Conn) (*tableInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.info != nil {
		return s.info, nil
	}
	info, err := s.setup(ctx, conn)
	if err != nil {
		return nil, err
	}
	s.info = info
	return info, nil
}

// Open opens the writer of one shard: it connects, checks (or creates) the table, creates the shard's staging
// table and takes the shard's advisory lock.
func (s *Sink[T]) Open(ctx context.Context, shard pipeline.Shard) (pipeline.SinkWriter[T], error) {
	if shard.Count < 1 || shard.Index < 0 || shard.Index >= shard.Count {
		return nil, fmt.Errorf("pgio: %s: bad shard %d of %d", s.name, shard.Index, shard.Count)
	}
	w := &writer[T]{s: s, shard: shard, index: map[string]int{}, seed: maphash.MakeSeed(), lastEpoch: -1, bundles: shard.Bundles}
	if w.bundles {
		w.lockID = newBatchID()
	}
	if err := w.do(ctx, "open shard "+strconv.Itoa(shard.Index), nil, nil); err != nil {
		return nil, err
	}
	return w, nil
}

// token is what Prepare returns and Commit reads.
type token struct {
	Version     int    `json:"v"`
	Job         string `json:"job"`
	Table       string `json:"table"`
	Shard       int    `json:"shard"`
	Epoch       uint64 `json:"epoch"`
	Batch       int64  `json:"batch"`
	Rows        int64  `json:"rows"`
	Dup         bool   `json:"dup,omitempty"` // a key is in more than one chunk
	StageSchema string `json:"stage_schema"`
	Stage       string `json:"stage"`
	// Bundle: prepared per runner bundle (pipeline.Shard.Bundles); Commit applies it once by its batch's row in
	// the bundle ledger, not by the shard's epoch marker.
	Bundle bool `json:"bundle,omitempty"`
}

const tokenVersion = 1

// truncateRows is the batch size above which Commit empties the staging table with TRUNCATE rather than DELETE.
const truncateRows = 10_000

type writer[T any] struct {
	s     *Sink[T]
	shard pipeline.Shard
	conn  *pgx.Conn
	info  *tableInfo
	stage qualified // this shard's staging table

	// The batch being staged: the rows of the epoch in progress.
	batch    int64 // 0: nothing staged yet
	chunk    int32 // chunks copied so far
	staged   int64 // rows copied so far
	dup      bool
	rows     [][]any        // the chunk being built, one row per distinct key
	index    map[string]int // key → row of the chunk
	hashes   []uint64       // key hash per row of the chunk
	first    []uint64       // key hashes of chunk 0
	seen     map[uint64]struct{}
	free     [][]any
	keyBuf   []byte
	seed     maphash.Seed
	pending  []int64 // batches prepared and not yet committed, oldest first
	checked  bool    // the first Prepare checked the marker table
	cleaned  bool    // the staging table was cleared of other runs' batches
	open     *openApply
	noEarly  bool // apply at Commit only
	prepared bool
	// lastEpoch is the ID of the last Prepare, -1 before the first.
	lastEpoch int64
	closed    bool

	// bundles: the runner prepares and commits per bundle (runners/beam; pipeline.Shard.Bundles). The writer then
	// stages into the job's shared bundle staging table, records each batch in the bundle ledger, and holds an
	// advisory lock of its own (lockID) instead of the shard's.
	bundles bool
	lockID  int64
	ledger  qualified
	swept   time.Time // last sweep of expired bundles
}

func (w *writer[T]) where() string {
	return fmt.Sprintf("pgio: table %s: shard %d", w.s.table, w.shard.Index)
}

// epochLabel names the epoch in progress for messages.
func (w *writer[T]) epochLabel() string {
	if w.lastEpoch < 0 {
		return "the first epoch of this run"
	}
	return fmt.Sprintf("the epoch after %d", w.lastEpoch)
}

// Write maps the values to rows and buffers them, one row per key (a later row of a key replaces an earlier one,
// or in Mode Add is added to it); full chunks are copied to the staging table.
func (w *writer[T]) Write(ctx context.Context, elems []pipeline.Element[T]) error {
	m := w.s.m
	for i := range elems {
		row, err := m.row(&elems[i].Value, w.newRow())
		if err != nil {
			return fmt.Errorf("%s: %s: map %T to a row: %w", w.where(), w.epochLabel(), elems[i].Value, err)
		}
		var ok bool
		w.keyBuf, ok = m.appendKey(w.keyBuf[:0], row)
		if !ok {
			return &RowError{Table: w.s.table.String(), Epoch: w.epochLabel(), Key: m.formatKey(row), Err: errors.New("a key column is NULL")}
		}
		if j, dup := w.index[string(w.keyBuf)]; dup {
			if err := w.combine(w.rows[j], row); err != nil {
				return &RowError{Table: w.s.table.String(), Epoch: w.epochLabel(), Key: m.formatKey(row), Err: err}
			}
			continue
		}
		w.index[string(w.keyBuf)] = len(w.rows)
		w.rows = append(w.rows, row)
		w.hashes = append(w.hashes, maphash.Bytes(w.seed, w.keyBuf))
		if len(w.rows) >= w.s.cfg.BatchRows {
			if err := w.flush(ctx, w.epochLabel()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer[T]) newRow() []any {
	if n := len(w.free); n > 0 {
		r := w.free[n-1]
		w.free = w.free[:n-1]
		return r[:0]
	}
	return make([]any, 0, len(w.s.m.cols))
}

// combine merges row into old, a row of the same key: Add columns are added (Mode Add), the others replaced.
func (w *writer[T]) combine(old, row []any) error {
	m := w.s.m
	for _, a := range m.adds {
		v, err := addValues(old[a], row[a])
		if err != nil {
			return fmt.Errorf("column %s: %w", m.cols[a].name, err)
		}
		old[a] = v
	}
	for _, o := range m.others {
		old[o] = row[o]
	}
	clear(row)
	w.free = append(w.free, row)
	return nil
}

// copySource feeds a chunk to CopyFrom, each row prefixed with the batch and chunk numbers.
type copySource struct {
	rows  [][]any
	batch int64
	chunk int32
	next  int // rows handed out
	vals  []any
}

func (c *copySource) Next() bool { c.next++; return c.next <= len(c.rows) }

func (c *copySource) Values() ([]any, error) {
	c.vals = append(append(c.vals[:0], c.batch, c.chunk), c.rows[c.next-1]...)
	return c.vals, nil
}

func (c *copySource) Err() error { return nil }

var copyLine = regexp.MustCompile(`COPY [^,]+, line (\d+)`)

// flush copies the chunk to the staging table, in a transaction of its own. The writer's first chunk also clears
// what crashed runs left in the staging table.
func (w *writer[T]) flush(ctx context.Context, epoch string) error {
	if len(w.rows) == 0 {
		return nil
	}
	w.rollbackOpen() // Commit was not called: the runner moved on; Commit will apply from staging
	if w.batch == 0 {
		w.batch = newBatchID()
		if w.bundles {
			if err := w.stageBundle(ctx, epoch); err != nil {
				return err
			}
		}
	}
	src := &copySource{rows: w.rows, batch: w.batch, chunk: w.chunk}
	cols := append([]string{"kappa_batch", "kappa_chunk"}, w.s.m.names()...)
	// Orphans (batches of crashed runs, which no checkpoint names) exist only before this writer's first chunk:
	// its own batches leave staging through Commit, or through Close when not prepared.
	truncate := !w.cleaned && len(w.pending) == 0 && !w.bundles // the bundle staging table is shared
	n := int64(len(w.rows))
	err := w.do(ctx, epoch+": stage rows", func(ctx context.Context, conn *pgx.Conn) error {
		src.next = 0
		if truncate {
			if _, err := conn.Exec(ctx, "TRUNCATE "+w.stage.sql()); err != nil {
				return err
			}
		}
		got, err := conn.CopyFrom(ctx, pgx.Identifier{w.stage.schema, w.stage.name}, cols, src) // a transaction of its own
		if err != nil {
			return w.rowError(err, src, epoch)
		}
		if got != n {
			return fmt.Errorf("copied %d rows of %d", got, n)
		}
		return nil
	}, func(ctx context.Context, conn *pgx.Conn) (bool, error) {
		// After a connection failure: did the chunk's transaction commit? (The shard's advisory lock, taken by the
		// new connection, waited until the old connection's backend was gone.)
		var got int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+w.stage.sql()+" WHERE kappa_batch = $1 AND kappa_chunk = $2",
			w.batch, w.chunk).Scan(&got); err != nil {
			return false, err
		}
		switch got {
		case n:
			return true, nil
		case 0:
			return false, nil
		}
		return false, fmt.Errorf("%w: chunk %d of batch %d holds %d rows of %d after a connection failure", ErrStagingLost, w.chunk, w.batch, got, n)
	})
	if err != nil {
		return err
	}
	w.cleaned = w.cleaned || truncate
	// Keys seen in an earlier chunk make Commit use the deduplicating statement.
	if w.chunk == 0 {
		w.first = append(w.first[:0], w.hashes...)
	} else {
		if w.seen == nil {
			w.seen = make(map[uint64]struct{}, len(w.first)+len(w.hashes))
			for _, h := range w.first {
				w.seen[h] = struct{}{}
			}
		}
		for _, h := range w.hashes {
			if _, ok := w.seen[h]; ok {
				w.dup = true
			}
		}
		for _, h := range w.hashes {
			w.seen[h] = struct{}{}
		}
	}
	w.staged += n
	w.chunk++
	for _, r := range w.rows {
		clear(r)
		w.free = append(w.free, r)
	}
	w.rows, w.hashes = w.rows[:0], w.hashes[:0]
	clear(w.index)
	return nil
}

// rowError turns a COPY failure into a RowError naming the row's key when a row is to blame.
func (w *writer[T]) rowError(err error, src *copySource, epoch string) error {
	if isTransient(err, w.conn) {
		return err
	}
	row := -1
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !strings.HasPrefix(pe.Message, "COPY from stdin failed") {
		if m := copyLine.FindStringSubmatch(pe.Where); m != nil {
			if line, _ := strconv.Atoi(m[1]); line >= 1 && line <= len(src.rows) {
				row = line - 1
			}
		}
	} else if src.next >= 1 && src.next <= len(src.rows) {
		// A client-side failure (pgx reports it to the server, which answers "COPY from stdin failed: …"). pgx
		// encodes each row as it is handed out: the last one failed.
		row = src.next - 1
	}
	if row < 0 {
		return err
	}
	return &RowError{Table: w.s.table.String(), Epoch: epoch, Key: w.s.m.formatKey(src.rows[row]), Err: err}
}

// Prepare copies the rest of the epoch's rows to the staging table and returns a token naming them (nil when the
// epoch wrote nothing). The first Prepare of a writer also checks the marker table (see ErrEpochCommitted).
func (w *writer[T]) Prepare(ctx context.Context, epoch pipeline.Epoch) ([]byte, error) {
	if w.bundles {
		return w.prepareBundle(ctx, epoch)
	}
	label := fmt.Sprintf("epoch %d", epoch.ID)
	if w.prepared && int64(epoch.ID) <= w.lastEpoch && (len(w.rows) > 0 || w.batch != 0) {
		return nil, fmt.Errorf("%s: %s: prepared after epoch %d: epoch IDs must increase", w.where(), label, w.lastEpoch)
	}
	if err := w.flush(ctx, label); err != nil {
		return nil, err
	}
	if !w.checked {
		if err := w.checkEpoch(ctx, epoch.ID); err != nil {
			return nil, err
		}
		w.checked = true
	}
	w.prepared, w.lastEpoch = true, int64(epoch.ID)
	if w.batch == 0 {
		return nil, nil
	}
	tok, err := json.Marshal(token{Version: tokenVersion, Job: w.s.cfg.JobID, Table: w.s.table.String(), Shard: w.shard.Index,
		Epoch: epoch.ID, Batch: w.batch, Rows: w.staged, Dup: w.dup, StageSchema: w.stage.schema, Stage: w.stage.name})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: encode token: %w", w.where(), label, err)
	}
	t := token{Version: tokenVersion, Job: w.s.cfg.JobID, Table: w.s.table.String(), Shard: w.shard.Index,
		Epoch: epoch.ID, Batch: w.batch, Rows: w.staged, Dup: w.dup, StageSchema: w.stage.schema, Stage: w.stage.name}
	w.pending = append(w.pending, w.batch)
	w.batch, w.chunk, w.staged, w.dup, w.seen = 0, 0, 0, false, nil
	w.first = w.first[:0]
	if !w.noEarly {
		if err := w.applyEarly(ctx, t); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// checkEpoch runs at the first Prepare of a writer. A run that starts from scratch (epoch 0) forgets the job's
// commit markers; a restored run refuses to prepare an epoch the markers show committed.
func (w *writer[T]) checkEpoch(ctx context.Context, epoch uint64) error {
	s := w.s
	label := fmt.Sprintf("epoch %d", epoch)
	return w.do(ctx, label+": check the marker table", func(ctx context.Context, conn *pgx.Conn) error {
		markers := w.info.markers.sql()
		if epoch == 0 {
			tag, err := conn.Exec(ctx, "DELETE FROM "+markers+" WHERE job = $1 AND target = $2", s.cfg.JobID, s.table.String())
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				s.cfg.Logger.Info("pgio: the job starts from scratch (epoch 0): forgot its commit markers", "sink", s.name,
					"table", s.table.String(), "job", s.cfg.JobID, "shard", w.shard.Index, "markers", tag.RowsAffected())
			}
			return nil
		}
		var last int64
		if err := conn.QueryRow(ctx, "SELECT coalesce(max(epoch), -1) FROM "+markers+" WHERE job = $1 AND target = $2",
			s.cfg.JobID, s.table.String()).Scan(&last); err != nil {
			return err
		}
		if last >= int64(epoch) {
			return fmt.Errorf("%w: %s: %s: job %q already committed epoch %d to this table (marker table %s): the run restored an older "+
				"savepoint or checkpoint, or another job uses JobID %q; committing again would skip or double-count rows. To "+
				"recompute from here anyway, delete the job's rows from %s (in Mode Add the replayed epochs are then added again)",
				ErrEpochCommitted, w.where(), label, s.cfg.JobID, last, w.info.markers, s.cfg.JobID, w.info.markers)
		}
		return nil
	}, nil)
}

// decodeToken reads a token and checks that it belongs to this sink.
func (w *writer[T]) decodeToken(raw []byte) (token, error) {
	var t token
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fmt.Errorf("%s: invalid commit token %q: %w", w.where(), raw, err)
	}
	if t.Version != tokenVersion {
		return t, fmt.Errorf("%s: commit token %q has version %d; this pgio reads version %d", w.where(), raw, t.Version, tokenVersion)
	}
	if t.Job != w.s.cfg.JobID || t.Table != w.s.table.String() {
		return t, fmt.Errorf("%s: commit token of job %q, table %s given to the sink of job %q, table %s", w.where(), t.Job, t.Table,
			w.s.cfg.JobID, w.s.table)
	}
	return t, nil
}

// Commit applies the token's staged rows to the table and records the epoch in the marker table, in one
// transaction; if the marker shows the epoch committed already, it does nothing. When Prepare applied the rows
// already in a transaction it left open, Commit commits that transaction.
func (w *writer[T]) Commit(ctx context.Context, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	s := w.s
	t, err := w.decodeToken(raw)
	if err != nil {
		return err
	}
	if t.Bundle != w.bundles {
		return fmt.Errorf("%s: commit token of batch %d was prepared per runner bundle=%t, but this writer is opened per bundle=%t "+
			"(pipeline.Shard.Bundles): commit it with a writer opened the same way", w.where(), t.Batch, t.Bundle, w.bundles)
	}
	if t.Bundle {
		return w.commitBundle(ctx, t)
	}
	label := fmt.Sprintf("epoch %d", t.Epoch)
	own := -1
	for i, b := range w.pending {
		if b == t.Batch {
			own = i
		}
	}
	if o := w.open; o != nil {
		w.open = nil
		if o.batch == t.Batch {
			err := o.tx.Commit(ctx)
			if err == nil {
				if own >= 0 {
					w.pending = append(w.pending[:own], w.pending[own+1:]...)
				}
				return nil
			}
			// Committed or not? The full path below finds out from the marker (on a new connection when this one
			// broke; the shard's advisory lock makes it wait until the old backend is gone).
			s.cfg.Logger.Warn("pgio: committing the epoch's transaction failed; checking the marker", "sink", s.name,
				"shard", w.shard.Index, "epoch", t.Epoch, "err", err)
			if w.conn != nil {
				w.dropConn()
			}
		} else {
			o.tx.Rollback(ctx)
		}
	}
	skipped := false
	err = w.do(ctx, fmt.Sprintf("%s: commit (shard %d)", label, t.Shard), func(ctx context.Context, conn *pgx.Conn) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		skipped, err = w.applyTx(ctx, tx, conn, t, own, true)
		if err != nil || skipped {
			return err
		}
		return tx.Commit(ctx)
	}, nil)
	if err != nil {
		return err
	}
	if own >= 0 {
		w.pending = append(w.pending[:own], w.pending[own+1:]...)
	} else if skipped {
		s.cfg.Logger.Debug("pgio: epoch committed before", "sink", s.name, "shard", t.Shard, "epoch", t.Epoch)
	} else {
		s.cfg.Logger.Info("pgio: committed an epoch prepared before a restart", "sink", s.name, "shard", t.Shard, "epoch", t.Epoch, "rows", t.Rows)
	}
	return nil
}

// applyTx applies a token's batch in tx: it locks the shard's marker row and reads the last committed epoch
// (skipped: the epoch is committed already), applies the staged rows, removes them from staging and moves the
// marker. own is the batch's index in w.pending (-1: not this writer's). The statements go in two round trips.
func (w *writer[T]) applyTx(ctx context.Context, tx pgx.Tx, conn *pgx.Conn, t token, own int, checkpointed bool) (skipped bool, err error) {
	s := w.s
	label := fmt.Sprintf("epoch %d", t.Epoch)
	markers := w.info.markers.sql()
	stage := qualified{schema: t.StageSchema, name: t.Stage}
	// Clear the staging table: big batches with TRUNCATE (a fixed cost of some milliseconds, no dead rows), small
	// ones with DELETE (cheaper below about 10 000 rows; autovacuum takes the dead rows), and with DELETE anyway
	// while the table holds other batches this writer has yet to commit.
	truncate := t.Rows > truncateRows && (stage != w.stage || len(w.pending) == 0 || (len(w.pending) == 1 && own == 0))
	// Lock the shard's marker row (created at -1 if missing) and read the last committed epoch; count the staged
	// rows when the apply's row count will not tell.
	exact := !t.Dup && (len(s.m.adds)+len(s.m.others) > 0) // then each staged row updates or inserts one row
	b := &pgx.Batch{}
	b.Queue("INSERT INTO "+markers+" AS kappa_m (job, target, shard, epoch) VALUES ($1, $2, $3, -1) "+
		"ON CONFLICT (job, target, shard) DO UPDATE SET epoch = kappa_m.epoch RETURNING epoch", t.Job, t.Table, t.Shard)
	if !exact {
		b.Queue("SELECT count(*) FROM "+stage.sql()+" WHERE kappa_batch = $1", t.Batch)
	}
	br := tx.SendBatch(ctx, b)
	var done, n int64
	err = br.QueryRow().Scan(&done)
	if err == nil && !exact {
		err = br.QueryRow().Scan(&n)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if done >= int64(t.Epoch) {
		return true, nil
	}
	if !exact && n != t.Rows {
		return false, w.lost(label, t, n)
	}
	// Apply, empty the staging table, move the marker.
	b = &pgx.Batch{}
	b.Queue(s.applySQL(w.info, stage, t.Dup), t.Batch)
	rest := 2
	if !checkpointed {
		// Only the apply waits for row locks no longer than earlyLockTimeout: TRUNCATE may have to wait for
		// autovacuum to yield the staging table.
		b.Queue("SET LOCAL lock_timeout = 0")
		rest++
	}
	if truncate {
		b.Queue("TRUNCATE " + stage.sql())
	} else {
		b.Queue("DELETE FROM "+stage.sql()+" WHERE kappa_batch = $1", t.Batch)
	}
	b.Queue("UPDATE "+markers+" SET epoch = $4, committed_at = now() WHERE job = $1 AND target = $2 AND shard = $3",
		t.Job, t.Table, t.Shard, int64(t.Epoch))
	br = tx.SendBatch(ctx, b)
	tag, err := br.Exec()
	if err != nil {
		br.Close()
		if isTransient(err, conn) || isLockTimeout(err) {
			return false, err
		}
		if !checkpointed {
			return false, &applyError{fmt.Errorf("%s: %s: applying %d staged rows failed: %s; the epoch fails before its "+
				"checkpoint: change the rows in the pipeline, or the table, and restart: %w", w.where(), label, t.Rows, describe(err), err)}
		}
		return false, &applyError{fmt.Errorf("%s: %s: applying %d staged rows failed: %s; the epoch's token is in the checkpoint, so "+
			"the job cannot get past it until the table accepts the rows: fix the table (or drop the offending rows from "+
			"staging table %s) and restart: %w", w.where(), label, t.Rows, describe(err), stage, err)}
	}
	for range rest {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if exact && tag.RowsAffected() != t.Rows {
		return false, w.lost(label, t, tag.RowsAffected())
	}
	return false, nil
}

// applyError is a rejection of the staged rows by the table, already described.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// isLockTimeout reports a lock_timeout expiry (SQLSTATE 55P03).
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// openApply is an epoch Prepare applied in a transaction it left open for Commit.
type openApply struct {
	tx    pgx.Tx
	batch int64
}

// earlyLockTimeout bounds how long Prepare's apply waits for a row lock (another shard's open transaction holding
// a key this shard writes too) before it leaves the apply to Commit.
const earlyLockTimeout = "200ms"

// applyEarly applies a prepared batch in a transaction left open until Commit, so that the shards, which the
// runner prepares in parallel and commits one after the other, apply their rows in parallel and Commit only
// commits. Anything but a rejection of the rows (returned: it fails the epoch, before its checkpoint) leaves the
// apply to Commit. After a lock wait timed out (two shards writing one key), the writer applies at Commit only.
func (w *writer[T]) applyEarly(ctx context.Context, t token) error {
	conn := w.conn
	if conn == nil || conn.IsClosed() {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		if isTransient(err, conn) {
			w.dropConn()
		}
		return nil
	}
	_, err = tx.Exec(ctx, "SET LOCAL lock_timeout = '"+earlyLockTimeout+"'")
	skipped := false
	if err == nil {
		skipped, err = w.applyTx(ctx, tx, conn, t, len(w.pending)-1, false)
	}
	if err != nil || skipped {
		tx.Rollback(context.Background())
		var ae *applyError
		switch {
		case errors.As(err, &ae), errors.Is(err, ErrStagingLost):
			return err
		case isLockTimeout(err):
			w.noEarly = true
			w.s.cfg.Logger.Info("pgio: a row this shard writes is locked by another transaction (another shard writing the same key, or another writer of the table); applying at Commit from now on", "sink", w.s.name,
				"shard", w.shard.Index, "epoch", t.Epoch)
		case err != nil && isTransient(err, conn):
			w.dropConn()
		}
		return nil
	}
	w.open = &openApply{tx: tx, batch: t.Batch}
	return nil
}

// rollbackOpen abandons the transaction Prepare left open (Commit then applies from staging).
func (w *writer[T]) rollbackOpen() {
	if w.open != nil {
		w.open.tx.Rollback(context.Background())
		w.open = nil
	}
}

func (w *writer[T]) lost(label string, t token, n int64) error {
	return fmt.Errorf("%w: %s: %s: staging table %s holds %d of the %d rows prepared for batch %d (shard %d); it was "+
		"changed outside this job: the epoch cannot be committed", ErrStagingLost, w.where(), label,
		qualified{schema: t.StageSchema, name: t.Stage}, n, t.Rows, t.Batch, t.Shard)
}

// Close drops the rows staged but not prepared (best effort: the next run clears them anyway) and closes the
// connection, which releases the shard's lock. Prepared batches stay for Commit by a restarted run.
func (w *writer[T]) Close(ctx context.Context) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.conn == nil {
		return nil
	}
	w.rollbackOpen()
	if w.batch != 0 && !w.conn.IsClosed() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = w.conn.Exec(cctx, "DELETE FROM "+w.stage.sql()+" WHERE kappa_batch = $1", w.batch)
		if w.bundles {
			_, _ = w.conn.Exec(cctx, "DELETE FROM "+w.ledger.sql()+" WHERE job = $1 AND target = $2 AND batch = $3",
				w.s.cfg.JobID, w.s.table.String(), w.batch)
		}
		cancel()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := w.conn.Close(cctx)
	w.conn = nil
	if err != nil {
		return fmt.Errorf("%s: close: %w", w.where(), err)
	}
	return nil
}

func newBatchID() int64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := int64(binary.BigEndian.Uint64(b[:]) >> 1); id != 0 {
			return id
		}
	}
}
