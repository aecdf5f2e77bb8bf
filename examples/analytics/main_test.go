package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

func minute(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }

func TestBuildPageViews(t *testing.T) {
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	views := []PageView{
		{"/", "ann", at(0)}, {"/", "bob", at(10)}, {"/", "ann", at(59)}, {"/docs", "ann", at(30)},
		{"/", "cid", at(60)}, {"/docs", "bob", at(61)}, {"/docs", "bob", at(119)},
		{"/pricing", "dan", at(600)},
	}
	want := []pipeline.Element[Row]{
		rowAt(Row{URL: "/", Minute: minute(0), Views: 3, UniqueUsers: 2}),
		rowAt(Row{URL: "/docs", Minute: minute(0), Views: 1, UniqueUsers: 1}),
		rowAt(Row{URL: "/", Minute: minute(1), Views: 1, UniqueUsers: 1}),
		rowAt(Row{URL: "/docs", Minute: minute(1), Views: 2, UniqueUsers: 1}),
		rowAt(Row{URL: "/pricing", Minute: minute(10), Views: 1, UniqueUsers: 1}),
	}
	for _, cfg := range []local.Config{{Workers: 1}, {Workers: 4}, {Workers: 2, Mode: local.Stream, BatchRecords: 1}} {
		p := pipeline.New()
		s := p.Root()
		pipelinetest.EqualsElements(s, BuildPageViews(s, pipelinetest.Create(s, views...)), want...)
		pipelinetest.Empty(s, BuildPageViews(s, pipelinetest.Create[PageView](s)))
		pipelinetest.Run(t, p, cfg)
	}
}

// rowAt is the element the pipeline emits for r: in r's minute, at its last millisecond, on time.
func rowAt(r Row) pipeline.Element[Row] {
	w := pipeline.Window{Start: pipeline.TimeOf(r.Minute), End: pipeline.TimeOf(r.Minute.Add(time.Minute))}
	return pipeline.Element[Row]{Value: r, Time: w.MaxTimestamp(), Window: w, Pane: pipeline.Pane{Timing: pipeline.OnTime, First: true, Last: true}}
}

// The exact output of a small run.
func TestRunPrintsTable(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), options{n: 60, seed: 7, minutes: 2, users: 5, out: dir, format: "csv", mode: "batch", workers: 1}, &out))
	want := `kappa analytics-on-write: 60 page views (seed 7) → views and unique users (exact) per URL and minute

minute (UTC)      url                views  unique users
2024-01-01 12:00  /                      7             5
2024-01-01 12:00  /docs                  6             2
2024-01-01 12:00  /docs/quickstart       4             4
2024-01-01 12:00  /signup                4             3
2024-01-01 12:00  /blog/kappa-1.0        3             2
2024-01-01 12:00  /pricing               3             3
2024-01-01 12:00  /about                 2             2
2024-01-01 12:00  /careers               1             1
2024-01-01 12:01  /                      8             4
2024-01-01 12:01  /pricing               7             4
2024-01-01 12:01  /blog/kappa-1.0        5             3
2024-01-01 12:01  /careers               3             2
2024-01-01 12:01  /docs                  2             1
2024-01-01 12:01  /docs/quickstart       2             2
2024-01-01 12:01  /signup                2             2
2024-01-01 12:01  /about                 1             1

16 rows written as CSV to ` + dir + ` (1 file)
`
	require.Equal(t, want, out.String())
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "pageviews-000000-00000-of-00001.csv")}, names, "one published file, no temporary files left")
	data, err := os.ReadFile(names[0])
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "url,minute,views,unique_users\n"), string(data))
	require.Len(t, strings.Split(strings.TrimSpace(string(data)), "\n"), 17)
}

// plainStats computes the expected rows with a plain loop over the generator.
func plainStats(g Generator) []Row {
	type key struct {
		url string
		min time.Time
	}
	views := map[key]int64{}
	users := map[key]map[string]bool{}
	for i := range g.N {
		v := g.View(i)
		k := key{v.URL, v.At.Truncate(time.Minute)}
		views[k]++
		if users[k] == nil {
			users[k] = map[string]bool{}
		}
		users[k][v.User] = true
	}
	var out []Row
	for k, n := range views {
		out = append(out, Row{URL: k.url, Minute: k.min, Views: n, UniqueUsers: int64(len(users[k]))})
	}
	sortRows(out)
	return out
}

func sortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Or(a.Minute.Compare(b.Minute), strings.Compare(a.URL, b.URL)) })
}

// readCSV reads back the published CSV files of dir.
func readCSV(t *testing.T, dir string) []Row {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "pageviews-*.csv"))
	require.NoError(t, err)
	var rows []Row
	for _, name := range names {
		f, err := os.Open(name)
		require.NoError(t, err)
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		require.NoError(t, err)
		require.Equal(t, []string{"url", "minute", "views", "unique_users"}, recs[0], name)
		for _, r := range recs[1:] {
			m, err := time.Parse(time.RFC3339, r[1])
			require.NoError(t, err)
			v, _ := strconv.ParseInt(r[2], 10, 64)
			u, _ := strconv.ParseInt(r[3], 10, 64)
			rows = append(rows, Row{URL: r[0], Minute: m, Views: v, UniqueUsers: u})
		}
	}
	sortRows(rows)
	return rows
}

func readJSONL(t *testing.T, dir string) []Row {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "pageviews-*.jsonl"))
	require.NoError(t, err)
	var rows []Row
	for _, name := range names {
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r Row
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
			rows = append(rows, r)
		}
		f.Close()
	}
	sortRows(rows)
	return rows
}

// Every mode, worker count and format writes exactly the rows of the plain loop, and prints the same table.
func TestRunMatchesPlainLoop(t *testing.T) {
	o := options{n: 5000, seed: 3, minutes: 7, users: 40}
	want := plainStats(Generator{N: o.n, Seed: o.seed, Start: start, Span: 7 * time.Minute, Users: o.users})
	require.Len(t, want, 7*8)
	var firstTable string
	for _, c := range []struct {
		mode, format string
		workers      int
	}{{"batch", "csv", 1}, {"batch", "jsonl", 4}, {"stream", "csv", 2}, {"stream", "jsonl", 3}} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			o := o
			o.mode, o.format, o.workers, o.out = c.mode, c.format, c.workers, t.TempDir()
			var out bytes.Buffer
			require.NoError(t, run(context.Background(), o, &out))
			var got []Row
			if c.format == "csv" {
				got = readCSV(t, o.out)
			} else {
				got = readJSONL(t, o.out)
			}
			require.Equal(t, want, got)
			table, _, _ := strings.Cut(out.String(), "\n56 rows written")
			if firstTable == "" {
				firstTable = table
			}
			require.Equal(t, firstTable, table)
		})
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	require.EqualError(t, run(ctx, options{n: 1, minutes: 1, mode: "fast", format: "csv"}, &out), `-mode "fast": want batch or stream`)
	require.EqualError(t, run(ctx, options{n: 1, minutes: 1, mode: "batch", format: "xml", out: t.TempDir()}, &out), `file sink: format "xml": want csv or jsonl`)
	require.EqualError(t, run(ctx, options{n: 1, minutes: 0, mode: "batch"}, &out), "-n 1 -minutes 0: want n ≥ 0 and at least one minute")
}

func TestGenerator(t *testing.T) {
	g := Generator{N: 1000, Seed: 5, Start: start, Span: 10 * time.Minute, Users: 7, Parts: 3}
	require.Equal(t, g.View(17), g.View(17), "a pure function of the seed")
	other := g
	other.Seed = 6
	differ := 0
	for i := range int64(100) {
		if g.View(i) != other.View(i) {
			differ++
		}
	}
	require.Greater(t, differ, 80, "another seed gives other views")
	require.Equal(t, start, g.View(0).At)
	require.Equal(t, start.Add(600*time.Millisecond), g.View(1).At)
	users := map[string]bool{}
	for i := range g.N {
		users[g.View(i).User] = true
	}
	require.Len(t, users, 7)

	// The splits read every view exactly once, in event-time order, and resume from a position.
	ctx := context.Background()
	src, err := generate.NewSource(g.config())
	require.NoError(t, err)
	splits, err := src.Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 3)
	seen := make([]int, g.N)
	for _, sp := range splits {
		r, err := src.Open(ctx, sp, nil)
		require.NoError(t, err)
		var b pipeline.Batch[PageView]
		require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 10}))
		require.Equal(t, 10, b.Len())
		r2, err := src.Open(ctx, sp, r.Position())
		require.NoError(t, err)
		last := pipeline.MinTime
		for i, v := range b.Values {
			require.GreaterOrEqual(t, b.Times[i], last)
			last = b.Times[i]
			seen[v.At.Sub(start)/(600*time.Millisecond)]++
		}
		for {
			b.Reset()
			err := r2.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 64})
			for i, v := range b.Values {
				require.GreaterOrEqual(t, b.Times[i], last)
				last = b.Times[i]
				seen[v.At.Sub(start)/(600*time.Millisecond)]++
			}
			if err != nil {
				require.ErrorIs(t, err, pipeline.ErrEndOfInput)
				break
			}
		}
	}
	for i, n := range seen {
		require.Equal(t, 1, n, "view %d", i)
	}
	_, err = src.Open(ctx, pipeline.Split{ID: "3/3"}, nil)
	require.EqualError(t, err, `pageviews(n=1000, seed=5): split "3/3" is not one of 3 splits (was Splits changed between runs?)`)
}

// FileSink publishes atomically and exactly once.
func TestFileSink(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out")
	sink := FileSink{Dir: dir}
	w, err := sink.Open(ctx, pipeline.Shard{Index: 1, Count: 2})
	require.NoError(t, err)
	ls := func() []string {
		es, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	row := func(url string, views int64) []pipeline.Element[Row] {
		return []pipeline.Element[Row]{{Value: Row{URL: url, Minute: minute(0), Views: views, UniqueUsers: 1}}}
	}
	require.NoError(t, w.Write(ctx, row("/a", 1)))
	require.NoError(t, w.Write(ctx, row("/b,c", 2)))
	require.Empty(t, ls(), "nothing on disk before Prepare")
	tok, err := w.Prepare(ctx, pipeline.Epoch{ID: 7})
	require.NoError(t, err)
	require.Equal(t, []string{".pageviews-000007-00001-of-00002.csv.tmp"}, ls(), "Prepare stages a hidden file")
	require.NoError(t, w.Commit(ctx, tok))
	require.Equal(t, []string{"pageviews-000007-00001-of-00002.csv"}, ls())
	require.NoError(t, w.Commit(ctx, tok), "Commit is idempotent")
	data, err := os.ReadFile(filepath.Join(dir, "pageviews-000007-00001-of-00002.csv"))
	require.NoError(t, err)
	require.Equal(t, "url,minute,views,unique_users\n/a,2024-01-01T12:00:00Z,1,1\n\"/b,c\",2024-01-01T12:00:00Z,2,1\n", string(data))

	// An epoch without rows writes no file.
	tok, err = w.Prepare(ctx, pipeline.Epoch{ID: 8})
	require.NoError(t, err)
	require.Nil(t, tok)
	require.NoError(t, w.Commit(ctx, tok))
	require.Len(t, ls(), 1)

	// A replayed epoch replaces its file rather than adding one.
	w2, err := sink.Open(ctx, pipeline.Shard{Index: 1, Count: 2})
	require.NoError(t, err)
	require.NoError(t, w2.Write(ctx, row("/a", 5)))
	tok, err = w2.Prepare(ctx, pipeline.Epoch{ID: 7})
	require.NoError(t, err)
	require.NoError(t, w2.Commit(ctx, tok))
	require.Equal(t, []string{"pageviews-000007-00001-of-00002.csv"}, ls())
	data, err = os.ReadFile(filepath.Join(dir, "pageviews-000007-00001-of-00002.csv"))
	require.NoError(t, err)
	require.Equal(t, "url,minute,views,unique_users\n/a,2024-01-01T12:00:00Z,5,1\n", string(data))

	// Rows written but not prepared are dropped by Close.
	require.NoError(t, w2.Write(ctx, row("/lost", 1)))
	require.NoError(t, w2.Close(ctx))
	require.Len(t, ls(), 1)

	require.ErrorContains(t, w.Commit(ctx, []byte("{")), "bad commit token")
	require.ErrorContains(t, w.Commit(ctx, []byte(`{"staged":"nope","final":"gone"}`)), "no such file or directory")

	j, err := FileSink{Dir: dir, Format: "jsonl", Prefix: "v"}.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	require.NoError(t, j.Write(ctx, row("/j", 3)))
	tok, err = j.Prepare(ctx, pipeline.Epoch{ID: 0})
	require.NoError(t, err)
	require.NoError(t, j.Commit(ctx, tok))
	data, err = os.ReadFile(filepath.Join(dir, "v-000000-00000-of-00001.jsonl"))
	require.NoError(t, err)
	require.Equal(t, `{"url":"/j","minute":"2024-01-01T12:00:00Z","views":3,"unique_users":1}`+"\n", string(data))

	require.EqualError(t, FileSink{}.Validate(), "file sink: no directory")
	_, err = FileSink{Dir: dir, Format: "tsv"}.Open(ctx, pipeline.Shard{})
	require.EqualError(t, err, `file sink: format "tsv": want csv or jsonl`)
}
