package pgio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errShardLocked: another connection holds the shard's advisory lock.
var errShardLocked = errors.New("another connection holds the shard's lock")

const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// do runs op on the writer's connection, (re)connecting as needed. After a connection failure it backs off and
// tries again until Config.RetryTimeout has passed; recheck, when set, first asks the new connection whether the
// failed attempt took effect after all (then op is not run again). Other errors are returned at once. op nil only
// connects.
func (w *writer[T]) do(ctx context.Context, what string, op func(context.Context, *pgx.Conn) error,
	recheck func(context.Context, *pgx.Conn) (bool, error)) error {
	cfg := &w.s.cfg
	start := time.Now()
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		conn, err := w.connect(ctx)
		if err == nil && attempt > 1 && recheck != nil {
			var done bool
			done, err = recheck(ctx, conn)
			if err == nil && done {
				return nil
			}
		}
		if err == nil && op != nil {
			err = op(ctx, conn)
		}
		if err == nil {
			return nil
		}
		transient := ctx.Err() == nil && (errors.Is(err, errShardLocked) || isTransient(err, w.conn))
		if w.conn != nil && (transient || w.conn.IsClosed()) {
			w.dropConn()
		}
		if !transient {
			var re *RowError
			if errors.As(err, &re) || errors.Is(err, ErrEpochCommitted) || errors.Is(err, ErrStagingLost) {
				return err // already says where
			}
			return fmt.Errorf("%s: %s: %w", w.where(), what, err)
		}
		elapsed := time.Since(start)
		if cfg.RetryTimeout < 0 || elapsed+backoff > cfg.RetryTimeout {
			return fmt.Errorf("%s: %s: gave up after %d attempts in %s (Config.RetryTimeout %s): %w",
				w.where(), what, attempt, elapsed.Round(time.Millisecond), cfg.RetryTimeout, err)
		}
		cfg.Logger.Warn("pgio: database unreachable; retrying", "sink", w.s.name, "table", w.s.table.String(),
			"shard", w.shard.Index, "op", what, "attempt", attempt, "backoff", backoff, "err", err)
		sleep := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %s: %w (while retrying after: %v)", w.where(), what, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connect returns the writer's connection, opening it when needed: it sets up the table (once per sink) and the
// shard's staging table, and takes the shard's advisory lock, which a crashed predecessor's connection holds
// until its backend has finished (so that a retry sees the outcome of the predecessor's last transaction).
func (w *writer[T]) connect(ctx context.Context) (*pgx.Conn, error) {
	if w.conn != nil && !w.conn.IsClosed() {
		return w.conn, nil
	}
	w.conn = nil
	cc := w.s.connCfg.Copy()
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = fmt.Sprintf("kappa pgio %s shard %d", w.s.cfg.JobID, w.shard.Index)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
		}
	}()
	info, err := w.s.tableInfo(ctx, conn)
	if err != nil {
		return nil, err
	}
	var locked bool
	if w.bundles {
		// A lock of this writer's own (the one-key space does not overlap the shards' two-key locks): a new
		// connection waits until the backend of a broken one is gone before it rechecks a chunk.
		err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", w.lockID).Scan(&locked)
	} else {
		key := lockKey(info.table, w.s.cfg.JobID, w.shard.Index)
		err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(lockClass), key).Scan(&locked)
	}
	if err != nil {
		return nil, err
	}
	if !locked {
		return nil, fmt.Errorf("%w (job %q: a crashed run's connection not yet closed, or another process running the same job)",
			errShardLocked, w.s.cfg.JobID)
	}
	if w.info == nil {
		stage := stageName(info.table, w.s.cfg.JobID, w.shard.Index)
		if w.bundles {
			stage = bundleStageName(info.table, w.s.cfg.JobID)
			ledger, err := w.s.ensureLedger(ctx, conn, info)
			if err != nil {
				return nil, err
			}
			w.ledger = ledger
		}
		if err := w.s.ensureStage(ctx, conn, info, stage); err != nil {
			return nil, err
		}
		w.info, w.stage = info, stage
	}
	ok = true
	w.conn = conn
	return conn, nil
}

func (w *writer[T]) dropConn() {
	w.open = nil // its transaction dies with the connection
	if w.conn == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	w.conn.Close(cctx)
	cancel()
	w.conn = nil
}

// isTransient reports whether err is a connection failure (or a server state that passes), after which the
// operation may be retried on a new connection.
func isTransient(err error, conn *pgx.Conn) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08": // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pe.Code == "53300", pe.Code == "40001", pe.Code == "40P01": // too many connections, serialization, deadlock
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	return conn != nil && conn.IsClosed()
}
