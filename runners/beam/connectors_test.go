package beam_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// view is a page view as the connectors tests read it from Parquet and archive it again.
type view struct {
	URL  string    `parquet:"url"`
	User string    `parquet:"user"`
	At   time.Time `parquet:"at,timestamp(millisecond)"`
}

// urlCount is a per-minute count of views of a URL, written to Parquet.
type urlCount struct {
	URL    string `parquet:"url"`
	Window int64  `parquet:"window_start_ms"`
	Views  int64  `parquet:"views"`
}

// urlViews is the same count as a PostgreSQL row.
type urlViews struct {
	URL    string    `pg:"url,key"`
	Minute time.Time `pg:"minute,key"`
	Views  int64     `pg:"views,add"`
}

var viewsStart = time.Date(2026, 12, 4, 7, 58, 0, 0, time.UTC)

// writeViews writes n generated page views (over 10 URLs and the 5 minutes from 07:58, crossing an hour) as 3 Parquet files of 2
// row groups each, and returns the input folder.
func writeViews(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(17, 4))
	for f := range 3 {
		rows := make([]view, 0, n/3)
		for range n / 3 {
			rows = append(rows, view{URL: fmt.Sprintf("/page/%d", r.IntN(10)), User: fmt.Sprintf("u%03d", r.IntN(300)),
				At: viewsStart.Add(time.Duration(r.Int64N(int64(5 * time.Minute)))).Truncate(time.Millisecond)})
		}
		require.NoError(t, parquet.WriteFile(filepath.Join(dir, fmt.Sprintf("views-%d.parquet", f)), rows,
			parquet.MaxRowsPerRowGroup(int64(n/6+1))))
	}
	return dir
}

// countViews reads the views, archives them by event hour, and counts views per URL and minute.
func countViews(s pipeline.Scope, in, archive string) pipeline.PCollection[transforms.KV[string, int64]] {
	views := parquetio.Read(s, parquetio.ReadConfig[view]{URL: in, TimeColumn: "at"})
	parquetio.Write(s, views, parquetio.WriteConfig[view]{URL: archive, PartitionByEventTime: true,
		FolderLayout: "dt=2006-01-02/hour=15", SuccessMarker: "-", MaxFileRows: 500})
	minutes := windowing.Into(s, views, windowing.Fixed{Size: time.Minute})
	ones := transforms.Map(s, minutes, func(v view) transforms.KV[string, int64] { return transforms.Pair(v.URL, int64(1)) })
	return transforms.SumPerKey(s, ones)
}

// runBoth builds the pipeline twice, runs one on runners/local (2 workers) and the other on Prism.
func runBoth(t *testing.T, build func(p *pipeline.Pipeline, run string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lp := pipeline.New()
	build(lp, "local")
	require.NoError(t, lp.Err())
	require.NoError(t, local.New(local.Config{Workers: 2}).Run(ctx, lp))
	bp := pipeline.New()
	build(bp, "beam")
	require.NoError(t, bp.Err())
	require.NoError(t, beam.Validate(bp), "parquetio without markers and pgio commit in bundle finalization")
	require.NoError(t, beam.New(beam.Config{}).Run(ctx, bp))
}

// parquetRows reads every published Parquet file under dir as "folder | row" lines, sorted; it fails on staged
// leftovers (files under _staging).
func parquetRows[T any](t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		require.False(t, strings.HasPrefix(rel, "_staging"), "left staged: %s", rel)
		if strings.HasPrefix(rel, "_") || strings.HasPrefix(filepath.Base(rel), ".") {
			return nil
		}
		rows, err := parquet.ReadFile[T](path)
		require.NoError(t, err, rel)
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s | %+v", filepath.Dir(rel), r))
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(out)
	return out
}

// A bounded pipeline reading Parquet and writing Parquet — an archive by event hour from the source stage, and
// per-minute counts per URL after a grouping — publishes exactly the rows on Prism (parquetio committing each
// bundle's files in Beam's bundle finalization) that it publishes on runners/local (epochs), in the same folders,
// and leaves nothing staged.
func TestConnectorsParquetOnPrismEqualsLocal(t *testing.T) {
	in := writeViews(t, 3000)
	out := map[string][2]string{}
	runBoth(t, func(p *pipeline.Pipeline, run string) {
		s := p.Root()
		archive, counts := filepath.Join(t.TempDir(), run+"-archive"), filepath.Join(t.TempDir(), run+"-counts")
		out[run] = [2]string{archive, counts}
		perMinute := countViews(s, in, archive)
		rows := transforms.MapWindowed(s, perMinute, func(kv transforms.KV[string, int64], w pipeline.Window) urlCount {
			return urlCount{URL: kv.Key, Window: int64(w.Start), Views: kv.Value}
		})
		parquetio.Write(s, rows, parquetio.WriteConfig[urlCount]{URL: counts, SuccessMarker: "-", FolderLayout: "dt=2006-01-02/hour=15"})
	})
	localArchive, beamArchive := parquetRows[view](t, out["local"][0]), parquetRows[view](t, out["beam"][0])
	require.Len(t, localArchive, 3000)
	require.Equal(t, localArchive, beamArchive)
	require.True(t, strings.HasPrefix(localArchive[0], "dt=2026-12-04/hour=07 | "), localArchive[0])
	localCounts, beamCounts := parquetRows[urlCount](t, out["local"][1]), parquetRows[urlCount](t, out["beam"][1])
	require.Len(t, localCounts, 50, "10 URLs × 5 minutes")
	require.Equal(t, localCounts, beamCounts)
	// On Prism every file was published by a bundle commit (named by writer instance and bundle), locally by an
	// epoch commit.
	for run, prefix := range map[string]string{"local": "part-e", "beam": "part-w"} {
		for _, dir := range out[run] {
			files, err := filepath.Glob(filepath.Join(dir, "dt=*", "hour=*", "*.parquet"))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			for _, f := range files {
				require.True(t, strings.HasPrefix(filepath.Base(f), prefix), "%s run: %s", run, f)
			}
		}
	}
}

// The same counts upserted into PostgreSQL (Mode Add, so that a bundle applied twice would show) give equal
// tables on runners/local (epochs, the shards' marker rows) and on Prism (each bundle applied once in Beam's
// bundle finalization through the bundle ledger), on a private PostgreSQL cluster; no bundle stays uncommitted.
func TestConnectorsPostgresOnPrismEqualsLocal(t *testing.T) {
	srv := pgtest.Start(t)
	in := writeViews(t, 3000)
	dsns := map[string]string{}
	for _, run := range []string{"local", "beam"} {
		dsn, err := srv.CreateDatabase("connectors_" + run)
		require.NoError(t, err)
		dsns[run] = dsn
	}
	runBoth(t, func(p *pipeline.Pipeline, run string) {
		s := p.Root()
		perMinute := countViews(s, in, filepath.Join(t.TempDir(), run+"-archive"))
		rows := transforms.MapWindowed(s, perMinute, func(kv transforms.KV[string, int64], w pipeline.Window) urlViews {
			return urlViews{URL: kv.Key, Minute: w.Start.Std(), Views: kv.Value}
		})
		pgio.Write(s, rows, pgio.Config[urlViews]{DSN: dsns[run], Table: "url_views", JobID: "views", Mode: pgio.Add,
			CreateTable: true, BatchRows: 16})
	})
	table := func(dsn, sql string) []string {
		conn, err := pgx.Connect(context.Background(), dsn)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		rs, err := conn.Query(context.Background(), sql)
		require.NoError(t, err)
		var out []string
		for rs.Next() {
			vals, err := rs.Values()
			require.NoError(t, err)
			out = append(out, strings.TrimSuffix(fmt.Sprintln(vals...), "\n"))
		}
		require.NoError(t, rs.Err())
		return out
	}
	const q = "SELECT url, minute, views FROM url_views ORDER BY url, minute"
	want := table(dsns["local"], q)
	require.Len(t, want, 50)
	require.Equal(t, want, table(dsns["beam"], q))
	require.Equal(t, []string{"3000"}, table(dsns["beam"], "SELECT sum(views)::bigint FROM url_views"))
	require.Equal(t, []string{"0"}, table(dsns["beam"], "SELECT count(*) FROM kappa_pgio_commits_bundles WHERE committed_at IS NULL"),
		"every bundle's batch committed")
	require.NotEqual(t, []string{"0"}, table(dsns["beam"], "SELECT count(*) FROM kappa_pgio_commits_bundles"))
}
