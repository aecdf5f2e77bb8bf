package kafkaio_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/pipeline"
)

// restartWithoutData stops c and starts a broker on the same port with none of its data; seed lists the topics
// the new broker creates (as `kafkabroker -topics` does), with 1 partition each.
func restartWithoutData(t *testing.T, c *kafkatest.Cluster, seed ...string) *kafkatest.Cluster {
	t.Helper()
	_, portStr, err := net.SplitHostPort(c.Addr())
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	c.Close()
	opts := []kafkatest.Option{kafkatest.Kfake(kfake.Ports(port))}
	for _, s := range seed {
		opts = append(opts, kafkatest.Topic(s, 1))
	}
	var c2 *kafkatest.Cluster
	require.Eventually(t, func() bool { // the port may take a moment to be free again
		c2, err = kafkatest.New(opts...)
		return err == nil
	}, 5*time.Second, 50*time.Millisecond, "restart: %v", err)
	t.Cleanup(c2.Close)
	require.Equal(t, c.Addr(), c2.Addr())
	return c2
}

// readUntil reads r until it returns an error or records, for at most limit; it returns the records, how long it
// took and the error.
func readUntil(t *testing.T, r pipeline.SplitReader[string], limit time.Duration) ([]string, time.Duration, error) {
	t.Helper()
	start := time.Now()
	var b pipeline.Batch[string]
	for time.Since(start) < limit {
		b.Reset()
		err := r.ReadBatch(ctxT(t), &b, pipeline.Limits{MaxRecords: 100, MaxWait: 100 * time.Millisecond})
		if err != nil || b.Len() > 0 {
			return b.Values, time.Since(start), err
		}
	}
	return nil, time.Since(start), nil
}

// A broker that restarts without its data while a job reads: the topic comes back empty (seeded by the broker,
// as `kafkabroker -topics` does) with a new topic ID, and new records land at offsets the reader is past. The
// reader says so, naming topic and partition, within seconds — not silence until a drain on idleness ends the
// job with everything unread, nor kgo's `topic "w1" does not exist` after ~10 s.
func TestBrokerLostItsTopicWhileReading(t *testing.T) {
	for _, seed := range []bool{true, false} {
		name := "recreated"
		if !seed {
			name = "gone"
		}
		t.Run(name, func(t *testing.T) {
			c, err := kafkatest.New(kafkatest.Topic("w1", 1))
			require.NoError(t, err)
			for i := range 10 {
				c.Produce(t, "w1", rec(0, "old", int64(i)))
			}
			src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "w1", Timeout: 5 * time.Second, Logger: quiet})
			r, err := src.Open(ctxT(t), pipeline.Split{ID: "0"}, nil)
			require.NoError(t, err)
			defer r.Close()
			require.Len(t, drainReader(t, r, 10, pipeline.Limits{}).values, 10)

			var topics []string
			if seed {
				topics = []string{"w1"}
			}
			c2 := restartWithoutData(t, c, topics...)
			if seed {
				for i := range 5 {
					c2.Produce(t, "w1", rec(0, "new", int64(i)))
				}
			}
			vals, took, err := readUntil(t, r, 20*time.Second)
			require.Empty(t, vals, "nothing of the new topic is read at the old topic's offsets")
			require.ErrorIs(t, err, kafkaio.ErrTopicLost)
			want := `kafka://` + c.Addr() + `/w1: partition 0 offset 10: topic "w1" `
			if seed {
				require.Regexp(t, `^`+want+`was created again \(topic ID [A-Za-z0-9_-]{22}, now [A-Za-z0-9_-]{22}\): the position belongs to the old topic \(a broker restarted without its data`, err.Error())
			} else {
				require.ErrorIs(t, err, kafkaio.ErrUnknownTopic)
				require.Contains(t, err.Error(), want+"no longer exists (a broker restarted without its data, or the topic was deleted); restart the job without its checkpoint")
			}
			require.Less(t, took, 8*time.Second, "noticed by the idle check, not after kgo's ~10 s")
		})
	}
}

// A job restored from a checkpoint whose positions belong to a topic the broker lost: refused at Open, naming
// the topic and partition — whether the new topic has fewer records than the position, as many (a drain on
// idleness would have finished with all of them unread), or more (its first records would have been skipped).
func TestRestoredPositionOnALostTopic(t *testing.T) {
	c, err := kafkatest.New(kafkatest.Topic("w1", 1))
	require.NoError(t, err)
	for i := range 10 {
		c.Produce(t, "w1", rec(0, "old", int64(i)))
	}
	src := newSource(t, kafkaio.ReadConfig[string]{Brokers: c.Brokers, Topic: "w1", Logger: quiet})
	pos := drain(t, src, "0", nil, 10, pipeline.Limits{}).pos // what a checkpoint holds
	c2 := restartWithoutData(t, c, "w1")
	prefix := `kafka://` + c.Addr() + `/w1: partition 0 offset 10: topic "w1" `
	for _, n := range []int{5, 10, 15} {
		for len(c2.ReadAll(t, "w1")) < n {
			c2.Produce(t, "w1", rec(0, "new", 1))
		}
		src2 := newSource(t, kafkaio.ReadConfig[string]{Brokers: c2.Brokers, Topic: "w1", Logger: quiet})
		_, err := src2.Open(ctxT(t), pipeline.Split{ID: "0"}, pos)
		require.ErrorIs(t, err, kafkaio.ErrTopicLost, "%d records in the new topic", n)
		require.Regexp(t, `^`+prefix+`was created again \(topic ID `, err.Error())
	}

	// A position without a topic ID (written by an older kafkaio, or by a tool) past the end of the partition.
	src3 := newSource(t, kafkaio.ReadConfig[string]{Brokers: c2.Brokers, Topic: "w1", Logger: quiet})
	_, err = src3.Open(ctxT(t), pipeline.Split{ID: "0"}, kafkaio.EncodePosition(40))
	require.ErrorIs(t, err, kafkaio.ErrTopicLost)
	require.Contains(t, err.Error(), `kafka://`+c.Addr()+`/w1: partition 0 offset 40: topic "w1" lost records: partition 0 ends at offset 15, before the position 40 (a broker restarted without its data`)

	// The topic is gone altogether.
	require.NoError(t, c2.Fake().DeleteTopic("w1"))
	_, err = src3.Open(ctxT(t), pipeline.Split{ID: "0"}, pos)
	require.ErrorIs(t, err, kafkaio.ErrTopicLost)
	require.ErrorIs(t, err, kafkaio.ErrUnknownTopic)
	require.Contains(t, err.Error(), prefix+"no longer exists")
}
