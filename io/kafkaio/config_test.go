package kafkaio_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

func TestReadConfigValidate(t *testing.T) {
	ok := kafkaio.ReadConfig[string]{Brokers: []string{"127.0.0.1:9092"}, Topic: "t"}
	tests := []struct {
		name string
		edit func(*kafkaio.ReadConfig[string])
		want string
	}{
		{"minimal", func(*kafkaio.ReadConfig[string]) {}, ""},
		{"no brokers", func(c *kafkaio.ReadConfig[string]) { c.Brokers = nil }, "kafkaio: no brokers configured"},
		{"bad broker", func(c *kafkaio.ReadConfig[string]) { c.Brokers = []string{"kafka://x:1"} }, `kafkaio: invalid broker address "kafka://x:1" (want host:port)`},
		{"no topic", func(c *kafkaio.ReadConfig[string]) { c.Topic = "" }, "kafkaio: ReadConfig.Topic is empty"},
		{"group and partitions", func(c *kafkaio.ReadConfig[string]) { c.Group, c.Partitions = "g", []int32{1} },
			"kafkaio: ReadConfig.Partitions and ReadConfig.Group are exclusive (the group assigns partitions)"},
		{"group and bounded", func(c *kafkaio.ReadConfig[string]) { c.Group, c.Bounded = "g", true },
			"kafkaio: ReadConfig.Bounded is not supported in consumer-group mode"},
		{"duplicate partition", func(c *kafkaio.ReadConfig[string]) { c.Partitions = []int32{1, 1} },
			"kafkaio: ReadConfig.Partitions: partition 1 listed twice"},
		{"negative partition", func(c *kafkaio.ReadConfig[string]) { c.Partitions = []int32{-1} },
			"kafkaio: ReadConfig.Partitions: negative partition -1"},
		{"negative timeout", func(c *kafkaio.ReadConfig[string]) { c.Timeout = -time.Second },
			"kafkaio: ReadConfig.Timeout must not be negative"},
		{"two errors", func(c *kafkaio.ReadConfig[string]) { c.Brokers, c.Topic = nil, "" },
			"kafkaio: no brokers configured\nkafkaio: ReadConfig.Topic is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.want)
			_, err = kafkaio.NewSource(c)
			require.EqualError(t, err, tt.want)
			p := pipeline.New()
			require.False(t, kafkaio.Read(p.Root().Scope("in"), c).Valid())
			require.EqualError(t, p.Err(), "in: "+tt.want)
		})
	}
}

func TestWriteConfigValidate(t *testing.T) {
	ok := kafkaio.WriteConfig[string]{Brokers: []string{"127.0.0.1:9092"}, Topic: "t"}
	tests := []struct {
		name string
		edit func(*kafkaio.WriteConfig[string])
		want string
	}{
		{"minimal", func(*kafkaio.WriteConfig[string]) {}, ""},
		{"exactly once", func(c *kafkaio.WriteConfig[string]) { c.ExactlyOnce, c.TransactionalID = true, "job" }, ""},
		{"codec", func(c *kafkaio.WriteConfig[string]) { c.Compression = "ZSTD" }, ""},
		{"no topic", func(c *kafkaio.WriteConfig[string]) { c.Topic = "" }, "kafkaio: WriteConfig.Topic is empty"},
		{"unknown codec", func(c *kafkaio.WriteConfig[string]) { c.Compression = "brotli" },
			`kafkaio: unknown compression "brotli" (want none, gzip, snappy, lz4 or zstd)`},
		{"unknown partitioning", func(c *kafkaio.WriteConfig[string]) { c.Partitioning = 9 },
			"kafkaio: WriteConfig.Partitioning: unknown value 9"},
		{"exactly once without id", func(c *kafkaio.WriteConfig[string]) { c.ExactlyOnce = true },
			"kafkaio: WriteConfig.TransactionalID is required with ExactlyOnce"},
		{"id without exactly once", func(c *kafkaio.WriteConfig[string]) { c.TransactionalID = "job" },
			"kafkaio: WriteConfig.TransactionalID is set but ExactlyOnce is false"},
		{"negative linger", func(c *kafkaio.WriteConfig[string]) { c.Linger = -1 },
			"kafkaio: WriteConfig: sizes and durations must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.want)
			p := pipeline.New()
			kafkaio.Write(p.Root(), pipeline.PCollection[string]{}, c)
			require.EqualError(t, p.Err(), tt.want)
		})
	}
}

func TestURLs(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		tests := []struct {
			url  string
			want kafkaio.ReadConfig[string]
			err  string
		}{
			{url: "kafka://127.0.0.1:9092/w1", want: kafkaio.ReadConfig[string]{Brokers: []string{"127.0.0.1:9092"}, Topic: "w1"}},
			{url: "kafka://a:1,b:2/w1?group=g&start=latest", want: kafkaio.ReadConfig[string]{Brokers: []string{"a:1", "b:2"}, Topic: "w1", Group: "g", Start: kafkaio.Latest()}},
			{url: "kafka://kafka/w1?start=1474482600000&partitions=2,0&bounded=true", want: kafkaio.ReadConfig[string]{Brokers: []string{"kafka:9092"}, Topic: "w1",
				Start: kafkaio.AtTime(time.UnixMilli(1474482600000)), Partitions: []int32{2, 0}, Bounded: true}},
			{url: "kafka://h:1/w1?start=2016-09-21T18:30:00Z", want: kafkaio.ReadConfig[string]{Brokers: []string{"h:1"}, Topic: "w1",
				Start: kafkaio.AtTime(time.Date(2016, 9, 21, 18, 30, 0, 0, time.UTC))}},
			{url: "s3://b/k", err: `kafkaio: URL "s3://b/k": scheme must be kafka`},
			{url: "kafka:///w1", err: `kafkaio: URL "kafka:///w1": no broker`},
			{url: "kafka://h:1/", err: `kafkaio: URL "kafka://h:1/": want exactly one topic in the path`},
			{url: "kafka://h:1/a/b", err: `kafkaio: URL "kafka://h:1/a/b": want exactly one topic in the path`},
			{url: "kafka://h:1/t?start=yesterday", err: `kafkaio: URL "kafka://h:1/t?start=yesterday": start: "yesterday" is neither earliest, latest, RFC 3339 nor Unix milliseconds`},
			{url: "kafka://h:1/t?compression=gzip", err: `kafkaio: URL "kafka://h:1/t?compression=gzip": unknown read parameter "compression"`},
			{url: "kafka://h:1/t?group=g&bounded=true", err: "kafkaio: ReadConfig.Bounded is not supported in consumer-group mode"},
		}
		for _, tt := range tests {
			got, err := kafkaio.ReadConfigFromURL[string](tt.url)
			if tt.err != "" {
				require.EqualError(t, err, tt.err, tt.url)
				continue
			}
			require.NoError(t, err, tt.url)
			require.Equal(t, tt.want.Brokers, got.Brokers)
			require.Equal(t, tt.want.Topic, got.Topic)
			require.Equal(t, tt.want.Group, got.Group)
			require.Equal(t, tt.want.Start.String(), got.Start.String())
			require.Equal(t, tt.want.Partitions, got.Partitions)
			require.Equal(t, tt.want.Bounded, got.Bounded)
		}
	})
	t.Run("write", func(t *testing.T) {
		got, err := kafkaio.WriteConfigFromURL[string]("kafka://127.0.0.1:9092/out?compression=lz4&partitioning=roundrobin&transactional_id=job")
		require.NoError(t, err)
		require.Equal(t, kafkaio.WriteConfig[string]{Brokers: []string{"127.0.0.1:9092"}, Topic: "out", Compression: kafkaio.LZ4,
			Partitioning: kafkaio.RoundRobin, ExactlyOnce: true, TransactionalID: "job"}, got)
		_, err = kafkaio.WriteConfigFromURL[string]("kafka://h:1/t?partitioning=random")
		require.EqualError(t, err, `kafkaio: URL "kafka://h:1/t?partitioning=random": unknown partitioning "random" (want hash, roundrobin or manual)`)
		_, err = kafkaio.WriteConfigFromURL[string]("kafka://h:1/t?group=g")
		require.EqualError(t, err, `kafkaio: URL "kafka://h:1/t?group=g": unknown write parameter "group"`)
	})
}
