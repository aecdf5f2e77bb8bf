package pgio

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Mode says how a row written for a key that is already in the table combines with the stored row.
type Mode int

const (
	// Replace overwrites the stored row's columns with the new row's (ON CONFLICT … DO UPDATE SET c = EXCLUDED.c):
	// for accumulating panes, each of which holds the whole result so far, and for "latest value per key" tables.
	// The default.
	Replace Mode = iota
	// Add adds the new row's Add columns to the stored ones (SET c = t.c + EXCLUDED.c) and replaces the other
	// columns: for discarding panes, each of which holds only what arrived since the previous pane of its window.
	Add
)

// String returns "replace" or "add".
func (m Mode) String() string {
	switch m {
	case Replace:
		return "replace"
	case Add:
		return "add"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config configures a PostgreSQL sink of values of type T.
//
// Rows come from T's fields (a struct; see the package documentation for the pg tags) unless Row is set. DSN and
// Table are required; the key columns come from the tags or from Key.
type Config[T any] struct {
	// DSN is the pgx connection string, "postgres://user:password@host:5432/db?sslmode=disable" or
	// "host=… user=… dbname=…". Each shard (runner worker) holds one connection. Required.
	DSN string
	// Table is the target table, "name" or "schema.name" (unquoted; each part is quoted as given). Required.
	Table string
	// JobID names this job's commits in the table's marker table, so that jobs writing to one table keep their
	// progress apart. Two sinks writing the same table must have different JobIDs. Default "default".
	JobID string

	// Key names the primary key columns (the table needs a primary key or unique index on exactly them).
	// Default: the fields tagged `pg:",key"`.
	Key []string
	// Mode combines rows with stored rows of the same key: Replace (default) or Add.
	Mode Mode
	// Add names the columns Mode Add adds up (numeric columns). Default: the fields tagged `pg:",add"`. Only
	// with Mode Add.
	Add []string

	// Columns and Row map values to rows without struct tags: Row returns one value per column of Columns, in
	// order (values pgx can encode for the column's type; nil is NULL). Set both or neither.
	Columns []string
	// Row maps a value to its row; see Columns.
	Row func(v T) ([]any, error)

	// CreateTable creates the table from T's fields when it does not exist (struct mapping only; key columns
	// form the primary key, pointer fields are nullable, the others NOT NULL). Default false: the table must
	// exist.
	CreateTable bool
	// MarkerTable is the table (in Table's schema unless qualified) holding each job's last committed epoch per
	// shard; created when missing. Default "kappa_pgio_commits".
	MarkerTable string

	// BatchRows is how many distinct rows a shard buffers before it copies them to its staging table. Default
	// 10000.
	BatchRows int
	// RetryTimeout bounds how long an operation is retried after connection failures (with exponential backoff
	// from 100ms to 5s) before the epoch fails with an error naming the table and epoch. Default 1m; negative: no
	// retries.
	RetryTimeout time.Duration
	// Name names the sink in logs, metrics and errors. Default "postgres(TABLE)".
	Name string
	// Logger receives a line when an operation is retried and when a restart commits or skips an epoch. Default
	// slog.Default().
	Logger *slog.Logger

	// StagedTTL applies on runners/beam (writers prepared per bundle, pipeline.Shard.Bundles): rows staged by a
	// bundle that no commit applied within StagedTTL belong to a bundle that failed (Beam retried it) and are
	// deleted, as are the bundle ledger's rows of bundles committed longer ago. It must exceed the longest wait of a
	// prepared bundle for its finalization. Default 24h.
	StagedTTL time.Duration
}

// Validate reports every invalid setting at once.
func (c *Config[T]) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("pgio: "+format, args...)) }
	if c.DSN == "" {
		add("Config.DSN is empty")
	}
	if _, err := parseTable(c.Table); err != nil {
		add("Config.Table: %v", err)
	}
	if c.MarkerTable != "" {
		if _, err := parseTable(c.MarkerTable); err != nil {
			add("Config.MarkerTable: %v", err)
		}
	}
	if c.Mode != Replace && c.Mode != Add {
		add("Config.Mode %v is unknown", c.Mode)
	}
	if c.Mode == Replace && len(c.Add) > 0 {
		add("Config.Add %v is set but Mode is Replace (use Mode Add)", c.Add)
	}
	if (c.Row == nil) != (len(c.Columns) == 0) {
		add("Config.Columns and Config.Row go together: set both or neither")
	}
	if c.Row != nil && c.CreateTable {
		add("Config.CreateTable needs the struct mapping (it takes column types from T's fields), not Config.Row")
	}
	if c.StagedTTL < 0 {
		add("Config.StagedTTL %s is negative", c.StagedTTL)
	}
	if c.BatchRows < 0 {
		add("Config.BatchRows %d is negative", c.BatchRows)
	}
	for _, l := range []struct {
		name string
		cols []string
	}{{"Key", c.Key}, {"Add", c.Add}, {"Columns", c.Columns}} {
		seen := map[string]bool{}
		for _, col := range l.cols {
			if col == "" {
				add("Config.%s holds an empty column name", l.name)
			} else if seen[col] {
				add("Config.%s names column %q twice", l.name, col)
			}
			seen[col] = true
		}
	}
	return errors.Join(errs...)
}

// qualified is a table name, optionally with its schema.
type qualified struct {
	schema, name string
}

func parseTable(s string) (qualified, error) {
	if s == "" {
		return qualified{}, errors.New("empty")
	}
	schema, name, ok := strings.Cut(s, ".")
	if !ok {
		schema, name = "", s
	}
	if name == "" || (ok && schema == "") || strings.Contains(name, ".") {
		return qualified{}, fmt.Errorf("%q is not NAME or SCHEMA.NAME", s)
	}
	if len(name) > 63 || len(schema) > 63 {
		return qualified{}, fmt.Errorf("%q: PostgreSQL names are at most 63 bytes", s)
	}
	return qualified{schema: schema, name: name}, nil
}

// sql returns the quoted name.
func (q qualified) sql() string {
	if q.schema == "" {
		return quoteIdent(q.name)
	}
	return quoteIdent(q.schema) + "." + quoteIdent(q.name)
}

// String returns the unquoted name as configured.
func (q qualified) String() string {
	if q.schema == "" {
		return q.name
	}
	return q.schema + "." + q.name
}

// sibling is a table of the given name in q's schema.
func (q qualified) sibling(name string) qualified { return qualified{schema: q.schema, name: name} }

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), `"`, `""`) + `"`
}
