package pgio_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

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

// BenchmarkUpsert measures rows upserted per second through the sink (Write, Prepare, Commit of 100k-row epochs on
// 1 and 2 shards) against a durable local PostgreSQL (fsync on), and a plain pgx loop doing the same upserts
// without exactly-once (COPY into a temporary table, INSERT … SELECT … ON CONFLICT, one transaction per epoch).
func BenchmarkUpsert(b *testing.B) {
	srv := pgtest.Start(b, pgtest.Durable())
	for _, mode := range []pgio.Mode{pgio.Replace, pgio.Add} {
		for _, fresh := range []bool{true, false} {
			kind := map[bool]string{true: "insert", false: "update"}[fresh]
			for _, shards := range []int{1, 2} {
				b.Run(fmt.Sprintf("pgio/%s/%s/shards=%d", mode, kind, shards), func(b *testing.B) {
					dsn := srv.NewDatabase(b)
					execSQL(b, dsn, windowRows)
					sink := newSink(b, pgio.Config[WindowRow]{DSN: dsn, Table: "window_rows", Mode: mode})
					ws := make([]*shardWriter[WindowRow], shards)
					for i := range ws {
						ws[i] = open(b, sink, i, shards)
					}
					epochs := make([][]pipeline.Element[WindowRow], b.N)
					for e := range epochs {
						epochs[e] = benchRows(e, fresh)
					}
					b.ResetTimer()
					for e := range b.N {
						toks := make([][]byte, shards)
						var wg sync.WaitGroup
						for i, w := range ws {
							wg.Go(func() {
								part := epochs[e][i*benchEpochRows/shards : (i+1)*benchEpochRows/shards]
								for j := 0; j < len(part); j += 1000 {
									if err := w.w.Write(context.Background(), part[j:j+1000]); err != nil {
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
					b.ReportMetric(float64(b.N*benchEpochRows)/b.Elapsed().Seconds(), "rows/s")
				})
			}
			b.Run(fmt.Sprintf("pgx-loop/%s/%s", mode, kind), func(b *testing.B) {
				dsn := srv.NewDatabase(b)
				execSQL(b, dsn, windowRows)
				conn := connect(b, dsn)
				ctx := context.Background()
				set := "sum = EXCLUDED.sum, count = EXCLUDED.count"
				if mode == pgio.Add {
					set = "sum = t.sum + EXCLUDED.sum, count = t.count + EXCLUDED.count"
				}
				epochs := make([][][]any, b.N)
				for e := range epochs {
					for _, el := range benchRows(e, fresh) {
						v := el.Value
						epochs[e] = append(epochs[e], []any{v.Key, v.WindowStart, v.Sum, v.Count})
					}
				}
				b.ResetTimer()
				for e := range b.N {
					tx, err := conn.Begin(ctx)
					require.NoError(b, err)
					_, err = tx.Exec(ctx, "CREATE TEMP TABLE batch (LIKE window_rows) ON COMMIT DROP")
					require.NoError(b, err)
					_, err = tx.CopyFrom(ctx, pgx.Identifier{"batch"}, []string{"key", "window_start", "sum", "count"}, pgx.CopyFromRows(epochs[e]))
					require.NoError(b, err)
					_, err = tx.Exec(ctx, "INSERT INTO window_rows AS t SELECT * FROM batch ON CONFLICT (key, window_start) DO UPDATE SET "+set)
					require.NoError(b, err)
					require.NoError(b, tx.Commit(ctx))
				}
				b.ReportMetric(float64(b.N*benchEpochRows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
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
