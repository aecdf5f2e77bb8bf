package kinesisio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/io/iotest"
	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestConformance runs the shared connector conformance suite (io/iotest) on the Kinesis source and sink against
// kinesalite: splits are shards, records are JSON with the event time inside, a bad record is data that is not
// JSON, and a new split is a shard split off the first split's shard. The sink is at-least-once.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kinesalite output:\n%s", srv.Output())
		}
	})
	var streams atomic.Int64
	iotest.TestSource(t, iotest.Harness{
		Features: iotest.Features{BadRecords: true, NewSplits: true, Sink: true, Settle: 300 * time.Millisecond},
		Setup: func(t *testing.T, splits int) iotest.Env {
			name := fmt.Sprintf("conformance-%d", streams.Add(1))
			srv.CreateStream(t, name, splits)
			e := &conformanceStream{srv: srv, client: srv.Client(), stream: name}
			for _, sh := range e.shards(t) {
				e.hashKeys = append(e.hashKeys, aws.ToString(sh.HashKeyRange.StartingHashKey))
			}
			require.Len(t, e.hashKeys, splits)
			return e
		},
	})
}

// conformanceStream is a Kinesis stream under the conformance suite. Split i is the shard that holds hash key
// hashKeys[i]; records are put with that explicit hash key, in one PutRecords call per 500 records (kinesalite
// stores a call's records in order).
type conformanceStream struct {
	iotest.Unsupported // End: a stream is unbounded
	srv                *kinesistest.Server
	client             *kinesis.Client
	stream             string

	mu       sync.Mutex
	hashKeys []string
}

func (e *conformanceStream) Source(t *testing.T) pipeline.Source[iotest.Record] {
	src, err := kinesisio.NewSource(kinesisio.ReadConfig[iotest.Record]{
		Stream:       e.stream,
		Connection:   kinesisio.Connection{Endpoint: e.srv.Endpoint},
		EventTime:    func(_ kinesisio.Record, r iotest.Record) time.Time { return r.Time },
		PollInterval: 20 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	require.NoError(t, err)
	return src
}

func (e *conformanceStream) Sink(t *testing.T) pipeline.Sink[iotest.Record] {
	sink, err := kinesisio.NewSink(kinesisio.WriteConfig[iotest.Record]{
		Stream:     e.stream,
		Connection: kinesisio.Connection{Endpoint: e.srv.Endpoint},
		Encoder:    kinesisio.JSONEncoder(func(r iotest.Record) string { return r.Key }),
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	require.NoError(t, err)
	return sink
}

func (e *conformanceStream) hashKey(split int) *string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return aws.String(e.hashKeys[split])
}

func (e *conformanceStream) put(t *testing.T, entries []types.PutRecordsRequestEntry) []types.PutRecordsResultEntry {
	t.Helper()
	var out []types.PutRecordsResultEntry
	for chunk := range slices.Chunk(entries, kinesisio.MaxPutRecords) {
		res, err := e.client.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(e.stream), Records: chunk})
		require.NoError(t, err)
		require.Zero(t, aws.ToInt32(res.FailedRecordCount))
		out = append(out, res.Records...)
	}
	return out
}

func (e *conformanceStream) Append(t *testing.T, split int, recs ...iotest.Record) {
	entries := make([]types.PutRecordsRequestEntry, len(recs))
	for i, r := range recs {
		data, err := json.Marshal(r)
		require.NoError(t, err)
		entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(r.Key), ExplicitHashKey: e.hashKey(split)}
	}
	e.put(t, entries)
}

func (e *conformanceStream) AppendBad(t *testing.T, split int) string {
	res := e.put(t, []types.PutRecordsRequestEntry{{Data: []byte("not JSON"), PartitionKey: aws.String("bad"), ExplicitHashKey: e.hashKey(split)}})
	return "shard " + aws.ToString(res[0].ShardId) + " sequence " + aws.ToString(res[0].SequenceNumber)
}

// AddSplit splits the open shard holding split 0's hash key in two; the upper half is the new split.
func (e *conformanceStream) AddSplit(t *testing.T) int {
	key := aws.ToString(e.hashKey(0))
	for _, sh := range e.shards(t) {
		lo, hi := bigInt(t, sh.HashKeyRange.StartingHashKey), bigInt(t, sh.HashKeyRange.EndingHashKey)
		k := bigInt(t, &key)
		if sh.SequenceNumberRange.EndingSequenceNumber != nil || k.Cmp(lo) < 0 || k.Cmp(hi) > 0 {
			continue
		}
		mid := new(big.Int).Add(lo, hi)
		mid.Add(mid, big.NewInt(1)).Rsh(mid, 1)
		_, err := e.client.SplitShard(context.Background(), &kinesis.SplitShardInput{
			StreamName: aws.String(e.stream), ShardToSplit: sh.ShardId, NewStartingHashKey: aws.String(mid.String()),
		})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			out, err := e.client.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(e.stream)})
			require.NoError(t, err)
			return out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
		}, 10*time.Second, 10*time.Millisecond)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.hashKeys = append(e.hashKeys, mid.String())
		return len(e.hashKeys) - 1
	}
	t.Fatalf("no open shard of %s holds hash key %s", e.stream, key)
	return 0
}

// shards lists the stream's shards.
func (e *conformanceStream) shards(t *testing.T) []types.Shard {
	t.Helper()
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(e.stream)}
	for {
		res, err := e.client.ListShards(context.Background(), in)
		require.NoError(t, err)
		out = append(out, res.Shards...)
		if res.NextToken == nil {
			return out
		}
		in = &kinesis.ListShardsInput{NextToken: res.NextToken}
	}
}

func bigInt(t *testing.T, s *string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(aws.ToString(s), 10)
	require.True(t, ok, "hash key %q", aws.ToString(s))
	return v
}
