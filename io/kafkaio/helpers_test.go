package kafkaio_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// quiet is a logger for tests that provoke warnings on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// read is what a split reader returned.
type read[T any] struct {
	values   []T
	times    []pipeline.Time
	failures []*pipeline.RecordError
	bytes    int64
	pos      []byte
	ended    bool
}

// drain reads a split until it has returned want records (or ended, for bounded sources), failing the test after
// a deadline. It closes the reader.
func drain[T any](t *testing.T, src pipeline.Source[T], split string, pos []byte, want int, lim pipeline.Limits) read[T] {
	t.Helper()
	ctx := ctxT(t)
	r, err := src.Open(ctx, pipeline.Split{ID: split}, pos)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	return drainReader(t, r, want, lim)
}

func drainReader[T any](t *testing.T, r pipeline.SplitReader[T], want int, lim pipeline.Limits) read[T] {
	t.Helper()
	ctx := ctxT(t)
	if lim.MaxWait == 0 {
		lim.MaxWait = 100 * time.Millisecond
	}
	var out read[T]
	deadline := time.Now().Add(20 * time.Second)
	var b pipeline.Batch[T]
	for len(out.values)+len(out.failures) < want {
		require.True(t, time.Now().Before(deadline), "read %d of %d records before the deadline", len(out.values), want)
		b.Reset()
		err := r.ReadBatch(ctx, &b, lim)
		if errors.Is(err, pipeline.ErrEndOfInput) {
			out.ended = true
		} else {
			require.NoError(t, err)
		}
		if lim.MaxRecords > 0 {
			require.LessOrEqual(t, b.Len()+len(b.Failures), lim.MaxRecords)
		}
		out.values = append(out.values, b.Values...)
		out.times = append(out.times, b.Times...)
		out.failures = append(out.failures, b.Failures...)
		out.bytes += b.Bytes
		if out.ended {
			break
		}
	}
	out.pos = append([]byte(nil), r.Position()...)
	return out
}

func newSource[T any](t *testing.T, cfg kafkaio.ReadConfig[T]) *kafkaio.Source[T] {
	t.Helper()
	src, err := kafkaio.NewSource(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func splitIDs(t *testing.T, src interface {
	Splits(context.Context) ([]pipeline.Split, error)
}) []string {
	t.Helper()
	splits, err := src.Splits(ctxT(t))
	require.NoError(t, err)
	ids := make([]string, len(splits))
	for i, s := range splits {
		ids[i] = s.ID
	}
	return ids
}

func values(recs []kafkatest.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func offsetOf(t *testing.T, pos []byte) int64 {
	t.Helper()
	off, err := kafkaio.DecodePosition(pos)
	require.NoError(t, err)
	return off
}

// rec is a record for partition p with value v and timestamp ms.
func rec(p int32, v string, ms int64) kafkatest.Record {
	return kafkatest.Record{Partition: p, Key: []byte("k-" + v), Value: []byte(v), Time: time.UnixMilli(ms)}
}
