package parquetio_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/io/iotest"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestConformance runs the shared connector conformance suite (io/iotest) on the Parquet source and sink, over a
// local folder and over S3 (gofakes3). Split i is the file split-i.parquet, one row group, written by Env.End;
// the event time is the "time" column; a bad record is an object that is not Parquet, which the source
// (OnError DeadLetter) reports as the failure of a split of its own. The sink writes into the same folder.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	var folders atomic.Int64
	for _, kind := range []string{"local", "s3"} {
		t.Run(kind, func(t *testing.T) {
			iotest.TestSource(t, iotest.Harness{
				Features: iotest.Features{Bounded: true, BadRecords: true, Sink: true, ExactlyOnceSink: true},
				Setup: func(t *testing.T, splits int) iotest.Env {
					e := &conformanceFolder{recs: make([][]iotest.Record, splits)}
					if kind == "local" {
						dir := t.TempDir()
						e.store, e.prefix, e.url = objstore.NewLocal(), strings.TrimPrefix(dir, "/")+"/", dir+"/"
					} else {
						e.prefix = fmt.Sprintf("conformance-%d/", folders.Add(1))
						e.store, e.url, e.s3 = srv.Store(t), srv.URL(e.prefix), srv.Config
					}
					return e
				},
			})
		})
	}
}

// conformanceFolder is a folder of Parquet files under the conformance suite.
type conformanceFolder struct {
	iotest.Unsupported // AddSplit: a bounded source has no new splits
	store              objstore.Store
	prefix, url        string // key prefix and URL of the folder
	s3                 objstore.Config
	recs               [][]iotest.Record // per split, written by End
	bad                int
}

func (e *conformanceFolder) Source(t *testing.T) pipeline.Source[iotest.Record] {
	src, err := parquetio.NewSource(parquetio.ReadConfig[iotest.Record]{
		URL:              e.url,
		S3:               e.s3,
		TimeColumn:       "time",
		OnError:          parquetio.DeadLetter,
		ProgressInterval: -1,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	return src
}

func (e *conformanceFolder) Sink(t *testing.T) pipeline.Sink[iotest.Record] {
	sink, err := parquetio.NewSink(parquetio.WriteConfig[iotest.Record]{
		URL:    e.url,
		S3:     e.s3,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	return sink
}

func (e *conformanceFolder) Append(_ *testing.T, split int, recs ...iotest.Record) {
	e.recs[split] = append(e.recs[split], recs...)
}

func (e *conformanceFolder) AppendBad(t *testing.T, split int) string {
	key := fmt.Sprintf("%ssplit-%03d-bad-%d.parquet", e.prefix, split, e.bad)
	e.bad++
	require.NoError(t, e.store.Put(context.Background(), key, []byte("not a Parquet file")))
	return e.store.URL(key)
}

// End writes each split's records as one file with one row group.
func (e *conformanceFolder) End(t *testing.T) {
	for i, recs := range e.recs {
		if len(recs) == 0 {
			continue
		}
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[iotest.Record](&buf)
		_, err := w.Write(recs)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.NoError(t, e.store.Put(context.Background(), fmt.Sprintf("%ssplit-%03d.parquet", e.prefix, i), buf.Bytes()))
	}
}
