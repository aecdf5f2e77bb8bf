package pgio

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// lockClass is the first key of kappa's advisory locks ("kapp").
const lockClass = 0x6b617070

// setupLock serialises table setup (CREATE … IF NOT EXISTS is not safe against concurrent creators): the advisory
// lock (lockClass+1, setupLock).
const setupLock = 1

// tableInfo is what setup learned about the target table.
type tableInfo struct {
	table   qualified // with its schema resolved
	markers qualified
	types   []string // column types of the mapped columns, in mapping order
	notNull []bool
	checks  []string // CHECK constraints over mapped columns only, as "CONSTRAINT name CHECK (…)"
}

// setup checks (or creates) the target table and creates the marker table. It runs once per sink.
func (s *Sink[T]) setup(ctx context.Context, conn *pgx.Conn) (*tableInfo, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(lockClass+1), int32(setupLock)); err != nil {
		return nil, err
	}
	var oid uint32
	var schema string
	find := func() error {
		return tx.QueryRow(ctx, `SELECT c.oid, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.oid = to_regclass($1)`, s.table.sql()).Scan(&oid, &schema)
	}
	err = find()
	if errors.Is(err, pgx.ErrNoRows) {
		if !s.cfg.CreateTable {
			return nil, fmt.Errorf("table %s does not exist (create it, or set Config.CreateTable)", s.table)
		}
		ddl, derr := s.createTableSQL()
		if derr != nil {
			return nil, derr
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return nil, fmt.Errorf("create table %s: %w", s.table, err)
		}
		s.cfg.Logger.Info("pgio: created table", "sink", s.name, "table", s.table.String())
		err = find()
	}
	if err != nil {
		return nil, fmt.Errorf("look up table %s: %w", s.table, err)
	}
	info := &tableInfo{table: qualified{schema: schema, name: s.table.name}}
	if s.markers.schema == "" {
		info.markers = qualified{schema: schema, name: s.markers.name}
	} else {
		info.markers = s.markers
	}

	// Columns.
	type col struct {
		num                            int16
		name, typ                      string
		notNull, hasDefault, generated bool
	}
	rows, err := tx.Query(ctx, `SELECT attnum, attname, format_type(atttypid, atttypmod), attnotnull,
			atthasdef OR attidentity <> '', attgenerated <> ''
		FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, oid)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", s.table, err)
	}
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.num, &c.name, &c.typ, &c.notNull, &c.hasDefault, &c.generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the columns of %s: %w", s.table, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", s.table, err)
	}
	byName := map[string]col{}
	for _, c := range cols {
		byName[c.name] = c
	}
	mapped := map[int16]bool{}
	var problems []string
	for _, mc := range s.m.cols {
		c, ok := byName[mc.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("column %q is not in the table", mc.name))
		case c.generated:
			problems = append(problems, fmt.Sprintf("column %q is generated and cannot be written", mc.name))
		}
		info.types = append(info.types, c.typ)
		info.notNull = append(info.notNull, c.notNull)
		mapped[c.num] = true
	}
	for _, c := range cols {
		if !mapped[c.num] && c.notNull && !c.hasDefault && !c.generated {
			problems = append(problems, fmt.Sprintf("column %q is NOT NULL without a default but not mapped", c.name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("table %s: %s (mapped columns: %s)", s.table, strings.Join(problems, "; "), strings.Join(s.m.names(), ", "))
	}

	// A unique index on exactly the key columns, for ON CONFLICT.
	want := s.m.keyNames()
	rows, err = tx.Query(ctx, `SELECT (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
			WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
		FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL`, oid)
	if err != nil {
		return nil, fmt.Errorf("read the indexes of %s: %w", s.table, err)
	}
	found := false
	for rows.Next() {
		var names []string
		if err := rows.Scan(&names); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the indexes of %s: %w", s.table, err)
		}
		found = found || slices.Equal(names, want)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the indexes of %s: %w", s.table, err)
	}
	if !found {
		return nil, fmt.Errorf("table %s has no primary key or unique index on exactly the key columns (%s), which upserts need",
			s.table, strings.Join(want, ", "))
	}

	// CHECK constraints over mapped columns, copied to the staging tables so that rows breaking them fail the
	// epoch at Prepare, not at Commit.
	rows, err = tx.Query(ctx, `SELECT conname, pg_get_constraintdef(oid), conkey FROM pg_constraint
		WHERE conrelid = $1 AND contype = 'c' ORDER BY conname`, oid)
	if err != nil {
		return nil, fmt.Errorf("read the constraints of %s: %w", s.table, err)
	}
	for rows.Next() {
		var name, def string
		var keys []int16
		if err := rows.Scan(&name, &def, &keys); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the constraints of %s: %w", s.table, err)
		}
		all := len(keys) > 0
		for _, k := range keys {
			all = all && mapped[k]
		}
		if all {
			info.checks = append(info.checks, "CONSTRAINT "+quoteIdent(name)+" "+def)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the constraints of %s: %w", s.table, err)
	}

	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+info.markers.sql()+` (
			job text NOT NULL,
			target text NOT NULL,
			shard integer NOT NULL,
			epoch bigint NOT NULL,
			committed_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (job, target, shard))`); err != nil {
		return nil, fmt.Errorf("create marker table %s: %w", info.markers, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return info, nil
}

// createTableSQL is the CREATE TABLE of CreateTable.
func (s *Sink[T]) createTableSQL() (string, error) {
	var defs []string
	for _, c := range s.m.cols {
		if c.pgType == "" {
			return "", fmt.Errorf("CreateTable: column %q has Go type %s, which has no column type here; create the table yourself",
				c.name, c.typ)
		}
		d := quoteIdent(c.name) + " " + c.pgType
		if !c.nullable {
			d += " NOT NULL"
		}
		defs = append(defs, d)
	}
	defs = append(defs, "PRIMARY KEY ("+s.m.sqlNames(s.m.keys, "")+")")
	return "CREATE TABLE IF NOT EXISTS " + s.table.sql() + " (\n\t" + strings.Join(defs, ",\n\t") + ")", nil
}

// stageName names the staging table of a job's shard: kappa_stage_<table>_<hash of table and job>_<shard>.
func stageName(table qualified, job string, shard int) qualified {
	h := fnv.New32a()
	h.Write([]byte(table.String()))
	h.Write([]byte{0})
	h.Write([]byte(job))
	short := table.name
	if len(short) > 30 {
		short = short[:30]
	}
	return table.sibling(fmt.Sprintf("kappa_stage_%s_%08x_%d", short, h.Sum32(), shard))
}

// stageColumns are the staging table's columns ahead of the mapped ones.
const stageColumns = 2 // kappa_batch, kappa_chunk

// ensureStage creates the staging table of a shard, or checks that an existing one has the columns it needs (an
// empty one with other columns is created again).
func (s *Sink[T]) ensureStage(ctx context.Context, conn *pgx.Conn, info *tableInfo, stage qualified) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(lockClass+1), int32(setupLock)); err != nil {
		return err
	}
	want := []string{"kappa_batch bigint", "kappa_chunk integer"}
	for i, c := range s.m.cols {
		want = append(want, c.name+" "+info.types[i])
	}
	rows, err := tx.Query(ctx, `SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, stage.sql())
	if err != nil {
		return fmt.Errorf("read the columns of staging table %s: %w", stage, err)
	}
	var have []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return fmt.Errorf("read the columns of staging table %s: %w", stage, err)
		}
		have = append(have, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the columns of staging table %s: %w", stage, err)
	}
	if slices.Equal(have, want) {
		return tx.Commit(ctx)
	}
	if len(have) > 0 {
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+stage.sql()).Scan(&n); err != nil {
			return fmt.Errorf("count the rows of staging table %s: %w", stage, err)
		}
		if n > 0 {
			return fmt.Errorf("staging table %s holds %d rows staged with other columns (%s) than the sink maps now (%s): "+
				"finish the old job's epochs, or drop the table if they are not needed", stage, n,
				strings.Join(have, ", "), strings.Join(want, ", "))
		}
		if _, err := tx.Exec(ctx, "DROP TABLE "+stage.sql()); err != nil {
			return fmt.Errorf("drop stale staging table %s: %w", stage, err)
		}
	}
	defs := []string{"kappa_batch bigint NOT NULL", "kappa_chunk integer NOT NULL"}
	for i, c := range s.m.cols {
		d := quoteIdent(c.name) + " " + info.types[i]
		if info.notNull[i] {
			d += " NOT NULL"
		}
		defs = append(defs, d)
	}
	defs = append(defs, info.checks...)
	if _, err := tx.Exec(ctx, "CREATE TABLE "+stage.sql()+" (\n\t"+strings.Join(defs, ",\n\t")+")"); err != nil {
		return fmt.Errorf("create staging table %s: %w", stage, err)
	}
	return tx.Commit(ctx)
}

// applySQL is the statement that applies a staged batch ($1) to the table. dedup handles batches that hold a key
// more than once (in different chunks): the last chunk's row wins, Add columns are summed.
func (s *Sink[T]) applySQL(info *tableInfo, stage qualified, dedup bool) string {
	m := s.m
	cols := m.sqlNames(nil, "")
	keys := m.sqlNames(m.keys, "")
	var sel string
	switch {
	case !dedup:
		sel = "SELECT " + cols + " FROM " + stage.sql() + " WHERE kappa_batch = $1"
	case s.cfg.Mode == Add:
		parts := make([]string, len(m.cols))
		for i, c := range m.cols {
			parts[i] = quoteIdent(c.name)
			if c.add {
				parts[i] = "sum(" + quoteIdent(c.name) + ") OVER kappa_w"
			}
		}
		sel = "SELECT DISTINCT ON (" + keys + ") " + strings.Join(parts, ", ") + " FROM " + stage.sql() +
			" WHERE kappa_batch = $1 WINDOW kappa_w AS (PARTITION BY " + keys + ") ORDER BY " + keys + ", kappa_chunk DESC"
	default:
		sel = "SELECT DISTINCT ON (" + keys + ") " + cols + " FROM " + stage.sql() +
			" WHERE kappa_batch = $1 ORDER BY " + keys + ", kappa_chunk DESC"
	}
	var sets []string
	for _, i := range m.adds {
		c := quoteIdent(m.cols[i].name)
		sets = append(sets, c+" = COALESCE(kappa_t."+c+", 0) + EXCLUDED."+c)
	}
	for _, i := range m.others {
		c := quoteIdent(m.cols[i].name)
		sets = append(sets, c+" = EXCLUDED."+c)
	}
	conflict := "DO NOTHING"
	if len(sets) > 0 {
		conflict = "DO UPDATE SET " + strings.Join(sets, ", ")
	}
	return "INSERT INTO " + info.table.sql() + " AS kappa_t (" + cols + ") " + sel + " ON CONFLICT (" + keys + ") " + conflict
}

// lockKey is the advisory lock a shard's connection holds: one process writes a shard's staging table at a time,
// and a successor waits until the connection of a crashed predecessor is gone.
func lockKey(table qualified, job string, shard int) int32 {
	h := fnv.New32a()
	h.Write([]byte(table.String()))
	h.Write([]byte{0})
	h.Write([]byte(job))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(shard)))
	return int32(h.Sum32())
}
