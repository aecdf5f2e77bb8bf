package parquetio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// benchRows is the number of W1 events scanned per iteration: KAPPA_BENCH_ROWS, default 1e6.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("KAPPA_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkScan scans W1 events from Parquet (2 files, row groups of 1/8 of the rows, zstd), on local disk and
// on S3 over loopback (gofakes3 in this process), through the Source (as a runner with 1 or 2 workers would)
// and through a plain parquet-go GenericReader loop over the same files. Each reports rows/s; MB/s is of the
// files' compressed bytes.
//
//	go test -run '^$' -bench BenchmarkScan -benchtime 10x -count 3 ./io/parquetio/   (make bench-parquet)
func BenchmarkScan(b *testing.B) {
	n := benchRows()
	rows := make([]w1.Event, n)
	for i := range rows {
		rows[i] = w1.Gen(int64(i))
	}
	srv := s3test.Start(b)
	local := backend{name: "local", store: objstore.NewLocal(), base: b.TempDir()[1:] + "/"}
	local.url = "/" + local.base
	remote := backend{name: "s3", store: srv.Store(b), base: "bench/", url: srv.URL("bench/"), s3: srv.Config, srv: srv}
	var size int64
	for _, be := range []backend{local, remote} {
		size = 0
		for f := range 2 {
			data := writeParquet(b, be.store, be.Key(fmt.Sprintf("part-%d.parquet", f)), rows[f*n/2:(f+1)*n/2], int64(max(n/8, 1)))
			size += int64(len(data))
		}
	}
	rows = nil
	for _, be := range []backend{local, remote} {
		b.Run(be.name+"/plain-loop", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if got := plainLoop(b, be); got != n {
					b.Fatalf("read %d rows, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/source-%dworker", be.name, workers), func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					if got := sourceScan(b, be, workers); got != n {
						b.Fatalf("read %d rows, want %d", got, n)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// plainLoop is what a Go programmer writes without kappa: open each file, read it with a GenericReader into a
// reused buffer. Over S3 it uses SERVICES.md's settings (4 MiB buffer, optimistic footer read).
func plainLoop(b *testing.B, be backend) int {
	ctx := context.Background()
	total := 0
	buf := make([]w1.Event, 4096)
	var sum int64
	for obj, err := range be.store.List(ctx, be.base, objstore.ListOptions{}) {
		if err != nil {
			b.Fatal(err)
		}
		r, err := objstore.OpenObject(ctx, be.store, obj)
		if err != nil {
			b.Fatal(err)
		}
		opts := []parquet.FileOption{parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true)}
		if be.srv != nil {
			opts = append(opts, parquet.ReadBufferSize(4<<20), parquet.OptimisticRead(true))
		}
		f, err := parquet.OpenFile(r, r.Size(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		gr := parquet.NewGenericReader[w1.Event](f)
		for {
			k, err := gr.Read(buf)
			for i := range k {
				sum += buf[i].Time // use the event time, as the source does
			}
			total += k
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		gr.Close()
		r.Close()
	}
	if sum == 0 {
		b.Fatal("no data")
	}
	return total
}

// sourceScan drains a fresh Source (listing included) with workers goroutines taking splits from a queue, in
// batches of 4096 records, as the local runner does.
func sourceScan(b *testing.B, be backend, workers int) int {
	ctx := context.Background()
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: be.url, S3: be.s3, TimeColumn: "time", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		b.Fatal(err)
	}
	queue := make(chan pipeline.Split, len(splits))
	for _, s := range splits {
		queue <- s
	}
	close(queue)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	var failed error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var bt pipeline.Batch[w1.Event]
			n := 0
			defer func() { mu.Lock(); total += n; mu.Unlock() }()
			for sp := range queue {
				r, err := src.Open(ctx, sp, nil)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				for {
					bt.Reset()
					err := r.ReadBatch(ctx, &bt, pipeline.Limits{MaxRecords: 4096, MaxWait: time.Second})
					n += bt.Len()
					if errors.Is(err, pipeline.ErrEndOfInput) {
						break
					}
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	return total
}

// BenchmarkScanOptional scans 1e6 W1 events written with every column optional (as Spark, pandas or DuckDB write
// them) into w1.Event, whose fields cannot hold null, on local disk with 1 worker: without nulls (the column
// statistics rule them out, nothing more is read) and with 1% nulls in "value" (the definition levels of that
// column are read once per row group; each null becomes a dead letter). plain-loop is a parquet-go GenericReader
// over the file without nulls (reading nulls as zero values): the cost of parquet-go's optional-to-required
// conversion, which every path pays.
//
//	go test -run '^$' -bench BenchmarkScanOptional -benchtime 10x -count 3 ./io/parquetio/
func BenchmarkScanOptional(b *testing.B) {
	n := benchRows()
	for _, tc := range []struct {
		name  string
		every int // a null "value" every this many rows; 0: none
	}{{"no-nulls", 0}, {"1pct-nulls", 100}} {
		nulls := map[int]string{}
		for i := 0; tc.every > 0 && i < n; i += tc.every {
			nulls[i] = "value"
		}
		dir := b.TempDir()
		data := nullableFile(b, n, int64(max(n/8, 1)), nulls)
		url := putFile(b, dir, "optional.parquet", data)
		be := backend{name: "local", store: objstore.NewLocal(), base: dir[1:] + "/", url: url}
		if tc.every == 0 {
			b.Run("plain-loop", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if got := plainLoop(b, be); got != n {
						b.Fatalf("read %d rows, want %d", got, n)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if got := sourceScanDL(b, be); got != n-len(nulls) {
					b.Fatalf("read %d rows, want %d", got, n-len(nulls))
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// sourceScanDL drains a DeadLetter-mode Source over be.url with one reader, in batches of 4096 records, and
// returns the records read.
func sourceScanDL(b *testing.B, be backend) int {
	ctx := context.Background()
	src, err := parquetio.NewSource(parquetio.ReadConfig[w1.Event]{URL: be.url, TimeColumn: "time", Logger: quiet, OnError: parquetio.DeadLetter})
	if err != nil {
		b.Fatal(err)
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	var bt pipeline.Batch[w1.Event]
	for _, sp := range splits {
		r, err := src.Open(ctx, sp, nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			bt.Reset()
			err := r.ReadBatch(ctx, &bt, pipeline.Limits{MaxRecords: 4096})
			n += bt.Len()
			if errors.Is(err, pipeline.ErrEndOfInput) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
	return n
}
