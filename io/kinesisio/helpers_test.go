package kinesisio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

// kv is a record to put.
type kv struct{ key, data string }

// putAll writes records with PutRecords (500 at a time) and returns their sequence numbers.
func putAll(t testing.TB, c *kinesis.Client, stream string, recs []kv) []string {
	t.Helper()
	var seqs []string
	for chunk := range slices.Chunk(recs, 500) {
		entries := make([]types.PutRecordsRequestEntry, len(chunk))
		for i, r := range chunk {
			entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(r.key), Data: []byte(r.data)}
		}
		out, err := c.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		require.NoError(t, err)
		require.Zero(t, aws.ToInt32(out.FailedRecordCount))
		for _, r := range out.Records {
			seqs = append(seqs, aws.ToString(r.SequenceNumber))
		}
	}
	return seqs
}

// records returns n records "<prefix><i>" with keys k0..k(keys-1).
func records(prefix string, n, keys int) []kv {
	out := make([]kv, n)
	for i := range out {
		out[i] = kv{key: fmt.Sprintf("k%d", i%keys), data: fmt.Sprintf("%s%d", prefix, i)}
	}
	return out
}

func datas(recs []kv) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.data
	}
	return out
}

// newSource builds a string source on srv with the given adjustments.
func newSource(t testing.TB, srv *kinesistest.Server, stream string, adjust func(*kinesisio.ReadConfig[string])) *kinesisio.Source[string] {
	t.Helper()
	cfg := kinesisio.ReadConfig[string]{Stream: stream, Connection: kinesisio.Connection{Endpoint: srv.Endpoint}, Logger: testLogger(t)}
	if adjust != nil {
		adjust(&cfg)
	}
	src, err := kinesisio.NewSource(cfg)
	require.NoError(t, err)
	return src
}

func open[T any](t testing.TB, src pipeline.Source[T], shard string, pos []byte) pipeline.SplitReader[T] {
	t.Helper()
	r, err := src.Open(context.Background(), pipeline.Split{ID: shard}, pos)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

const shard0 = "shardId-000000000000"

// readN reads batches until it has want records (values plus failures) or timeout passes.
func readN[T any](t testing.TB, r pipeline.SplitReader[T], lim pipeline.Limits, want int, timeout time.Duration) ([]T, []*pipeline.RecordError) {
	t.Helper()
	var vals []T
	var fails []*pipeline.RecordError
	var b pipeline.Batch[T]
	deadline := time.Now().Add(timeout)
	for len(vals)+len(fails) < want {
		require.True(t, time.Now().Before(deadline), "read %d of %d records in %v", len(vals)+len(fails), want, timeout)
		b.Reset()
		err := r.ReadBatch(context.Background(), &b, lim)
		vals = append(vals, b.Values...)
		fails = append(fails, b.Failures...)
		if errors.Is(err, pipeline.ErrEndOfInput) {
			break
		}
		require.NoError(t, err)
		require.LessOrEqual(t, b.Len()+len(b.Failures), max(lim.MaxRecords, 1), "batch over MaxRecords")
	}
	return vals, fails
}

// expectIdle reads for d and fails if any record arrives.
func expectIdle[T any](t testing.TB, r pipeline.SplitReader[T], d time.Duration) {
	t.Helper()
	var b pipeline.Batch[T]
	for end := time.Now().Add(d); time.Now().Before(end); {
		b.Reset()
		require.NoError(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 100, MaxWait: 100 * time.Millisecond}))
		require.Empty(t, b.Values)
	}
}

// logs captures slog output.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testLogger logs to the test's output, shown when it fails or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func quick(lim pipeline.Limits) pipeline.Limits {
	if lim.MaxWait == 0 {
		lim.MaxWait = 100 * time.Millisecond
	}
	if lim.MaxRecords == 0 {
		lim.MaxRecords = 1000
	}
	return lim
}
