package kafkaio_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

func TestSourceReadsEachPartitionInOffsetOrder(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("events", 3))
	want := map[string][]string{}
	var recs []kafkatest.Record
	for i := range 60 {
		p := int32(i % 3)
		v := fmt.Sprintf("v%02d", i)
		recs = append(recs, rec(p, v, 1_000_000+int64(i)))
		want[fmt.Sprint(p)] = append(want[fmt.Sprint(p)], v)
	}
	c.Produce(t, "events", recs...)
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "events"})
	require.Equal(t, "kafka://"+c.Addr()+"/events", src.Name())
	require.False(t, src.Bounded())
	require.Equal(t, []string{"0", "1", "2"}, splitIDs(t, src))
	for _, split := range []string{"0", "1", "2"} {
		got := drain(t, src, split, nil, 20, pipeline.Limits{MaxRecords: 7})
		require.Equal(t, want[split], got.values, "partition %s", split)
		require.Len(t, got.times, 20)
		for i, v := range got.values {
			var n int64
			_, err := fmt.Sscanf(v, "v%d", &n)
			require.NoError(t, err)
			require.Equal(t, pipeline.Time(1_000_000+n), got.times[i], "event time of %s is the record timestamp", v)
		}
		require.Equal(t, int64(20*(3+5)), got.bytes, "bytes = key + value per record")
		require.Equal(t, int64(20), offsetOf(t, got.pos), "position = next offset")
	}
}

func TestSourceDecodersAndEventTime(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	c.Produce(t, "t", kafkatest.Record{Key: []byte("key"), Value: []byte(`{"n":7,"at":5000}`), Time: time.UnixMilli(42),
		Headers: []kafkatest.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2", Value: nil}}})
	type ev struct {
		N  int   `json:"n"`
		At int64 `json:"at"`
	}
	t.Run("json default", func(t *testing.T) {
		got := drain(t, newSource(t, kafkaio.ReadConfig[ev]{Brokers: c.Brokers, Topic: "t"}), "0", nil, 1, pipeline.Limits{})
		require.Equal(t, []ev{{N: 7, At: 5000}}, got.values)
		require.Equal(t, []pipeline.Time{42}, got.times)
	})
	t.Run("bytes default", func(t *testing.T) {
		got := drain(t, newSource(t, kafkaio.ReadConfig[[]byte]{Brokers: c.Brokers, Topic: "t"}), "0", nil, 1, pipeline.Limits{})
		require.Equal(t, []string{`{"n":7,"at":5000}`}, strs(got.values))
	})
	t.Run("message default", func(t *testing.T) {
		got := drain(t, newSource(t, kafkaio.ReadConfig[kafkaio.Message]{Brokers: c.Brokers, Topic: "t"}), "0", nil, 1, pipeline.Limits{})
		require.Equal(t, []kafkaio.Message{{Topic: "t", Partition: 0, Offset: 0, Key: []byte("key"), Value: []byte(`{"n":7,"at":5000}`),
			Headers: []kafkaio.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2"}}, Time: time.UnixMilli(42)}}, got.values)
	})
	t.Run("user decoder and event time", func(t *testing.T) {
		cfg := kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t",
			Decode: func(m kafkaio.Message) (string, error) {
				return fmt.Sprintf("%s/%s/%d/%d/%d", m.Key, m.Headers[0].Value, m.Partition, m.Offset, m.Time.UnixMilli()), nil
			},
			EventTime: func(m kafkaio.Message, v string) time.Time { return m.Time.Add(time.Second) },
		}
		got := drain(t, newSource(t, cfg), "0", nil, 1, pipeline.Limits{})
		require.Equal(t, []string{"key/x/0/0/42"}, got.values)
		require.Equal(t, []pipeline.Time{1042}, got.times)
	})
}

func TestSourceRestartsExactlyAtPosition(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	var all []string
	var recs []kafkatest.Record
	for i := range 50 {
		all = append(all, fmt.Sprintf("r%d", i))
		recs = append(recs, rec(0, all[i], int64(i)))
	}
	c.Produce(t, "t", recs...)
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t"})
	for _, first := range []int{0, 1, 17, 49, 50} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			head := drain(t, src, "0", nil, first, pipeline.Limits{MaxRecords: max(first, 1)})
			require.Equal(t, all[:first], append([]string{}, head.values...))
			require.Equal(t, int64(first), offsetOf(t, head.pos))
			tail := drain(t, src, "0", head.pos, 50-first, pipeline.Limits{MaxRecords: 1000})
			require.Equal(t, all[first:], append([]string{}, tail.values...))
			require.Equal(t, int64(50), offsetOf(t, tail.pos))
		})
	}
}

func TestSourceStartOffsets(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	c.Produce(t, "t", rec(0, "a", 1000), rec(0, "b", 2000), rec(0, "c", 3000))
	tests := []struct {
		name      string
		start     kafkaio.StartOffset
		wantPos   int64 // position right after Open
		wantFirst []string
	}{
		{"earliest", kafkaio.Earliest(), 0, []string{"a", "b", "c", "d"}},
		{"zero value is earliest", kafkaio.StartOffset{}, 0, []string{"a", "b", "c", "d"}},
		{"latest", kafkaio.Latest(), 3, []string{"d"}},
		{"time between records", kafkaio.AtTime(time.UnixMilli(1500)), 1, []string{"b", "c", "d"}},
		{"time of a record", kafkaio.AtTime(time.UnixMilli(3000)), 2, []string{"c", "d"}},
		{"time after every record", kafkaio.AtTime(time.UnixMilli(9999)), 3, []string{"d"}},
	}
	opened := map[string]pipeline.SplitReader[string]{}
	for _, tt := range tests {
		src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Start: tt.start})
		r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		require.Equal(t, tt.wantPos, offsetOf(t, r.Position()), tt.name)
		opened[tt.name] = r
	}
	c.Produce(t, "t", rec(0, "d", 500)) // after every split resolved its start
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := drainReader(t, opened[tt.name], len(tt.wantFirst), pipeline.Limits{})
			require.Equal(t, tt.wantFirst, got.values)
		})
	}
	require.Equal(t, "time:1970-01-01T00:00:01.5Z", kafkaio.AtTime(time.UnixMilli(1500)).String())
}

func TestSourcePicksUpNewPartitions(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t"})
	require.Equal(t, []string{"0"}, splitIDs(t, src))
	c.AddPartitions(t, "t", 3)
	require.Equal(t, []string{"0", "1", "2"}, splitIDs(t, src))
	c.Produce(t, "t", rec(2, "new", 1))
	require.Equal(t, []string{"new"}, drain(t, src, "2", nil, 1, pipeline.Limits{}).values)

	only := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Partitions: []int32{2, 0}})
	require.Equal(t, []string{"0", "2"}, splitIDs(t, only))
	missing := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Partitions: []int32{5}})
	_, err := missing.Splits(ctxT(t))
	require.EqualError(t, err, "kafka://"+c.Addr()+"/t: partition 5 does not exist (the topic has 3 partitions)")
}

func TestSourceLatestReadsEveryRecordWrittenAfterStart(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	c.Produce(t, "t", rec(0, "before start", 1))
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Start: kafkaio.Latest(), Logger: quiet})
	require.Equal(t, []string{"0"}, splitIDs(t, src)) // the source starts
	c.Produce(t, "t", rec(0, "after start", 2))
	c.AddPartitions(t, "t", 2)
	c.Produce(t, "t", rec(1, "in a new partition", 3))
	require.Equal(t, []string{"0", "1"}, splitIDs(t, src))
	require.Equal(t, []string{"after start"}, drain(t, src, "0", nil, 1, pipeline.Limits{}).values,
		"an existing partition starts at its end as of the first Splits, not as of Open")
	require.Equal(t, []string{"in a new partition"}, drain(t, src, "1", nil, 1, pipeline.Limits{}).values,
		"a partition created after the start is read from its beginning")
}

func TestSourceHonoursLimits(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 1))
	var recs []kafkatest.Record
	for i := range 100 {
		recs = append(recs, kafkatest.Record{Value: []byte(fmt.Sprintf("%010d", i))}) // 10 bytes, no key
	}
	c.Produce(t, "t", recs...)
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t"})
	r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
	require.NoError(t, err)
	defer r.Close()
	ctx := ctxT(t)
	var b pipeline.Batch[string]
	// Wait for the prefetch so that the limits, not the fetch, decide the batch sizes.
	require.Eventually(t, func() bool {
		b.Reset()
		require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1, MaxWait: 50 * time.Millisecond}))
		return b.Len() == 1
	}, 10*time.Second, time.Millisecond)
	b.Reset()
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 5, MaxWait: time.Second}))
	require.Equal(t, 5, b.Len(), "MaxRecords")
	b.Reset()
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxBytes: 25, MaxWait: time.Second}))
	require.Equal(t, 3, b.Len(), "MaxBytes: stops once 25 bytes are reached (3 records of 10)")
	require.Equal(t, int64(30), b.Bytes)
	got := drainReader(t, r, 91, pipeline.Limits{MaxRecords: 1000})
	require.Len(t, got.values, 91)
	require.Equal(t, int64(100), offsetOf(t, got.pos))

	// No data: the batch is empty and returns after about MaxWait, not longer.
	for _, wait := range []time.Duration{0, 200 * time.Millisecond} {
		b.Reset()
		start := time.Now()
		require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 10, MaxWait: wait}))
		took := time.Since(start)
		require.Equal(t, 0, b.Len())
		require.GreaterOrEqual(t, took, wait)
		require.Less(t, took, wait+500*time.Millisecond, "MaxWait %s", wait)
	}
}

func TestBoundedSourceEndsAtTheEndOffsetsOfOpen(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("t", 2))
	c.Produce(t, "t", rec(0, "a", 1), rec(0, "b", 2))
	txn := c.Txn(t, "producer")
	txn.Begin(t)
	txn.Produce(t, "t", rec(0, "c", 3))
	txn.End(t, true) // the last offset below the end is a commit marker
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "t", Bounded: true})
	require.True(t, src.Bounded())
	r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
	require.NoError(t, err)
	c.Produce(t, "t", rec(0, "after open", 4))
	got := drainReader(t, r, 100, pipeline.Limits{MaxRecords: 2})
	require.NoError(t, r.Close())
	require.True(t, got.ended)
	require.Equal(t, []string{"a", "b", "c"}, got.values)
	require.Equal(t, int64(4), offsetOf(t, got.pos), "the end offset, past the commit marker")

	empty := drain(t, src, "1", nil, 100, pipeline.Limits{})
	require.True(t, empty.ended)
	require.Empty(t, empty.values)
}

func TestPositionEncoding(t *testing.T) {
	for _, off := range []int64{0, 1, 127, 128, 1 << 40} {
		pos := kafkaio.EncodePosition(off)
		require.LessOrEqual(t, len(pos), 7)
		got, err := kafkaio.DecodePosition(pos)
		require.NoError(t, err)
		require.Equal(t, off, got)
	}
	require.Equal(t, []byte{1, 0x80, 0x01}, kafkaio.EncodePosition(128))
	for _, tt := range []struct {
		pos  []byte
		want string
	}{
		{nil, "kafkaio: invalid position : not written by this version of kafkaio"},
		{[]byte{3, 0}, "kafkaio: invalid position 0300: not written by this version of kafkaio"},
		{[]byte{2, 0}, "kafkaio: invalid position 0200: bad topic ID"},
		{[]byte{1, 0x80}, "kafkaio: invalid position 0180: bad offset"},
		{[]byte{1, 0, 0}, "kafkaio: invalid position 010000: bad offset"},
	} {
		_, err := kafkaio.DecodePosition(tt.pos)
		require.EqualError(t, err, tt.want)
	}
}
