package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
)

// pgdb is the PostgreSQL database of the demo: a private cluster the demo started (and stops), one given with
// -pg, or none.
type pgdb struct {
	dsn string
	srv *pgtest.Server
}

// openPostgres picks the demo's database from the -pg flag: "" starts a private cluster in a temporary folder when
// PostgreSQL is installed and otherwise goes on without one (saying so), "off" goes without, anything else is the
// DSN of an existing database.
func openPostgres(flag string, step func(format string, args ...any)) (*pgdb, error) {
	switch flag {
	case "off":
		step("PostgreSQL: off (-pg off): the rows are printed, not stored")
		return &pgdb{}, nil
	case "":
	default:
		step("PostgreSQL: %s (-pg), table %s", flag, pgTable)
		return &pgdb{dsn: flag}, nil
	}
	if _, err := pgtest.BinDir(); err != nil {
		step("PostgreSQL: not installed, so the rows are printed, not stored (`make test-deps` installs it, or pass -pg DSN): %v", err)
		return &pgdb{}, nil
	}
	t0 := time.Now()
	srv, err := pgtest.New()
	if err != nil {
		return nil, fmt.Errorf("start a private PostgreSQL cluster: %w", err)
	}
	dsn, err := srv.CreateDatabase("analytics")
	if err != nil {
		srv.Close()
		return nil, err
	}
	step("PostgreSQL: started a private cluster (%s, in %s, %v; stopped at the end), database analytics, table %s",
		srv.BinDir, srv.Dir, time.Since(t0).Round(time.Millisecond), pgTable)
	return &pgdb{dsn: dsn, srv: srv}, nil
}

// Close stops the cluster the demo started, if any.
func (d *pgdb) Close() {
	if d.srv != nil {
		_ = d.srv.Close()
	}
}

// queryRows reads the table the job wrote.
func queryRows(ctx context.Context, dsn string) ([]EnrichedRow, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT minute, url, category, views, unique_users FROM "+pgTable+" ORDER BY minute, url, category")
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", pgTable, err)
	}
	var out []EnrichedRow
	for rows.Next() {
		var r EnrichedRow
		if err := rows.Scan(&r.Minute, &r.URL, &r.Category, &r.Views, &r.UniqueUsers); err != nil {
			return nil, fmt.Errorf("read %s: %w", pgTable, err)
		}
		r.Minute = r.Minute.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", pgTable, err)
	}
	return out, nil
}
