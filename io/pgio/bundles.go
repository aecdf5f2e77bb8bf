package pgio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappaflow/kappa/pipeline"
)

// This file is the sink's protocol for runners that prepare and commit writers per bundle of their own
// (pipeline.Shard.Bundles: runners/beam, which commits in Beam's bundle finalization). Shard indexes and epoch IDs
// identify nothing there — every worker process numbers its writers from 0 and every writer its bundles — and a
// bundle that fails after Prepare is retried elsewhere while its token is never committed. So each bundle's rows go
// to the job's shared bundle staging table under a fresh random batch number, the batch gets a row in the bundle
// ledger (<MarkerTable>_bundles: job, table, batch, staged_at, committed_at), and Commit applies the batch in one
// transaction that also sets the ledger row's committed_at — only while it is NULL, so a second Commit of the token
// finds it set and does nothing. Nothing holds a lock on the target table between Prepare and Commit.

// ErrBundleExpired is returned by Commit of a bundle whose staged rows were deleted as abandoned (StagedTTL passed
// before its finalization) or are otherwise gone; it wraps ErrStagingLost.
var ErrBundleExpired = fmt.Errorf("%w: the bundle's batch is not in the bundle ledger", ErrStagingLost)

// sweepEvery is how often a writer deletes expired bundles.
const sweepEvery = 10 * time.Minute

// bundleStageName names the staging table the bundle writers of a job share: kappa_stage_<table>_<hash>_b.
func bundleStageName(table qualified, job string) qualified {
	h := fnv.New32a()
	h.Write([]byte(table.String()))
	h.Write([]byte{0})
	h.Write([]byte(job))
	short := table.name
	if len(short) > 30 {
		short = short[:30]
	}
	return table.sibling(fmt.Sprintf("kappa_stage_%s_%08x_b", short, h.Sum32()))
}

// ensureLedger creates the bundle ledger beside the marker table when missing.
func (s *Sink[T]) ensureLedger(ctx context.Context, conn *pgx.Conn, info *tableInfo) (qualified, error) {
	name := info.markers.name
	if len(name) > 55 {
		name = name[:55]
	}
	ledger := info.markers.sibling(name + "_bundles")
	tx, err := conn.Begin(ctx)
	if err != nil {
		return ledger, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(lockClass+1), int32(setupLock)); err != nil {
		return ledger, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ledger.sql()+` (
			job text NOT NULL,
			target text NOT NULL,
			batch bigint NOT NULL,
			staged_at timestamptz NOT NULL DEFAULT now(),
			committed_at timestamptz,
			PRIMARY KEY (job, target, batch))`); err != nil {
		return ledger, fmt.Errorf("create bundle ledger %s: %w", ledger, err)
	}
	return ledger, tx.Commit(ctx)
}

// stageBundle records a new batch in the ledger before its first chunk is copied (so that every staged row
// belongs to a ledger row, and expires with it), and deletes expired bundles every sweepEvery.
func (w *writer[T]) stageBundle(ctx context.Context, label string) error {
	s := w.s
	return w.do(ctx, label+": record the bundle in the ledger", func(ctx context.Context, conn *pgx.Conn) error {
		if time.Since(w.swept) >= sweepEvery {
			if err := w.sweep(ctx, conn); err != nil {
				return err
			}
			w.swept = time.Now()
		}
		_, err := conn.Exec(ctx, "INSERT INTO "+w.ledger.sql()+" (job, target, batch) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			s.cfg.JobID, s.table.String(), w.batch)
		return err
	}, nil)
}

// sweep deletes the staged rows and ledger rows of bundles staged more than StagedTTL ago and never committed
// (their bundles failed, and the runner retried them), and the ledger rows of bundles committed more than
// StagedTTL ago (no Commit of their tokens can follow).
func (w *writer[T]) sweep(ctx context.Context, conn *pgx.Conn) error {
	s := w.s
	ttl := s.cfg.StagedTTL.Seconds()
	tag, err := conn.Exec(ctx, "WITH expired AS (DELETE FROM "+w.ledger.sql()+" WHERE job = $1 AND target = $2 AND "+
		"committed_at IS NULL AND staged_at < now() - make_interval(secs => $3) RETURNING batch) "+
		"DELETE FROM "+w.stage.sql()+" WHERE kappa_batch IN (SELECT batch FROM expired)", s.cfg.JobID, s.table.String(), ttl)
	if err != nil {
		return fmt.Errorf("delete expired bundles: %w", err)
	}
	if tag.RowsAffected() > 0 {
		s.cfg.Logger.Info("pgio: deleted the staged rows of bundles that were never committed (failed bundles)", "sink", s.name,
			"table", s.table.String(), "rows", tag.RowsAffected(), "older than", s.cfg.StagedTTL)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM "+w.ledger.sql()+" WHERE job = $1 AND target = $2 AND committed_at < now() - make_interval(secs => $3)",
		s.cfg.JobID, s.table.String(), ttl); err != nil {
		return fmt.Errorf("delete old bundle ledger rows: %w", err)
	}
	return nil
}

// prepareBundle copies the rest of the bundle's rows to staging and returns a token naming the batch (nil when
// the bundle wrote nothing). It touches neither the target table nor any lock on it.
func (w *writer[T]) prepareBundle(ctx context.Context, epoch pipeline.Epoch) ([]byte, error) {
	label := fmt.Sprintf("bundle %d of writer %x", epoch.ID, w.lockID)
	if err := w.flush(ctx, label); err != nil {
		return nil, err
	}
	if w.batch == 0 {
		return nil, nil
	}
	tok, err := json.Marshal(token{Version: tokenVersion, Job: w.s.cfg.JobID, Table: w.s.table.String(), Shard: w.shard.Index,
		Epoch: epoch.ID, Batch: w.batch, Rows: w.staged, Dup: w.dup, StageSchema: w.stage.schema, Stage: w.stage.name, Bundle: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: encode token: %w", w.where(), label, err)
	}
	w.batch, w.chunk, w.staged, w.dup, w.seen = 0, 0, 0, false, nil
	w.first = w.first[:0]
	return tok, nil
}

// commitBundle applies a bundle's batch once: in one transaction it sets the batch's committed_at in the ledger
// (only while NULL: a second Commit finds it set and does nothing), applies the staged rows and deletes them.
func (w *writer[T]) commitBundle(ctx context.Context, t token) error {
	s := w.s
	label := fmt.Sprintf("bundle batch %d", t.Batch)
	stage := qualified{schema: t.StageSchema, name: t.Stage}
	skipped := false
	err := w.do(ctx, label+": commit", func(ctx context.Context, conn *pgx.Conn) error {
		skipped = false
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		// The row lock on the ledger row makes a concurrent Commit of the same token wait, then find it committed.
		tag, err := tx.Exec(ctx, "UPDATE "+w.ledger.sql()+" SET committed_at = now() WHERE job = $1 AND target = $2 AND batch = $3 AND committed_at IS NULL",
			t.Job, t.Table, t.Batch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var done bool
			err := tx.QueryRow(ctx, "SELECT committed_at IS NOT NULL FROM "+w.ledger.sql()+" WHERE job = $1 AND target = $2 AND batch = $3",
				t.Job, t.Table, t.Batch).Scan(&done)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: %s: %s (%d rows): ledger %s has no row for it: it was deleted as abandoned after StagedTTL "+
					"(%s) or by hand, so the bundle's rows are lost", ErrBundleExpired, w.where(), label, t.Rows, w.ledger, s.cfg.StagedTTL)
			}
			if err != nil {
				return err
			}
			skipped = done
			return nil
		}
		exact := !t.Dup && (len(s.m.adds)+len(s.m.others) > 0)
		b := &pgx.Batch{}
		if !exact {
			b.Queue("SELECT count(*) FROM "+stage.sql()+" WHERE kappa_batch = $1", t.Batch)
		}
		b.Queue(s.applySQL(w.info, stage, t.Dup), t.Batch)
		b.Queue("DELETE FROM "+stage.sql()+" WHERE kappa_batch = $1", t.Batch)
		br := tx.SendBatch(ctx, b)
		var n int64
		if !exact {
			if err := br.QueryRow().Scan(&n); err != nil {
				br.Close()
				return err
			}
		}
		applied, err := br.Exec()
		if err != nil {
			br.Close()
			if isTransient(err, conn) {
				return err
			}
			return &applyError{fmt.Errorf("%s: %s: applying %d staged rows failed: %s; the bundle was persisted by the runner, "+
				"so its rows stay in staging table %s until StagedTTL: fix the table and apply them by hand, or accept their loss: %w",
				w.where(), label, t.Rows, describe(err), stage, err)}
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		if exact {
			n = applied.RowsAffected()
		}
		if n != t.Rows {
			return w.lost(label, t, n)
		}
		return tx.Commit(ctx)
	}, nil)
	if w.closed && w.conn != nil {
		w.dropConn() // committed after Close: do not keep the connection
	}
	if err != nil {
		return err
	}
	if skipped {
		s.cfg.Logger.Debug("pgio: bundle committed before", "sink", s.name, "batch", t.Batch)
	}
	return nil
}
