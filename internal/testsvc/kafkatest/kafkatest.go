// Package kafkatest runs a Kafka-protocol cluster (franz-go's kfake) in-process on 127.0.0.1 for tests: a real
// wire-protocol peer for any Kafka client, started in milliseconds and dropped with the test. It also has helpers
// to create topics, produce (plain and transactional) and read back what a topic holds, for assertions.
//
//	c := kafkatest.Start(t, kafkatest.Topic("events", 4)) // stopped by t.Cleanup
//	c.Produce(t, "events", kafkatest.Record{Partition: 1, Key: []byte("k"), Value: []byte("v")})
//	got := c.ReadAll(t, "events") // committed records of every partition, by partition then offset
//	url := c.URL("events")        // "kafka://127.0.0.1:PORT/events"
//
// The kfake cluster does not create topics on use (like a broker with auto.create.topics.enable=false) unless
// the AutoCreateTopics option is given.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is a running kfake cluster.
type Cluster struct {
	// Brokers are the listen addresses, "127.0.0.1:PORT".
	Brokers []string

	fake *kfake.Cluster
	cl   *kgo.Client // produces with manual partitioning; admin requests
}

// Option configures Start.
type Option func(*options)

type options struct {
	brokers int
	kfake   []kfake.Opt
	topics  []topic
}

type topic struct {
	name  string
	parts int32
}

// Brokers sets the number of brokers (default 1).
func Brokers(n int) Option { return func(o *options) { o.brokers = n } }

// Topic creates a topic with the given number of partitions at start.
func Topic(name string, partitions int32) Option {
	return func(o *options) { o.topics = append(o.topics, topic{name, partitions}) }
}

// AutoCreateTopics lets the cluster create topics on first use.
func AutoCreateTopics() Option {
	return func(o *options) { o.kfake = append(o.kfake, kfake.AllowAutoTopicCreation()) }
}

// Kfake passes options to kfake.NewCluster (e.g. kfake.DataDir for a cluster that survives a restart).
func Kfake(opts ...kfake.Opt) Option { return func(o *options) { o.kfake = append(o.kfake, opts...) } }

// Start starts a cluster on free 127.0.0.1 ports and closes it when the test ends.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// New starts a cluster; the caller closes it.
func New(opts ...Option) (*Cluster, error) {
	o := options{brokers: 1}
	for _, opt := range opts {
		opt(&o)
	}
	ports := make([]int, o.brokers)
	kopts := append([]kfake.Opt{kfake.Ports(ports...)}, o.kfake...)
	for _, tp := range o.topics {
		kopts = append(kopts, kfake.SeedTopics(tp.parts, tp.name))
	}
	fake, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	c := &Cluster{Brokers: fake.ListenAddrs(), fake: fake}
	c.cl, err = kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.DisableClientMetrics())
	if err != nil {
		fake.Close()
		return nil, fmt.Errorf("kafkatest client: %w", err)
	}
	return c, nil
}

// Close stops the cluster.
func (c *Cluster) Close() {
	c.cl.Close()
	c.fake.Close()
}

// Addr is the first broker's address.
func (c *Cluster) Addr() string { return c.Brokers[0] }

// URL returns "kafka://BROKERS/topic".
func (c *Cluster) URL(topic string) string {
	return "kafka://" + strings.Join(c.Brokers, ",") + "/" + topic
}

// Fake returns the kfake cluster, for fault injection and administration.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// CreateTopic creates a topic.
func (c *Cluster) CreateTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	if err := c.fake.CreateTopic(name, partitions, nil); err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", name, err)
	}
}

// AddPartitions grows a topic to total partitions.
func (c *Cluster) AddPartitions(t testing.TB, name string, total int32) {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, total
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(context.Background(), c.cl)
	if err != nil {
		t.Fatalf("kafkatest: add partitions to %s: %v", name, err)
	}
	for _, r := range resp.Topics {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			t.Fatalf("kafkatest: add partitions to %s: %v", name, err)
		}
	}
	c.cl.ForceMetadataRefresh() // Produce retries records for partitions the client does not know yet
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record to produce or one read back.
type Record struct {
	// Partition is where Produce writes the record (manual partitioning; default 0).
	Partition int32
	// Offset is set by Produce and the read functions.
	Offset  int64
	Key     []byte
	Value   []byte
	Headers []Header
	// Time is the record timestamp; zero means the produce time.
	Time time.Time
	// Control marks transaction markers (only ReadLog returns them).
	Control bool
	// Transactional marks records written in a transaction (ReadLog).
	Transactional bool
}

func toKgo(topic string, r Record) *kgo.Record {
	kr := &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Time}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr
}

func fromKgo(kr *kgo.Record) Record {
	r := Record{Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Time: kr.Timestamp,
		Control: kr.Attrs.IsControl(), Transactional: kr.Attrs.IsTransactional()}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return r
}

// Produce writes records synchronously (acks=all) and returns them with their offsets.
func (c *Cluster) Produce(t testing.TB, topic string, recs ...Record) []Record {
	t.Helper()
	return produce(t, c.cl, topic, recs)
}

func produce(t testing.TB, cl *kgo.Client, topic string, recs []Record) []Record {
	t.Helper()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = toKgo(topic, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	todo := krs
	for try := 0; ; try++ {
		var failed []*kgo.Record
		var ferr error
		for _, res := range cl.ProduceSync(ctx, todo...) {
			if res.Err == nil {
				continue
			}
			ferr = res.Err
			// Partitions just added may not be writable for the client yet: retry those records.
			if strings.Contains(res.Err.Error(), "invalid record partitioning choice") && try < 100 {
				failed = append(failed, res.Record)
				continue
			}
			t.Fatalf("kafkatest: produce to %s: %v", topic, res.Err)
		}
		if len(failed) == 0 {
			break
		}
		if ferr != nil {
			cl.ForceMetadataRefresh()
			time.Sleep(20 * time.Millisecond)
		}
		todo = failed
	}
	out := slices.Clone(recs)
	for i, kr := range krs {
		out[i].Offset = kr.Offset
	}
	return out
}

// Txn is a transactional producer.
type Txn struct {
	cl *kgo.Client
	id string
}

// Txn returns a transactional producer with the given transactional ID; it is closed when the test ends.
func (c *Cluster) Txn(t testing.TB, id string) *Txn {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(id), kgo.ProducerLinger(0), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatalf("kafkatest: transactional producer %s: %v", id, err)
	}
	t.Cleanup(cl.Close)
	return &Txn{cl: cl, id: id}
}

// Begin begins a transaction.
func (x *Txn) Begin(t testing.TB) {
	t.Helper()
	if err := x.cl.BeginTransaction(); err != nil {
		t.Fatalf("kafkatest: begin transaction %s: %v", x.id, err)
	}
}

// Produce writes records in the open transaction, waiting for their acknowledgement.
func (x *Txn) Produce(t testing.TB, topic string, recs ...Record) []Record {
	t.Helper()
	return produce(t, x.cl, topic, recs)
}

// End commits or aborts the open transaction.
func (x *Txn) End(t testing.TB, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("kafkatest: end transaction %s (commit %v): %v", x.id, commit, err)
	}
}

// EndOffsets returns each partition's end: the last stable offset when committed is true (read_committed), the
// high watermark otherwise.
func (c *Cluster) EndOffsets(t testing.TB, topic string, committed bool) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	ctx := context.Background()
	meta, err := req.RequestWith(ctx, c.cl)
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].ErrorCode != 0 {
		t.Fatalf("kafkatest: metadata of %s: %v (%+v)", topic, err, meta)
	}
	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.ReplicaID = -1
	if committed {
		lreq.IsolationLevel = 1
	}
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range meta.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = p.Partition, -1, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lreq.Topics = append(lreq.Topics, lt)
	resp, err := lreq.RequestWith(ctx, c.cl)
	if err != nil {
		t.Fatalf("kafkatest: list offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("kafkatest: list offsets of %s partition %d: %v", topic, rp.Partition, err)
			}
			out[rp.Partition] = rp.Offset
		}
	}
	return out
}

// ReadAll returns the committed records of every partition (read_committed: no aborted record, no transaction
// marker), up to the last stable offsets at the call, ordered by partition then offset.
func (c *Cluster) ReadAll(t testing.TB, topic string) []Record {
	t.Helper()
	var out []Record
	for _, r := range c.read(t, topic, true) {
		if !r.Control {
			out = append(out, r)
		}
	}
	return out
}

// ReadLog returns everything physically in the log up to the high watermarks: aborted records and transaction
// markers (Control) included, ordered by partition then offset.
func (c *Cluster) ReadLog(t testing.TB, topic string) []Record {
	t.Helper()
	return c.read(t, topic, false)
}

func (c *Cluster) read(t testing.TB, topic string, committed bool) []Record {
	t.Helper()
	ends := c.EndOffsets(t, topic, committed)
	offsets := map[int32]kgo.Offset{}
	left := 0
	for p, end := range ends {
		if end > 0 {
			offsets[p] = kgo.NewOffset().AtStart()
			left++
		}
	}
	if left == 0 {
		return nil
	}
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords(), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatalf("kafkatest: consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Record
	done := map[int32]bool{}
	for len(done) < left {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kafkatest: read %s: %v (read %d records; ends %v)", topic, err, len(out), ends)
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("partition %d: %w", p, err)) })
		if ferr != nil {
			t.Fatalf("kafkatest: read %s: %v", topic, ferr)
		}
		fs.EachRecord(func(kr *kgo.Record) {
			if kr.Offset >= ends[kr.Partition] {
				return
			}
			out = append(out, fromKgo(kr))
			if kr.Offset == ends[kr.Partition]-1 {
				done[kr.Partition] = true
			}
		})
	}
	slices.SortStableFunc(out, func(a, b Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

// GroupOffsets returns a consumer group's committed offsets for a topic.
func (c *Cluster) GroupOffsets(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	resp, err := req.RequestWith(context.Background(), c.cl)
	if err != nil {
		t.Fatalf("kafkatest: offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return out
	} else if err != nil {
		t.Fatalf("kafkatest: offsets of group %s: %v", group, err)
	}
	collect := func(tp string, p int32, off int64) {
		if tp == topic && off >= 0 {
			out[p] = off
		}
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			collect(rt.Topic, rp.Partition, rp.Offset)
		}
	}
	for _, g := range resp.Groups {
		for _, rt := range g.Topics {
			for _, rp := range rt.Partitions {
				collect(rt.Topic, rp.Partition, rp.Offset)
			}
		}
	}
	return out
}
