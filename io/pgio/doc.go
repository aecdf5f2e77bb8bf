// Package pgio writes a pipeline's output into a PostgreSQL table, exactly once: each value becomes a row upserted
// by its primary key (INSERT … ON CONFLICT … DO UPDATE), and each epoch of the runner is applied to the table in
// one transaction, once, whatever crashes and restarts happen in between.
//
//	type Views struct {
//		URL    string    `pg:"url,key"`
//		Minute time.Time `pg:"minute,key"`
//		Views  int64     `pg:"views,add"`
//	}
//
//	pgio.Write(s, perMinute, pgio.Config[Views]{
//		DSN:   "postgres://kappa@db:5432/analytics",
//		Table: "page_views",
//		JobID: "page-views",
//		Mode:  pgio.Add, // discarding panes: each pane adds to the row
//	})
//
// # Rows
//
// A struct's exported fields are the columns: `pg:"name"` names a field's column (default: the field name in
// snake_case, UserID → user_id), `pg:",key"` marks the primary key columns, `pg:",add"` the columns Mode Add sums,
// `pg:"-"` leaves a field out. Embedded structs are flattened; pointer fields may be NULL. Values go through
// pgx's encoding: int64 to bigint, time.Time to timestamptz, []byte to bytea, maps and structs to json/jsonb,
// and so on. Without a struct, or to compute columns, set Config.Columns and Config.Row (T → one value per
// column) and Config.Key.
//
// The table must exist with a primary key (or a unique index) on exactly the key columns, unless
// Config.CreateTable creates it from the struct's fields.
//
// # Panes: Replace and Add
//
// Mode Replace (the default) overwrites the stored row: right for accumulating panes, where every pane of a
// window holds the whole result so far, and for "latest value per key" tables. Mode Add adds the Add columns to
// the stored ones (and replaces the other non-key columns): right for discarding panes, where each pane holds
// only what arrived since the window's previous pane (early firings, late data). Within an epoch, rows of one key
// are combined the same way before they are written.
//
// # Exactly once
//
// The sink follows kappa's epoch protocol (pipeline.Sink) with a staging table per shard and a marker table:
//
//   - Write buffers the epoch's rows, one per key, and copies them (COPY, binary) in chunks of Config.BatchRows
//     into the shard's staging table kappa_stage_<table>_<hash>_<shard>, tagged with a random batch number.
//   - Prepare copies the rest and returns a token naming the batch: job, shard, epoch, batch, row count. It then
//     runs the apply transaction up to its COMMIT and leaves it open: lock the shard's row in the marker table
//     kappa_pgio_commits (job, table, shard → last committed epoch), INSERT … SELECT the batch from staging ON
//     CONFLICT DO UPDATE, delete the batch from staging, set the marker to this epoch.
//   - The runner writes the token into its checkpoint. Commit then commits the open transaction. Without one (a
//     restarted run committing its checkpoint's tokens, a broken connection) it runs the apply transaction anew,
//     unless the marker shows the epoch (or a later one) committed: then it does nothing.
//
// The rows and the marker change in the same transaction, so an epoch is applied entirely or not at all and
// never twice. Batches prepared after the last checkpoint are never committed: their open transactions die with
// the crashed process's connections, and the next run clears them from staging before it stages the replayed
// epochs. Each shard's connection holds an advisory lock, so a restarted run waits until the crashed run's
// connections are gone and two processes never write one shard. Applying at Prepare lets the shards, which the
// runner prepares in parallel and commits one by one, upsert in parallel; when two shards write one key in an
// epoch, the second one's apply gives up after a 200 ms lock timeout and leaves the apply to Commit.
// docs/postgres.md walks through a crash at every step.
//
// A run that starts from scratch (epoch 0, no checkpoint restored) forgets the job's markers. A run that restores
// a checkpoint or savepoint older than what the markers show fails its first Prepare with ErrEpochCommitted
// rather than skip or double-count rows.
//
// # On Beam
//
// On runners/beam, which prepares writers per bundle (pipeline.Shard.Bundles) and commits them in Beam's bundle
// finalization, the sink (a beam.FinalizedSink) uses a protocol of its own: Prepare stages the bundle's rows in
// the job's shared bundle staging table kappa_stage_<table>_<hash>_b under a random batch recorded in the bundle
// ledger <MarkerTable>_bundles, without touching the target table; Commit applies the batch in the transaction
// that sets its ledger row's committed_at, only while that is NULL, so each persisted bundle is applied exactly
// once however often its token is committed. Batches of failed bundles (never committed) are deleted after
// Config.StagedTTL. docs/postgres.md ("On Beam") says what Beam does not guarantee.
//
// # Failures
//
// Connection failures (refused, reset, server shutting down) are retried on a new connection with exponential
// backoff until Config.RetryTimeout, then fail the epoch with an error naming the table and the epoch. A row the
// server rejects (a NOT NULL or CHECK constraint, a value out of its column type's range, a value pgx cannot
// encode) fails the epoch with a *RowError naming the row's key; staging tables carry the table's NOT NULL and
// CHECK constraints, so such rows fail at Prepare, before the checkpoint. Rows that only the table itself can
// reject (another unique index, a foreign key, a trigger) fail Prepare's apply with the server's detail, which
// names the key; when the apply is left to Commit they fail Commit, and the job cannot pass that epoch until the
// table accepts the rows.
package pgio
