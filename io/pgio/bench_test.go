package pgio_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/pgtest"
	"github.com/kappaflow/kappa/io/pgio"
	"github.com/kappaflow/kappa/pipeline"
)

// WindowRow is a per-key window aggregate, W1's output row.
type WindowRow struct {
	Key         string `pg:"key,key"`
	WindowStart int64  `pg:"window_start,key"`
	Sum         int64  `pg:"sum,add"`
	Count       int64  `pg:"count,add"`
}

const windowRows = `CREATE TABLE window_rows (key text, window_start bigint, sum bigint NOT NULL, count bigint NOT NULL,
	PRIMARY KEY (key, window_start))`

const benchEpochRows = 100_000

// benchRows returns epoch e's rows: 1000 keys × 100 windows. With fresh true every epoch has windows of its own
// (inserts, the table grows: on-time panes); else every epoch writes the same keys again (updates: late or early
// panes).
func benchRows(e int, fresh bool) []pipeline.Element[WindowRow] {
	out := make([]pipeline.Element[WindowRow], benchEpochRows)
	win := 0
	if fresh {
		win = e * 100
	}
	for i := range out {
		out[i].Value = WindowRow{Key: "key-" + strconv.Itoa(i%1000), WindowStart: int64(win+i/1000) * 60_000, Sum: int64(i), Count: 1}
	}
	return out
}

// BenchmarkUpsert measures rows upserted per second through the sink (Write, Prepare and Commit of 100k-row
// epochs, on 1 and on 2 shards) against a durable private PostgreSQL (fsync on), and a plain pgx loop doing the same
// upserts without exactly-once (COPY into a temporary table, INSERT … SELECT … ON CONFLICT, one transaction per
// epoch). The three alternate epoch by epoch, each in a database of its own, so that they share the machine's
// load: on a loaded machine the rates move together and their ratios hold.
func BenchmarkUpsert(b *testing.B) {
	srv := pgtest.Start(b, pgtest.Durable())
	for _, mode := range []pgio.Mode{pgio.Replace, pgio.Add} {
		for _, fresh := range []bool{true, false} {
			kind := map[bool]string{true: "insert", false: "update"}[fresh]
			b.Run(fmt.Sprintf("%s/%s", mode, kind), func(b *testing.B) {
				var one, two, loop time.Duration
				sinks := [2][]*shardWriter[WindowRow]{}
				for k, shards := range []int{1, 2} {
					dsn := srv.NewDatabase(b)
					execSQL(b, dsn, windowRows)
					sink := newSink(b, pgio.Config[WindowRow]{DSN: dsn, Table: "window_rows", Mode: mode})
					for i := range shards {
						sinks[k] = append(sinks[k], open(b, sink, i, shards))
					}
				}
				dsn := srv.NewDatabase(b)
				execSQL(b, dsn, windowRows)
				conn := connect(b, dsn)
				set := "sum = EXCLUDED.sum, count = EXCLUDED.count"
				if mode == pgio.Add {
					set = "sum = t.sum + EXCLUDED.sum, count = t.count + EXCLUDED.count"
				}
				b.ResetTimer()
				for e := range b.N {
					b.StopTimer()
					elems := benchRows(e, fresh)
					loopRows := make([][]any, len(elems))
					for i, el := range elems {
						v := el.Value
						loopRows[i] = []any{v.Key, v.WindowStart, v.Sum, v.Count}
					}
					b.StartTimer()
					t0 := time.Now()
					runEpoch(b, sinks[0], elems, e)
					t1 := time.Now()
					runEpoch(b, sinks[1], elems, e)
					t2 := time.Now()
					loopEpoch(b, conn, loopRows, set)
					t3 := time.Now()
					one, two, loop = one+t1.Sub(t0), two+t2.Sub(t1), loop+t3.Sub(t2)
				}
				rate := func(d time.Duration) float64 { return float64(b.N*benchEpochRows) / d.Seconds() }
				b.ReportMetric(rate(one), "pgio-1shard-rows/s")
				b.ReportMetric(rate(two), "pgio-2shards-rows/s")
				b.ReportMetric(rate(loop), "pgx-loop-rows/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// runEpoch writes an epoch's rows through the shard writers (split evenly), prepares them in parallel and commits
// the tokens, as the runner does.
func runEpoch(b *testing.B, ws []*shardWriter[WindowRow], elems []pipeline.Element[WindowRow], e int) {
	toks := make([][]byte, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			part := elems[i*len(elems)/len(ws) : (i+1)*len(elems)/len(ws)]
			for j := 0; j < len(part); j += 1000 {
				if err := w.w.Write(context.Background(), part[j:min(j+1000, len(part))]); err != nil {
					b.Error(err)
					return
				}
			}
			tok, err := w.w.Prepare(context.Background(), pipeline.Epoch{ID: uint64(e)})
			if err != nil {
				b.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	for i, w := range ws {
		w.commit(toks[i])
	}
}

// loopEpoch is the hand-written upsert without exactly-once.
func loopEpoch(b *testing.B, conn *pgx.Conn, rows [][]any, set string) {
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	require.NoError(b, err)
	_, err = tx.Exec(ctx, "CREATE TEMP TABLE batch (LIKE window_rows) ON COMMIT DROP")
	require.NoError(b, err)
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"batch"}, []string{"key", "window_start", "sum", "count"}, pgx.CopyFromRows(rows))
	require.NoError(b, err)
	_, err = tx.Exec(ctx, "INSERT INTO window_rows AS t SELECT * FROM batch ON CONFLICT (key, window_start) DO UPDATE SET "+set)
	require.NoError(b, err)
	require.NoError(b, tx.Commit(ctx))
}

// BenchmarkSmallEpochs measures the fixed cost of an epoch (a stream job committing every few tens of
// milliseconds): 2 shards, 100 new rows per shard and epoch, Prepare and Commit on each.
func BenchmarkSmallEpochs(b *testing.B) {
	srv := pgtest.Start(b, pgtest.Durable())
	dsn := srv.NewDatabase(b)
	execSQL(b, dsn, windowRows)
	sink := newSink(b, pgio.Config[WindowRow]{DSN: dsn, Table: "window_rows", Mode: pgio.Add})
	ws := []*shardWriter[WindowRow]{open(b, sink, 0, 2), open(b, sink, 1, 2)}
	elems := make([]pipeline.Element[WindowRow], 100)
	b.ResetTimer()
	for e := range b.N {
		toks := make([][]byte, len(ws))
		var wg sync.WaitGroup
		for i, w := range ws {
			part := make([]pipeline.Element[WindowRow], len(elems))
			for j := range part {
				part[j].Value = WindowRow{Key: "k" + strconv.Itoa(i), WindowStart: int64(e*100 + j), Sum: 1, Count: 1}
			}
			wg.Go(func() {
				if err := w.w.Write(context.Background(), part); err != nil {
					b.Error(err)
					return
				}
				tok, err := w.w.Prepare(context.Background(), pipeline.Epoch{ID: uint64(e)})
				if err != nil {
					b.Error(err)
				}
				toks[i] = tok
			})
		}
		wg.Wait()
		for i, w := range ws {
			w.commit(toks[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/epoch")
	b.ReportMetric(0, "ns/op")
}
