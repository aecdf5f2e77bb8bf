package parquetio_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// W1 written by the sink to S3 (rolled into several files) and read back by the source with two concurrent
// split readers gives the checksum of W1 generated in memory. The windowed sum is a plain map here: the runner
// is not part of this test.
func TestW1ChecksumFromParquetOnS3(t *testing.T) {
	const n = 200_000
	b := backends(t)[1]
	sink, err := parquetio.NewSink(parquetio.WriteConfig[w1.Event]{URL: b.URL("w1/"), S3: b.s3, Logger: quiet,
		MaxFileRows: 60_000, RowGroupRows: 25_000})
	require.NoError(t, err)
	commitAll(t, sink, globalElems(events(0, n)), pipeline.Epoch{ID: 1, Watermark: pipeline.MaxTime, Final: true})

	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: b.URL("w1/"), S3: b.s3, Logger: quiet, TimeColumn: "time"})
	require.NoError(t, err)
	ctx := context.Background()
	splits, err := src.Splits(ctx)
	require.NoError(t, err)
	require.Len(t, splits, 10, "files of 60000, 60000, 60000 and 20000 rows in row groups of at most 25000")

	type key struct {
		k     string
		start int64
	}
	sums := map[key]int64{}
	var mu sync.Mutex
	queue := make(chan pipeline.Split, len(splits))
	for _, s := range splits {
		queue <- s
	}
	close(queue)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var bt pipeline.Batch[w1.Event]
			for sp := range queue {
				r, err := src.Open(ctx, sp, nil)
				if err != nil {
					errs <- err
					return
				}
				for {
					bt.Reset()
					err := r.ReadBatch(ctx, &bt, pipeline.Limits{MaxRecords: 3000})
					mu.Lock()
					for i, e := range bt.Values {
						start := int64(bt.Times[i]) - int64(bt.Times[i])%w1.WindowSize
						sums[key{e.Key, start}] += e.Value
					}
					mu.Unlock()
					if errors.Is(err, pipeline.ErrEndOfInput) {
						break
					}
					if err != nil {
						errs <- err
						return
					}
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var sum uint64
	for k, v := range sums {
		sum += w1.RowHash(k.k, k.start, v)
	}
	want, rows := w1.PlainLoop(n, false)
	require.Equal(t, rows, len(sums))
	require.Equal(t, w1.FormatChecksum(want), w1.FormatChecksum(sum))
	require.Equal(t, int64(n), src.Stats().RowsRead)
}
