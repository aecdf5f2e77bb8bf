package kinesisio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kinesistest"
	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

// TestStart checks each iterator type a reader can start from.
func TestStart(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	c := srv.Client()
	lim := quick(pipeline.Limits{})
	before, after := records("a", 5, 2), records("b", 5, 2)

	tests := []struct {
		name string
		// run puts `before`, opens a reader (possibly waiting between), puts `after`, and returns the reader.
		run  func(t *testing.T, stream string) pipeline.SplitReader[string]
		want []string
	}{
		{
			name: "TRIM_HORIZON",
			run: func(t *testing.T, stream string) pipeline.SplitReader[string] {
				putAll(t, c, stream, before)
				r := open(t, newSource(t, srv, stream, nil), shard0, nil)
				putAll(t, c, stream, after)
				return r
			},
			want: append(datas(before), datas(after)...),
		},
		{
			name: "LATEST",
			run: func(t *testing.T, stream string) pipeline.SplitReader[string] {
				putAll(t, c, stream, before)
				time.Sleep(1100 * time.Millisecond) // LATEST resolves to the stream's clock, to the second
				src := newSource(t, srv, stream, func(c *kinesisio.ReadConfig[string]) { c.Start = kinesisio.Latest })
				_, err := src.Splits(context.Background())
				require.NoError(t, err)
				r := open(t, src, shard0, nil)
				expectIdle(t, r, 300*time.Millisecond)
				putAll(t, c, stream, after)
				return r
			},
			want: datas(after),
		},
		{
			name: "AT_TIMESTAMP",
			run: func(t *testing.T, stream string) pipeline.SplitReader[string] {
				putAll(t, c, stream, before)
				time.Sleep(20 * time.Millisecond)
				at := time.Now() // kinesalite runs on this machine's clock, with ms arrival times
				time.Sleep(20 * time.Millisecond)
				putAll(t, c, stream, after)
				return open(t, newSource(t, srv, stream, func(c *kinesisio.ReadConfig[string]) {
					c.Start, c.StartTime = kinesisio.AtTimestamp, at
				}), shard0, nil)
			},
			want: datas(after),
		},
		{
			name: "AFTER_SEQUENCE_NUMBER from a position",
			run: func(t *testing.T, stream string) pipeline.SplitReader[string] {
				putAll(t, c, stream, before)
				src := newSource(t, srv, stream, nil)
				first := open(t, src, shard0, nil)
				got, _ := readN(t, first, pipeline.Limits{MaxRecords: 3, MaxWait: time.Second}, 3, 5*time.Second)
				require.Equal(t, []string{"a0", "a1", "a2"}, got)
				pos := first.Position()
				putAll(t, c, stream, after)
				return open(t, src, shard0, pos)
			},
			want: []string{"a3", "a4", "b0", "b1", "b2", "b3", "b4"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stream := fmt.Sprintf("start-%d", i)
			srv.CreateStream(t, stream, 1)
			r := tc.run(t, stream)
			got, _ := readN(t, r, lim, len(tc.want), 10*time.Second)
			require.Equal(t, tc.want, got)
			expectIdle(t, r, 300*time.Millisecond) // nothing more: no duplicates
		})
	}
}

// TestRestartFromPosition stops readers after a few batches and resumes new readers at their positions: every
// record is read once, including when a batch ended in the middle of a GetRecords response.
func TestRestartFromPosition(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	c := srv.Client()
	tests := []struct {
		name string
		lim  pipeline.Limits
	}{
		{"record limit", pipeline.Limits{MaxRecords: 7, MaxWait: 300 * time.Millisecond}},
		// MaxBytes 1 returns one record per batch while the rest of the response waits in the reader.
		{"byte limit mid-response", pipeline.Limits{MaxRecords: 1000, MaxBytes: 1, MaxWait: 300 * time.Millisecond}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stream := fmt.Sprintf("restart-%d", i)
			srv.CreateStream(t, stream, 1)
			recs := records("r", 40, 3)
			putAll(t, c, stream, recs[:30])
			src := newSource(t, srv, stream, nil)
			var got []string
			var pos []byte
			for round := 0; round < 4; round++ { // four readers, each reads 3 batches and "crashes"
				r := open(t, src, shard0, pos)
				var b pipeline.Batch[string]
				for range 3 {
					b.Reset()
					require.NoError(t, r.ReadBatch(context.Background(), &b, tc.lim))
					got = append(got, b.Values...)
				}
				pos = append([]byte(nil), r.Position()...)
				require.NoError(t, r.Close())
				if round == 1 {
					putAll(t, c, stream, recs[30:])
				}
			}
			r := open(t, src, shard0, pos)
			rest, _ := readN(t, r, quick(pipeline.Limits{}), 40-len(got), 10*time.Second)
			require.Equal(t, datas(recs), append(got, rest...))
			expectIdle(t, r, 300*time.Millisecond)
		})
	}
}

// TestResharding reshards a stream while a producer writes: parents are read to their end, children are listed
// with their parents and opened after them, and every record is read exactly once, in order per key.
func TestResharding(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	c := srv.Client()
	tests := []struct {
		name        string
		shards      int
		reshard     func(ctx context.Context, stream string) error
		wantParents map[string][]string
		wantEnded   []string
	}{
		{
			name:   "SplitShard",
			shards: 1,
			reshard: func(ctx context.Context, stream string) error {
				_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{
					StreamName: aws.String(stream), ShardToSplit: aws.String(shard0),
					NewStartingHashKey: aws.String("170141183460469231731687303715884105728"), // 2^127: halves
				})
				return err
			},
			wantParents: map[string][]string{shard0: nil, "shardId-000000000001": {shard0}, "shardId-000000000002": {shard0}},
			wantEnded:   []string{shard0},
		},
		{
			name:   "MergeShards",
			shards: 2,
			reshard: func(ctx context.Context, stream string) error {
				_, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{
					StreamName: aws.String(stream), ShardToMerge: aws.String(shard0), AdjacentShardToMerge: aws.String("shardId-000000000001"),
				})
				return err
			},
			wantParents: map[string][]string{shard0: nil, "shardId-000000000001": nil, "shardId-000000000002": {shard0, "shardId-000000000001"}},
			wantEnded:   []string{shard0, "shardId-000000000001"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			stream := fmt.Sprintf("reshard-%d", i)
			srv.CreateStream(t, stream, tc.shards)
			src := newSource(t, srv, stream, nil)

			const total = 600
			recs := records("m", total, 10)
			produced := make(chan error, 1)
			go func() {
				defer close(produced)
				for i, chunk := 0, 20; i < total; i += chunk {
					if i == total/3 {
						if err := tc.reshard(ctx, stream); err != nil {
							produced <- err
							return
						}
					}
					putAll(t, c, stream, recs[i:i+chunk])
					time.Sleep(5 * time.Millisecond)
				}
			}()

			// A miniature runner: list splits, open a split once its parents have ended, read all open splits.
			readers := map[string]pipeline.SplitReader[string]{}
			ended := map[string]bool{}
			parents := map[string][]string{}
			perKey := map[string][]string{}
			seen := map[string]int{}
			lim := pipeline.Limits{MaxRecords: 50, MaxWait: 20 * time.Millisecond}
			deadline := time.Now().Add(30 * time.Second)
			for n := 0; n < total; {
				require.True(t, time.Now().Before(deadline), "read %d of %d records", n, total)
				splits, err := src.Splits(ctx)
				require.NoError(t, err)
				for _, sp := range splits {
					parents[sp.ID] = sp.Parents
					if readers[sp.ID] != nil || ended[sp.ID] {
						continue
					}
					ready := true
					for _, p := range sp.Parents {
						ready = ready && ended[p]
					}
					if ready {
						readers[sp.ID] = open(t, src, sp.ID, nil)
					}
				}
				for id, r := range readers {
					var b pipeline.Batch[string]
					b.Reset()
					err := r.ReadBatch(ctx, &b, lim)
					for _, v := range b.Values {
						seen[v]++
						n++
						var i int
						fmt.Sscanf(v, "m%d", &i)
						perKey[recs[i].key] = append(perKey[recs[i].key], v)
					}
					if errors.Is(err, pipeline.ErrEndOfInput) {
						ended[id] = true
						delete(readers, id)
						continue
					}
					require.NoError(t, err)
				}
			}
			require.NoError(t, <-produced)

			require.Equal(t, tc.wantParents, parents)
			for _, id := range tc.wantEnded {
				require.True(t, ended[id], "parent shard %s read to its end", id)
			}
			require.Len(t, seen, total)
			for v, k := range seen {
				require.Equal(t, 1, k, "record %s read %d times", v, k)
			}
			for key, got := range perKey {
				var want []string
				for _, r := range recs {
					if r.key == key {
						want = append(want, r.data)
					}
				}
				require.Equal(t, want, got, "order of key %s", key)
			}
		})
	}
}

// TestExpiredIterator makes kinesalite expire the reader's iterator (its clock jumps 5 minutes) and checks that
// the reader gets a new one after the last record it received: nothing lost or repeated, with a warning.
func TestExpiredIterator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		lim  pipeline.Limits
	}{
		{"between responses", pipeline.Limits{MaxRecords: 1000, MaxWait: time.Second}},
		{"with received records not yet returned", pipeline.Limits{MaxRecords: 1000, MaxBytes: 1, MaxWait: time.Second}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := kinesistest.Start(t) // own server: the clock is per server
			c := srv.Client()
			stream := fmt.Sprintf("expire-%d", i)
			srv.CreateStream(t, stream, 1)
			recs := records("e", 20, 2)
			putAll(t, c, stream, recs[:10])
			var l logs
			r := open(t, newSource(t, srv, stream, func(c *kinesisio.ReadConfig[string]) { c.Logger = l.logger() }), shard0, nil)
			got, _ := readN(t, r, tc.lim, 3, 5*time.Second)

			srv.AdvanceClock(t, 301*time.Second)
			putAll(t, c, stream, recs[10:])
			rest, _ := readN(t, r, tc.lim, 20-len(got), 10*time.Second)
			require.Equal(t, datas(recs), append(got, rest...))
			expectIdle(t, r, 300*time.Millisecond)
			require.Contains(t, l.String(), `level=WARN msg="kinesis shard iterator expired; getting a new one"`)
			require.Contains(t, l.String(), "error=\"ExpiredIteratorException: Iterator expired.")
		})
	}

	t.Run("iterator older than IteratorMaxAge is replaced before use", func(t *testing.T) {
		t.Parallel()
		srv := kinesistest.Start(t)
		c := srv.Client()
		srv.CreateStream(t, "maxage", 1)
		recs := records("x", 12, 3)
		putAll(t, c, "maxage", recs)
		r := open(t, newSource(t, srv, "maxage", func(c *kinesisio.ReadConfig[string]) {
			c.IteratorMaxAge = time.Nanosecond
			c.PollInterval = 10 * time.Millisecond
			c.MaxRecordsPerCall = 4
		}), shard0, nil)
		before := srv.Stats(t)
		got, _ := readN(t, r, pipeline.Limits{MaxRecords: 4, MaxWait: time.Second}, 12, 5*time.Second)
		require.Equal(t, datas(recs), got)
		st := srv.Stats(t)
		calls := st.GetRecordsCalls - before.GetRecordsCalls
		require.Equal(t, 3, calls, "three batches of 4")
		require.Equal(t, calls, st.GetShardIteratorCalls-before.GetShardIteratorCalls, "a new iterator for every call")
	})
}

// TestThrottling gives kinesalite Kinesis's GetRecords limit: a reader polling too fast is throttled, backs off
// with warnings and still reads everything once; with the default pacing it is never throttled.
func TestThrottling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		perSecond     int
		poll          time.Duration
		wantThrottled bool
	}{
		{"default pacing stays under 5 calls/s", 5, 0, false},
		{"polling every 10ms against 2 calls/s", 2, 10 * time.Millisecond, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := kinesistest.Start(t)
			c := srv.Client()
			stream := fmt.Sprintf("throttle-%d", i)
			srv.CreateStream(t, stream, 1)
			srv.SetLimits(t, kinesistest.Limits{GetRecordsPerSecond: tc.perSecond})
			recs := records("t", 16, 4)
			putAll(t, c, stream, recs)
			var l logs
			r := open(t, newSource(t, srv, stream, func(c *kinesisio.ReadConfig[string]) {
				c.PollInterval = tc.poll
				c.MaxRecordsPerCall = 4 // four calls for 16 records
				c.Logger = l.logger()
			}), shard0, nil)
			got, _ := readN(t, r, pipeline.Limits{MaxRecords: 4, MaxWait: 200 * time.Millisecond}, 16, 20*time.Second)
			require.Equal(t, datas(recs), got)
			throttled := srv.Stats(t).ThrottledGetRecords
			if tc.wantThrottled {
				require.Positive(t, throttled)
				require.Contains(t, l.String(), `level=WARN msg="kinesis read throttled; backing off" source=kinesis://`+stream+` shard=shardId-000000000000 op=GetRecords`)
				require.Contains(t, l.String(), `error="ProvisionedThroughputExceededException: Rate exceeded for shard shardId-000000000000 in stream `+stream+` under account 000000000000."`)
			} else {
				require.Zero(t, throttled)
				require.NotContains(t, l.String(), "WARN")
			}
		})
	}
}

// TestMaxWait checks that an idle shard's ReadBatch returns after MaxWait, polling at the configured pace.
func TestMaxWait(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	srv.CreateStream(t, "idle", 1)
	r := open(t, newSource(t, srv, "idle", nil), shard0, nil)
	var b pipeline.Batch[string]
	before := srv.Stats(t)
	start := time.Now()
	require.NoError(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10, MaxWait: time.Second}))
	elapsed := time.Since(start)
	require.Zero(t, b.Len())
	require.GreaterOrEqual(t, elapsed, time.Second)
	require.Less(t, elapsed, 1500*time.Millisecond)
	calls := srv.Stats(t).GetRecordsCalls - before.GetRecordsCalls
	require.GreaterOrEqual(t, calls, 4)
	require.LessOrEqual(t, calls, 6, "200ms pacing: at most 6 calls in 1s")
}

// TestDeadLetters checks that undecodable records become RecordErrors with their shard and sequence number, in
// order with the good ones, and that the position moves past them.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	c := srv.Client()
	srv.CreateStream(t, "dlq", 1)
	type event struct {
		ID int `json:"id"`
	}
	seqs := putAll(t, c, "dlq", []kv{{"a", `{"id":1}`}, {"a", `{"id":`}, {"a", `{"id":3}`}, {"a", `not json`}})
	src, err := kinesisio.NewSource(kinesisio.ReadConfig[event]{Stream: "dlq", Connection: kinesisio.Connection{Endpoint: srv.Endpoint}})
	require.NoError(t, err)
	r := open(t, src, shard0, nil)
	vals, fails := readN(t, r, quick(pipeline.Limits{}), 4, 5*time.Second)
	require.Equal(t, []event{{1}, {3}}, vals)
	require.Len(t, fails, 2)
	require.Equal(t, "kinesis://dlq shard shardId-000000000000 sequence "+seqs[1]+": decode JSON into kinesisio_test.event: unexpected end of JSON input", fails[0].Error())
	require.Equal(t, "kinesis://dlq shard shardId-000000000000 sequence "+seqs[3]+": decode JSON into kinesisio_test.event: invalid character 'o' in literal null (expecting 'u')", fails[1].Error())
	require.Equal(t, []byte(`not json`), fails[1].Raw)
	require.Equal(t, "kinesis://dlq", fails[1].Source)
	var se *json.SyntaxError
	require.ErrorAs(t, fails[1], &se)

	// Resuming at the position does not repeat the bad record.
	r2 := open(t, src, shard0, r.Position())
	expectIdle(t, r2, 300*time.Millisecond)

	// A user decoder sees the whole record.
	raw, err := kinesisio.NewSource(kinesisio.ReadConfig[string]{
		Stream: "kinesis://dlq?endpoint=" + srv.Endpoint,
		Decoder: func(r kinesisio.Record) (string, error) {
			if strings.HasPrefix(string(r.Data), "not") {
				return "", errors.New("rejected by user decoder")
			}
			return r.PartitionKey + "/" + r.SequenceNumber[len(r.SequenceNumber)-4:] + "/" + string(r.Data), nil
		},
	})
	require.NoError(t, err)
	vals2, fails2 := readN(t, open(t, raw, shard0, nil), quick(pipeline.Limits{}), 4, 5*time.Second)
	require.Equal(t, []string{"a/" + seqs[0][len(seqs[0])-4:] + `/{"id":1}`, "a/" + seqs[1][len(seqs[1])-4:] + `/{"id":`, "a/" + seqs[2][len(seqs[2])-4:] + `/{"id":3}`}, vals2)
	require.Len(t, fails2, 1)
	require.Equal(t, "kinesis://dlq shard shardId-000000000000 sequence "+seqs[3]+": rejected by user decoder", fails2[0].Error())
}

// TestEventTime checks the default event time (arrival) and a user extractor.
func TestEventTime(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	c := srv.Client()
	srv.CreateStream(t, "times", 1)
	type event struct {
		At int64 `json:"at"`
	}
	from := time.Now().Add(-time.Second)
	putAll(t, c, "times", []kv{{"a", `{"at":1474482600000}`}, {"a", `{"at":0}`}})
	to := time.Now().Add(time.Second)

	arrival := open(t, newSource(t, srv, "times", nil), shard0, nil)
	var b pipeline.Batch[string]
	require.NoError(t, arrival.ReadBatch(context.Background(), &b, quick(pipeline.Limits{})))
	require.Len(t, b.Times, 2)
	for _, tm := range b.Times {
		require.True(t, tm >= pipeline.TimeOf(from) && tm <= pipeline.TimeOf(to), "arrival time %v", tm)
	}

	src, err := kinesisio.NewSource(kinesisio.ReadConfig[event]{
		Stream: "times", Connection: kinesisio.Connection{Endpoint: srv.Endpoint},
		EventTime: func(_ kinesisio.Record, e event) time.Time {
			if e.At == 0 {
				return time.Time{}
			}
			return time.UnixMilli(e.At)
		},
	})
	require.NoError(t, err)
	var eb pipeline.Batch[event]
	require.NoError(t, open(t, src, shard0, nil).ReadBatch(context.Background(), &eb, quick(pipeline.Limits{})))
	require.Equal(t, []pipeline.Time{1474482600000, pipeline.MinTime}, eb.Times)
}

// TestMissingStream checks the errors of listing, reading and writing a stream that does not exist.
func TestMissingStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := kinesistest.Start(t)
	src := newSource(t, srv, "missing", nil)

	_, err := src.Splits(ctx)
	require.EqualError(t, err, `kinesis stream "missing" not found (ListShards): ResourceNotFoundException: Stream missing under account 000000000000 not found.`)
	require.ErrorIs(t, err, kinesisio.ErrNotFound)

	r := open(t, src, shard0, nil)
	var b pipeline.Batch[string]
	err = r.ReadBatch(ctx, &b, quick(pipeline.Limits{}))
	// kinesalite words a missing stream like a missing shard here.
	require.EqualError(t, err, `kinesis stream "missing" shard shardId-000000000000 not found (GetShardIterator): ResourceNotFoundException: Shard shardId-000000000000 in stream missing under account 000000000000 does not exist`)
	require.ErrorIs(t, err, kinesisio.ErrNotFound)

	sink, err := kinesisio.NewSink(kinesisio.WriteConfig[string]{
		Stream: "missing", Connection: kinesisio.Connection{Endpoint: srv.Endpoint},
		Encoder: func(s string) (string, []byte, error) { return s, []byte(s), nil },
	})
	require.NoError(t, err)
	w, err := sink.Open(ctx, pipeline.Shard{Count: 1})
	require.NoError(t, err)
	require.NoError(t, w.Write(ctx, []pipeline.Element[string]{{Value: "x"}}))
	_, err = w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.EqualError(t, err, `kinesis stream "missing" not found (PutRecords): ResourceNotFoundException: Stream missing under account 000000000000 not found.`)
	require.ErrorIs(t, err, kinesisio.ErrNotFound)
}

// TestUnreachable checks that a reader of an endpoint nobody listens on retries with warnings and fails after
// Retry.Timeout with an error naming the stream, shard and call.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	var l logs
	src, err := kinesisio.NewSource(kinesisio.ReadConfig[string]{
		Stream:     "gone",
		Connection: kinesisio.Connection{Endpoint: "http://127.0.0.1:1"},
		Retry:      kinesisio.Retry{Timeout: 300 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		Logger:     l.logger(),
	})
	require.NoError(t, err)
	r := open(t, src, shard0, nil)
	var b pipeline.Batch[string]
	var rerr error
	for start := time.Now(); rerr == nil && time.Since(start) < 5*time.Second; {
		rerr = r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10, MaxWait: 100 * time.Millisecond})
	}
	require.ErrorContains(t, rerr, `kinesis stream "gone" shard shardId-000000000000: GetShardIterator: still failing after `)
	require.ErrorContains(t, rerr, "connect: connection refused")
	require.Contains(t, l.String(), `level=WARN msg="kinesis read failed; retrying" source=kinesis://gone shard=shardId-000000000000 op=GetShardIterator`)
}

// TestBatchLimits checks that batches honour MaxRecords and MaxBytes, served from one GetRecords call.
func TestBatchLimits(t *testing.T) {
	t.Parallel()
	srv := kinesistest.Start(t)
	c := srv.Client()
	tests := []struct {
		name      string
		lim       pipeline.Limits
		wantSizes []int
	}{
		{"MaxRecords", pipeline.Limits{MaxRecords: 7}, []int{7, 7, 7, 7, 2}},
		// records are 10 bytes ("rec-000000"); a batch stops once it holds MaxBytes or more.
		{"MaxBytes", pipeline.Limits{MaxRecords: 100, MaxBytes: 25}, []int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := fmt.Sprintf("limits-%d", i)
			srv.CreateStream(t, stream, 1)
			recs := make([]kv, 30)
			for j := range recs {
				recs[j] = kv{key: "k", data: fmt.Sprintf("rec-%06d", j)}
			}
			putAll(t, c, stream, recs)
			r := open(t, newSource(t, srv, stream, nil), shard0, nil)
			before := srv.Stats(t)
			var sizes []int
			var got []string
			var b pipeline.Batch[string]
			for len(got) < len(recs) {
				b.Reset()
				lim := tc.lim
				lim.MaxWait = time.Second
				require.NoError(t, r.ReadBatch(context.Background(), &b, lim))
				sizes = append(sizes, b.Len())
				got = append(got, b.Values...)
				require.Equal(t, int64(10*b.Len()), b.Bytes)
			}
			require.Equal(t, tc.wantSizes, sizes)
			require.Equal(t, datas(recs), got)
			require.Equal(t, 1, srv.Stats(t).GetRecordsCalls-before.GetRecordsCalls)
		})
	}
}

// TestUnreachableCalls checks the retries of listing shards and writing against an endpoint nobody listens on.
func TestUnreachableCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	retry := kinesisio.Retry{Timeout: 300 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	conn := kinesisio.Connection{Endpoint: "http://127.0.0.1:1"}

	var l logs
	src, err := kinesisio.NewSource(kinesisio.ReadConfig[string]{Stream: "gone", Connection: conn, Retry: retry, Logger: l.logger()})
	require.NoError(t, err)
	_, err = src.Splits(ctx)
	require.ErrorContains(t, err, `kinesis stream "gone": ListShards: still failing after `)
	require.ErrorContains(t, err, "connect: connection refused")
	require.Contains(t, l.String(), `level=WARN msg="kinesis call failed; retrying" source=kinesis://gone op=ListShards`)

	var wl logs
	sink, err := kinesisio.NewSink(kinesisio.WriteConfig[string]{
		Stream: "gone", Connection: conn, Retry: retry, Logger: wl.logger(),
		Encoder: func(s string) (string, []byte, error) { return s, []byte(s), nil },
	})
	require.NoError(t, err)
	w, err := sink.Open(ctx, pipeline.Shard{Count: 1})
	require.NoError(t, err)
	require.NoError(t, w.Write(ctx, []pipeline.Element[string]{{Value: "a"}, {Value: "b"}}))
	_, err = w.Prepare(ctx, pipeline.Epoch{ID: 1})
	require.ErrorContains(t, err, `kinesis stream "gone": PutRecords of 2 records: still failing after `)
	require.Contains(t, wl.String(), `level=WARN msg="kinesis call failed; retrying" sink=kinesis://gone op=PutRecords`)
}
