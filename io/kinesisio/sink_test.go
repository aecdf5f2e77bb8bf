package kinesisio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

type event struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

func newSink(t testing.TB, srv *kinesistest.Server, stream string, adjust func(*kinesisio.WriteConfig[event])) *kinesisio.Sink[event] {
	t.Helper()
	cfg := kinesisio.WriteConfig[event]{
		Stream:     stream,
		Connection: kinesisio.Connection{Endpoint: srv.Endpoint},
		Encoder:    kinesisio.JSONEncoder(func(e event) string { return e.Key }),
		Logger:     testLogger(t),
	}
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := kinesisio.NewSink(cfg)
	require.NoError(t, err)
	return s
}

func events(n, keys int) []pipeline.Element[event] {
	out := make([]pipeline.Element[event], n)
	for i := range out {
		out[i] = pipeline.Element[event]{Value: event{Key: fmt.Sprintf("k%d", i%keys), N: i}}
	}
	return out
}

// readBack reads n events from every shard of stream and groups their numbers by key.
func readBack(t *testing.T, srv *kinesistest.Server, stream string, n int) map[string][]int {
	t.Helper()
	src, err := kinesisio.NewSource(kinesisio.ReadConfig[event]{Stream: stream, Connection: kinesisio.Connection{Endpoint: srv.Endpoint}, Logger: testLogger(t)})
	require.NoError(t, err)
	splits, err := src.Splits(context.Background())
	require.NoError(t, err)
	byKey := map[string][]int{}
	got := 0
	for _, sp := range splits {
		r := open(t, src, sp.ID, nil)
		var b pipeline.Batch[event]
		for idle := 0; idle < 1; {
			b.Reset()
			// MaxWait ≥ PollInterval: each batch polls, and an empty one means caught up.
			require.NoError(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10000, MaxWait: 500 * time.Millisecond}))
			if b.Len() == 0 {
				idle++
			}
			for _, e := range b.Values {
				byKey[e.Key] = append(byKey[e.Key], e.N)
				got++
			}
		}
	}
	require.Equal(t, n, got, "records in the stream")
	return byKey
}

func wantByKey(elems []pipeline.Element[event]) map[string][]int {
	want := map[string][]int{}
	for _, e := range elems {
		want[e.Value.Key] = append(want[e.Value.Key], e.Value.N)
	}
	return want
}

// TestSinkBatching writes through two writers and checks what reaches the stream and how many PutRecords calls
// the batch limits make.
func TestSinkBatching(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	tests := []struct {
		name      string
		n         int
		adjust    func(*kinesisio.WriteConfig[event])
		wantCalls int
	}{
		{"500 records per call", 1200, nil, 3},
		{"MaxBatchRecords", 100, func(c *kinesisio.WriteConfig[event]) { c.MaxBatchRecords = 30 }, 4},
		// a record is a 2-byte key and 18 or 19 bytes of JSON ({"key":"k0","n":42}): 210 bytes hold 10.
		{"MaxBatchBytes", 100, func(c *kinesisio.WriteConfig[event]) { c.MaxBatchBytes = 210 }, 10},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("batch-%d", i)
			srv.CreateStream(t, stream, 2)
			ctx := context.Background()
			elems := events(tc.n, 7)
			sink := newSink(t, srv, stream, tc.adjust)
			require.Equal(t, "kinesis://"+stream, sink.Name())
			before := srv.Stats(t)
			w, err := sink.Open(ctx, pipeline.Shard{Index: 0, Count: 1})
			require.NoError(t, err)
			for start := 0; start < len(elems); start += 64 { // the runner hands over slices of elements
				require.NoError(t, w.Write(ctx, elems[start:min(start+64, len(elems))]))
			}
			tok, err := w.Prepare(ctx, pipeline.Epoch{ID: 1})
			require.NoError(t, err)
			require.NoError(t, w.Commit(ctx, tok))
			require.NoError(t, w.Close(ctx))
			require.Equal(t, tc.wantCalls, srv.Stats(t).PutRecordsCalls-before.PutRecordsCalls)
			require.Equal(t, wantByKey(elems), readBack(t, srv, stream, tc.n))
		})
	}
}

// TestSinkPrepareFlushes checks that records wait in the writer until a batch is full or Prepare, and that Close
// drops what was not prepared.
func TestSinkPrepareFlushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := kinesistest.Start(t)
	srv.CreateStream(t, "prepare", 1)
	w, err := newSink(t, srv, "prepare", nil).Open(ctx, pipeline.Shard{Count: 1})
	require.NoError(t, err)
	elems := events(10, 2)
	require.NoError(t, w.Write(ctx, elems[:6]))
	require.Zero(t, srv.Stats(t).PutRecordsCalls, "nothing sent before Prepare")
	_, err = w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	require.Equal(t, 1, srv.Stats(t).PutRecordsCalls)
	require.NoError(t, w.Write(ctx, elems[6:]))
	require.NoError(t, w.Close(ctx))
	require.Equal(t, 1, srv.Stats(t).PutRecordsCalls, "Close sends nothing")
	require.Equal(t, wantByKey(elems[:6]), readBack(t, srv, "prepare", 6))
}

// TestSinkPartialFailure gives kinesalite Kinesis's per-shard write limit, so PutRecords calls partly fail; the
// writer retries only the failed records, in order, until all are in the stream once.
func TestSinkPartialFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := kinesistest.Start(t)
	srv.CreateStream(t, "partial", 1)
	srv.SetLimits(t, kinesistest.Limits{PutRecordsPerSecond: 100})
	var l logs
	w, err := newSink(t, srv, "partial", func(c *kinesisio.WriteConfig[event]) {
		c.Logger = l.logger()
		c.Retry.MaxBackoff = 300 * time.Millisecond // the limit resets every second: no need to wait longer
	}).Open(ctx, pipeline.Shard{Count: 1})
	require.NoError(t, err)
	elems := events(250, 5)
	require.NoError(t, w.Write(ctx, elems))
	_, err = w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.NoError(t, err)
	st := srv.Stats(t)
	require.GreaterOrEqual(t, st.FailedPutRecords, 150, "the first call can store only 100")
	require.Equal(t, 250, st.PutRecordsEntries-st.FailedPutRecords, "every record stored once")
	require.Contains(t, l.String(), `level=WARN msg="kinesis PutRecords partially failed; retrying the failed records" sink=kinesis://partial writer=0 failed=150 records=250 error_code=ProvisionedThroughputExceededException error="Rate exceeded for shard shardId-000000000000 in stream partial under account 000000000000."`)
	srv.SetLimits(t, kinesistest.Limits{})
	require.Equal(t, wantByKey(elems), readBack(t, srv, "partial", 250), "order per key kept")
}

// TestSinkErrors checks the errors for elements Kinesis cannot take.
func TestSinkErrors(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	tests := []struct {
		name    string
		encoder func(event) (string, []byte, error)
		want    string
	}{
		{"encoder error", func(event) (string, []byte, error) { return "", nil, errors.New("no key") },
			`kinesis stream "errs": encode element at 1970-01-01T00:00:01.000Z: no key`},
		{"empty partition key", func(event) (string, []byte, error) { return "", []byte("x"), nil },
			`kinesis stream "errs": partition key "" has 0 characters; Kinesis wants 1 to 256`},
		{"long partition key", func(event) (string, []byte, error) { return strings.Repeat("é", 257), []byte("x"), nil },
			`kinesis stream "errs": partition key "` + strings.Repeat("é", 257) + `" has 257 characters; Kinesis wants 1 to 256`},
		{"record over 1 MiB", func(event) (string, []byte, error) { return "k", make([]byte, 1<<20), nil },
			`kinesis stream "errs": record with partition key "k" has 1048577 bytes; Kinesis takes at most 1048576`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := newSink(t, srv, "errs", func(c *kinesisio.WriteConfig[event]) { c.Encoder = tc.encoder }).Open(context.Background(), pipeline.Shard{Count: 1})
			require.NoError(t, err)
			err = w.Write(context.Background(), []pipeline.Element[event]{{Value: event{Key: "a"}, Time: 1000}})
			require.EqualError(t, err, tc.want)
		})
	}
}
