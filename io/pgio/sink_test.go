package pgio_test

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/windowing"
)

// Count is a per-key, per-minute count, as a windowed aggregation outputs it.
type Count struct {
	User   string    `pg:"user_name,key"`
	Minute time.Time `pg:",key"`
	Views  int64     `pg:",add"`
	Last   string    // replaced in both modes
	Skip   int       `pg:"-"`
}

const countsTable = `CREATE TABLE counts (user_name text, minute timestamptz, views bigint NOT NULL, last text NOT NULL,
	PRIMARY KEY (user_name, minute))`

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func cnt(user string, minute int, views int64, last string) Count {
	return Count{User: user, Minute: t0.Add(time.Duration(minute) * time.Minute), Views: views, Last: last}
}

func line(user string, minute int, views int64, last string) string {
	return user + " " + t0.Add(time.Duration(minute)*time.Minute).Format(time.RFC3339) + " " + strconv.FormatInt(views, 10) + " " + last
}

const selectCounts = "SELECT user_name, minute, views, last FROM counts ORDER BY user_name, minute"

// The runner's protocol, as io/iotest's sink check drives it: two shards over epochs, Commit twice, a crash
// between Prepare and Commit recovered by a new writer committing the token, a replayed epoch whose token was
// lost, and a writer closed before Prepare. Every committed row is in the table once, in both modes.
func TestEpochProtocolIsExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		mode pgio.Mode
		want []string
	}{
		{pgio.Replace, []string{line("ann", 0, 3, "e2"), line("ann", 1, 5, "e1"), line("bob", 0, 7, "e1"), line("cid", 0, 9, "e2")}},
		{pgio.Add, []string{line("ann", 0, 4, "e2"), line("ann", 1, 5, "e1"), line("bob", 0, 9, "e1"), line("cid", 0, 9, "e2")}},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			dsn := newDB(t)
			execSQL(t, dsn, countsTable)
			sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", JobID: "j", Mode: tc.mode})
			w0, w1 := open(t, sink, 0, 2), open(t, sink, 1, 2)

			// Epoch 0: both shards write, prepare, commit, and commit again.
			w0.write(cnt("ann", 0, 1, "e0"))
			w1.write(cnt("bob", 0, 2, "e0"))
			t0, t1 := w0.prepare(0), w1.prepare(0)
			for range 2 {
				w0.commit(t0)
				w1.commit(t1)
			}
			// Epoch 1: shard 0 crashes after Prepare; its successor commits the token from the checkpoint.
			w0.write(cnt("ann", 1, 5, "e1"))
			lost := w0.prepare(1)
			w0.close()
			w0 = open(t, sink, 0, 2)
			w0.commit(lost)
			w0.commit(lost)
			w1.write(cnt("bob", 0, 7, "e1"))
			w1.commit(w1.prepare(1))

			// Epoch 2: shard 0 prepares, then crashes before the checkpoint holds its token: the epoch is replayed
			// by a new writer. Shard 1 crashes before Prepare: what it wrote is discarded.
			w0.write(cnt("ann", 0, 100, "lost"), cnt("zed", 0, 1, "lost"))
			w0.prepare(2)
			w0.close()
			w0 = open(t, sink, 0, 2)
			w0.write(cnt("ann", 0, 3, "e2"), cnt("cid", 0, 9, "e2"))
			w0.commit(w0.prepare(2))
			w1.write(cnt("bob", 0, 1000, "lost"))
			w1.close()
			w0.close()

			require.Equal(t, tc.want, rows(t, dsn, selectCounts))
			require.Equal(t, []string{"0 2", "1 1"}, rows(t, dsn, "SELECT shard, epoch FROM kappa_pgio_commits ORDER BY shard"))
		})
	}
}

// Rows of one key within an epoch are combined before they are written (Replace: the last wins; Add: summed),
// also when they fall into different chunks (BatchRows 2), where Commit deduplicates in SQL.
func TestRowsOfOneKeyInAnEpoch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mode      pgio.Mode
		batchRows int
		want      []string
	}{
		{"replace/one chunk", pgio.Replace, 0, []string{line("ann", 0, 30, "c"), line("bob", 0, 5, "b")}},
		{"replace/chunks", pgio.Replace, 2, []string{line("ann", 0, 30, "c"), line("bob", 0, 5, "b")}},
		{"add/one chunk", pgio.Add, 0, []string{line("ann", 0, 111, "c"), line("bob", 0, 1005, "b")}},
		{"add/chunks", pgio.Add, 2, []string{line("ann", 0, 111, "c"), line("bob", 0, 1005, "b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := newDB(t)
			execSQL(t, dsn, countsTable, "INSERT INTO counts VALUES ('bob', '2024-05-01T12:00:00Z', 1000, 'old')")
			sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", Mode: tc.mode, BatchRows: tc.batchRows})
			w := open(t, sink, 0, 1)
			w.write(cnt("ann", 0, 1, "a"), cnt("bob", 0, 5, "b"), cnt("ann", 0, 10, "b"))
			w.write(cnt("ann", 0, 100, "c"))
			if tc.mode == pgio.Replace {
				w.write(cnt("ann", 0, 30, "c"))
			}
			w.commit(w.prepare(0))
			require.Equal(t, tc.want, rows(t, dsn, selectCounts))
		})
	}
}

// A big epoch in chunks, most keys in several chunks, against the same rows computed in Go.
func TestManyChunks(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, countsTable)
	sink := newSink(t, pgio.Config[Count]{DSN: dsn, Table: "counts", Mode: pgio.Add, BatchRows: 100})
	w := open(t, sink, 0, 1)
	want := map[string]int64{}
	for epoch := range uint64(3) {
		var batch []Count
		for i := range 1000 {
			c := cnt("u"+strconv.Itoa(i%137), i%3, int64(i), "x")
			batch = append(batch, c)
			want[line(c.User, i%3, 0, "")] += c.Views
		}
		w.write(batch...)
		w.commit(w.prepare(epoch))
	}
	var exp []string
	for k, v := range want {
		exp = append(exp, strings.Replace(k, " 0 ", " "+strconv.FormatInt(v, 10)+" ", 1)+"x")
	}
	slices.Sort(exp)
	got := rows(t, dsn, selectCounts)
	slices.Sort(got)
	require.Equal(t, exp, got)
}

// Row maps values without struct tags; Key and Add name the columns.
func TestRowFunc(t *testing.T) {
	dsn := newDB(t)
	execSQL(t, dsn, "CREATE TABLE kv (k text PRIMARY KEY, n integer, note text)")
	sink := newSink(t, pgio.Config[pipeline.KV[string, int]]{DSN: dsn, Table: "kv", Key: []string{"k"}, Mode: pgio.Add, Add: []string{"n"},
		Columns: []string{"k", "n", "note"},
		Row: func(kv pipeline.KV[string, int]) ([]any, error) {
			if kv.Key == "" {
				return nil, errors.New("empty key")
			}
			return []any{kv.Key, int32(kv.Value), nil}, nil
		}})
	w := open(t, sink, 0, 1)
	w.write(pipeline.KV[string, int]{Key: "a", Value: 1}, pipeline.KV[string, int]{Key: "b", Value: 2}, pipeline.KV[string, int]{Key: "a", Value: 3})
	w.commit(w.prepare(0))
	w.write(pipeline.KV[string, int]{Key: "a", Value: 10})
	w.commit(w.prepare(1))
	require.Equal(t, []string{"a 14 <nil>", "b 2 <nil>"}, rows(t, dsn, "SELECT * FROM kv ORDER BY k"))

	err := w.w.Write(t.Context(), []pipeline.Element[pipeline.KV[string, int]]{{Value: pipeline.KV[string, int]{Key: ""}}})
	require.ErrorContains(t, err, "empty key")
	require.ErrorContains(t, err, "table kv: shard 0: the epoch after 1")
}

// Every Go type CreateTable knows round-trips through the created table.
type Wide struct {
	ID       int64 `pg:",key"`
	Region   string
	Small    int16
	Mid      int32
	Big      uint64
	Ratio    float64
	Ratio32  float32
	OK       bool
	Raw      []byte
	At       time.Time
	Took     time.Duration
	Maybe    *int64
	Tags     map[string]string
	Inner    struct{ A, B int }
	embedded // its exported fields are columns
	hidden   int
}

type embedded struct{ Extra string }

func TestCreateTable(t *testing.T) {
	dsn := newDB(t)
	sink := newSink(t, pgio.Config[Wide]{DSN: dsn, Table: "public.wide", CreateTable: true})
	w := open(t, sink, 0, 1)
	seven := int64(7)
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	w.write(Wide{ID: 1, Region: "eu", Small: -3, Mid: 40000, Big: 1 << 63, Ratio: 0.5, Ratio32: 0.25, OK: true, Raw: []byte{1, 2},
		At: at, Took: 1500 * time.Millisecond, Maybe: &seven, Tags: map[string]string{"a": "b"}, embedded: embedded{Extra: "x"}},
		Wide{ID: 2, At: at})
	w.commit(w.prepare(0))
	require.Equal(t, []string{
		"id bigint NO", "region text NO", "small smallint NO", "mid integer NO", "big numeric NO", "ratio double precision NO",
		"ratio32 real NO", "ok boolean NO", "raw bytea YES", "at timestamp with time zone NO", "took interval NO", "maybe bigint YES",
		"tags jsonb YES", "inner jsonb NO", "extra text NO"},
		rows(t, dsn, "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'wide' ORDER BY ordinal_position"))
	require.Equal(t, []string{
		`1 eu -3 40000 9223372036854775808 0.5 0.25 t \x0102 2024-05-01 12:00:00+00 00:00:01.5 7 {"a": "b"} {"A": 0, "B": 0} x`,
		`2  0 0 0 0 0 f NULL 2024-05-01 12:00:00+00 00:00:00 NULL NULL {"A": 0, "B": 0} `},
		rows(t, dsn, "SELECT concat_ws(' ', id, region, small, mid, big, ratio, ratio32, ok, coalesce(raw::text, 'NULL'), at, took, "+
			`coalesce(maybe::text, 'NULL'), coalesce(tags::text, 'NULL'), "inner", extra) FROM wide ORDER BY id`))
}

// Write warns when the mode does not fit panes that fire more than once per window.
func TestPaneWarning(t *testing.T) {
	early := windowing.WithTrigger(windowing.AfterWatermark{Early: windowing.EveryN(10)})
	for _, tc := range []struct {
		name string
		mode pgio.Mode
		opts []windowing.Option
		want string
	}{
		{"replace, one pane", pgio.Replace, nil, ""},
		{"add, one pane", pgio.Add, []windowing.Option{windowing.AccumulatingPanes()}, ""},
		{"replace, discarding early panes", pgio.Replace, []windowing.Option{early}, "Mode Replace with discarding panes"},
		{"replace, discarding late panes", pgio.Replace, []windowing.Option{windowing.AllowedLateness(time.Minute)}, "Mode Replace with discarding panes"},
		{"add, discarding early panes", pgio.Add, []windowing.Option{early}, ""},
		{"add, accumulating early panes", pgio.Add, []windowing.Option{early, windowing.AccumulatingPanes()}, "Mode Add with accumulating panes"},
		{"replace, accumulating early panes", pgio.Replace, []windowing.Option{early, windowing.AccumulatingPanes()}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			p := pipeline.New()
			s := p.Root()
			col := windowing.Into(s, pipelinetest.Create(s, cnt("ann", 0, 1, "a")), windowing.Fixed{Size: time.Minute}, tc.opts...)
			pgio.Write(s, col, pgio.Config[Count]{DSN: "postgres://x", Table: "counts", Mode: tc.mode, Add: addCols(tc.mode),
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			require.NoError(t, p.Err())
			if tc.want == "" {
				require.Empty(t, logs.String())
			} else {
				require.Contains(t, logs.String(), tc.want)
			}
		})
	}
}

func addCols(m pgio.Mode) []string {
	if m == pgio.Add {
		return []string{"views"}
	}
	return nil
}
