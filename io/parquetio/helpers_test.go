package parquetio_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/s3test"
	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/pipeline"
)

// writeParquet writes rows as one Parquet object with row groups of rgRows rows (zstd).
func writeParquet[T any](t testing.TB, store objstore.Store, key string, rows []T, rgRows int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.MaxRowsPerRowGroup(rgRows), parquet.Compression(&parquet.Zstd))
	_, err := w.Write(rows)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	if store != nil {
		require.NoError(t, store.Put(context.Background(), key, buf.Bytes()))
	}
	return buf.Bytes()
}

// drained is everything a source produced.
type drained[T any] struct {
	values    []T
	times     []pipeline.Time
	failures  []*pipeline.RecordError
	batches   int
	bytes     int64
	splits    []pipeline.Split
	positions map[string][]byte
	hints     map[string][]pipeline.Time
}

// drain reads every split of src to its end, split by split, as a runner would.
func drain[T any](t testing.TB, src pipeline.Source[T], lim pipeline.Limits) (*drained[T], error) {
	t.Helper()
	ctx := context.Background()
	splits, err := src.Splits(ctx)
	if err != nil {
		return nil, err
	}
	d := &drained[T]{splits: splits, positions: map[string][]byte{}, hints: map[string][]pipeline.Time{}}
	for _, sp := range splits {
		r, err := src.Open(ctx, sp, nil)
		if err != nil {
			return d, err
		}
		var b pipeline.Batch[T]
		for {
			b.Reset()
			err := r.ReadBatch(ctx, &b, lim)
			d.values = append(d.values, b.Values...)
			d.times = append(d.times, b.Times...)
			d.failures = append(d.failures, b.Failures...)
			d.bytes += b.Bytes
			d.batches++
			d.hints[sp.ID] = append(d.hints[sp.ID], b.Watermark)
			d.positions[sp.ID] = slices.Clone(r.Position())
			if errors.Is(err, pipeline.ErrEndOfInput) {
				break
			}
			if err != nil {
				r.Close()
				return d, err
			}
		}
		require.NoError(t, r.Close())
	}
	return d, nil
}

// backend is where a test's files live: a local folder or a gofakes3 bucket.
type backend struct {
	name  string
	store objstore.Store
	base  string // key prefix of the test's objects, ending in "/"
	url   string // URL of base
	s3    objstore.Config
	srv   *s3test.Server
}

func (b backend) URL(rel string) string { return b.url + rel }
func (b backend) Key(rel string) string { return b.base + rel }

func backends(t testing.TB) []backend {
	dir := t.TempDir()
	srv := s3test.Start(t)
	return []backend{
		{name: "local", store: objstore.NewLocal(), base: strings.TrimPrefix(dir, "/") + "/", url: dir + "/"},
		{name: "s3", store: srv.Store(t), base: "data/", url: srv.URL("data/"), s3: srv.Config, srv: srv},
	}
}

// commitAll writes elems through a fresh writer of sink (shard 0 of 1) as one epoch and commits it.
func commitAll[T any](t testing.TB, sink pipeline.Sink[T], elems []pipeline.Element[T], epoch pipeline.Epoch) []byte {
	t.Helper()
	ctx := context.Background()
	w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
	require.NoError(t, err)
	require.NoError(t, w.Write(ctx, elems))
	tok, err := w.Prepare(ctx, epoch)
	require.NoError(t, err)
	require.NoError(t, w.Commit(ctx, tok))
	require.NoError(t, w.Close(ctx))
	return tok
}

func globalElems[T any](vals []T) []pipeline.Element[T] {
	out := make([]pipeline.Element[T], len(vals))
	for i, v := range vals {
		out[i] = pipeline.Element[T]{Value: v, Time: pipeline.MinTime, Window: pipeline.GlobalWindow, Pane: pipeline.NoFiringPane}
	}
	return out
}

func listKeys(t testing.TB, b backend, rel string) []string {
	t.Helper()
	var out []string
	for o, err := range b.store.List(context.Background(), b.Key(rel), objstore.ListOptions{}) {
		require.NoError(t, err)
		out = append(out, strings.TrimPrefix(o.Key, b.base))
	}
	return out
}
