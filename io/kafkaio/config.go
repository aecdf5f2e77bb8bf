package kafkaio

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of the config fields, as documented on each field.
const (
	DefaultTimeout            = 30 * time.Second
	DefaultFetchMaxBytes      = 32 << 20
	DefaultPartitionMaxBytes  = 4 << 20
	DefaultBatchMaxBytes      = 1 << 20
	DefaultMaxBufferedRecords = 100_000
	DefaultTransactionTimeout = 5 * time.Minute
	DefaultMaxPendingTxns     = 8
)

// StartOffset says where a split starts when the runner has no checkpointed position for it (and, in
// consumer-group mode, the group has no committed offset). The zero value is Earliest.
type StartOffset struct {
	kind int8 // 0 earliest, 1 latest, 2 time
	at   time.Time
}

// Earliest starts at the first record still in the partition.
func Earliest() StartOffset { return StartOffset{} }

// Latest reads only records written after the source started: the partitions listed by the source's first
// Splits call start at their end as of that call; partitions created later start at their beginning (all their
// records are new). A split opened without Splits having been called starts at its end as of Open.
func Latest() StartOffset { return StartOffset{kind: 1} }

// AtTime starts at the first record whose timestamp is at or after t (Kafka's offsets-for-times); partitions
// with no such record start at their end.
func AtTime(t time.Time) StartOffset { return StartOffset{kind: 2, at: t} }

// String returns "earliest", "latest" or "time:<RFC 3339>".
func (s StartOffset) String() string {
	switch s.kind {
	case 1:
		return "latest"
	case 2:
		return "time:" + s.at.UTC().Format(time.RFC3339Nano)
	}
	return "earliest"
}

// ReadConfig configures a Kafka source of elements of type T. The zero value of every field but Brokers and
// Topic is usable.
type ReadConfig[T any] struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topic is the topic to read. Required.
	Topic string
	// Partitions, when set, restricts an explicit-assignment source to these partitions. Default: every
	// partition, re-listed by each Splits call so that new partitions are picked up. Not allowed with Group.
	Partitions []int32
	// Group switches to consumer-group mode: the partitions this process reads are the ones the group assigns to
	// it, and Ack commits the group's offsets (only after kappa's checkpoint is durable). Kappa's checkpoint
	// still wins: a split opened with a position starts there; the group's committed offset is used only for
	// splits without one. Default "": explicit assignment, offsets owned by kappa's checkpoint only.
	//
	// Keyed state is not moved between the processes of a group, so runners/local refuses a pipeline that groups
	// or windows the data of a group source unless PerProcessResults is set; to scale a keyed or windowed job
	// beyond one machine, run it on runners/beam (Flink, Spark, Dataflow).
	Group string
	// PerProcessResults accepts, in group mode, that keyed and windowed transforms downstream compute per process
	// (over the partitions each process holds at the time), which is what a group can give: without it the local
	// runner refuses such a pipeline.
	PerProcessResults bool
	// Start is where a split without a position starts. Default Earliest.
	Start StartOffset
	// Bounded makes the source finite: each split ends (pipeline.ErrEndOfInput) at the partition's last stable
	// offset when the split is opened. Default false: the source never ends. Not allowed with Group.
	Bounded bool
	// Decode turns a record into an element. A record it fails on becomes a *pipeline.RecordError (dead letter)
	// naming its partition and offset. Default by T: DecodeBytes for []byte, DecodeString for string,
	// DecodeMessage for Message, DecodeJSON[T] otherwise.
	Decode func(Message) (T, error)
	// EventTime gives an element's event time. Default: the record timestamp.
	EventTime func(m Message, v T) time.Time
	// FetchMaxBytes bounds one fetch response. Default DefaultFetchMaxBytes (32 MiB).
	FetchMaxBytes int32
	// PartitionMaxBytes bounds the bytes one fetch returns per partition, which is also what a split prefetches.
	// Default DefaultPartitionMaxBytes (4 MiB).
	PartitionMaxBytes int32
	// Timeout bounds how long the source keeps retrying when no broker answers (listing partitions, opening a
	// split, fetching) before it returns an error naming the broker and the last failure; retries are logged as
	// warnings. Default DefaultTimeout (30 s).
	Timeout time.Duration
	// ClientID is sent to the brokers. Default "kappa".
	ClientID string
	// Logger receives warnings (retries, rebalances) and debug logs. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports what is wrong with the config.
func (c *ReadConfig[T]) Validate() error {
	var errs []error
	if err := validateBrokers(c.Brokers); err != nil {
		errs = append(errs, err)
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("kafkaio: ReadConfig.Topic is empty"))
	}
	if c.Group != "" && len(c.Partitions) > 0 {
		errs = append(errs, errors.New("kafkaio: ReadConfig.Partitions and ReadConfig.Group are exclusive (the group assigns partitions)"))
	}
	if c.Group != "" && c.Bounded {
		errs = append(errs, errors.New("kafkaio: ReadConfig.Bounded is not supported in consumer-group mode"))
	}
	seen := map[int32]bool{}
	for _, p := range c.Partitions {
		if p < 0 {
			errs = append(errs, fmt.Errorf("kafkaio: ReadConfig.Partitions: negative partition %d", p))
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("kafkaio: ReadConfig.Partitions: partition %d listed twice", p))
		}
		seen[p] = true
	}
	if c.FetchMaxBytes < 0 || c.PartitionMaxBytes < 0 {
		errs = append(errs, errors.New("kafkaio: ReadConfig.FetchMaxBytes and PartitionMaxBytes must not be negative"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("kafkaio: ReadConfig.Timeout must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *ReadConfig[T]) withDefaults() ReadConfig[T] {
	d := *c
	if d.Decode == nil {
		d.Decode = defaultDecoder[T]()
	}
	if d.FetchMaxBytes == 0 {
		d.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if d.PartitionMaxBytes == 0 {
		d.PartitionMaxBytes = DefaultPartitionMaxBytes
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.ClientID == "" {
		d.ClientID = "kappa"
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// Partitioning chooses the partition of each written record.
type Partitioning int8

const (
	// HashKey sends records with a key to murmur2(key) mod partitions, like the Java client, so one key always
	// lands in one partition; records without a key are spread in sticky batches. The default.
	HashKey Partitioning = iota
	// RoundRobin spreads records evenly, ignoring keys.
	RoundRobin
	// Manual sends each record to the Message.Partition its encoder set.
	Manual
)

// String returns "hash", "roundrobin" or "manual".
func (p Partitioning) String() string {
	switch p {
	case RoundRobin:
		return "roundrobin"
	case Manual:
		return "manual"
	}
	return "hash"
}

// Compression is a record batch compression codec: "none" (or ""), "gzip", "snappy", "lz4" or "zstd".
type Compression string

// The compression codecs.
const (
	NoCompression Compression = "none"
	Gzip          Compression = "gzip"
	Snappy        Compression = "snappy"
	LZ4           Compression = "lz4"
	Zstd          Compression = "zstd"
)

// WriteConfig configures a Kafka sink of elements of type T. The zero value of every field but Brokers and Topic
// is usable.
type WriteConfig[T any] struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topic is the topic written to, unless the encoder sets Message.Topic. Required; it must exist.
	Topic string
	// Encode turns an element into a record. Default by T: EncodeBytes for []byte, EncodeString for string,
	// EncodeMessage for Message, EncodeJSON[T] otherwise. A record whose Time is zero gets the element's event
	// time (or the produce time for elements without one).
	Encode func(T) (Message, error)
	// Partitioning chooses partitions. Default HashKey.
	Partitioning Partitioning
	// Compression compresses record batches. Default none.
	Compression Compression
	// BatchMaxBytes bounds one record batch (a partition's share of a produce request). Default
	// DefaultBatchMaxBytes (1 MiB, Kafka's default max.message.bytes).
	BatchMaxBytes int32
	// Linger is how long a partition's batch may wait to fill up before it is sent. Default 0: send as soon as
	// the previous request to the broker is answered (batches still fill up under load).
	Linger time.Duration
	// MaxBufferedRecords bounds the records produced but not yet acknowledged; Write blocks beyond it. Default
	// DefaultMaxBufferedRecords (100 000).
	MaxBufferedRecords int
	// Timeout bounds how long written records may wait without a single acknowledgement (acks=all; the
	// producer retries with backoff meanwhile, logging warnings) before Write and Prepare fail with an error
	// naming the last broker failure. It also bounds opening the writer and each transaction request. Default
	// DefaultTimeout (30 s).
	Timeout time.Duration
	// ExactlyOnce makes each writer produce an epoch's records in a Kafka transaction that Prepare flushes and
	// Commit commits, so read_committed consumers see every record exactly once (see docs/kafka.md for the
	// exact guarantee). Default false: at-least-once (Prepare waits for every acknowledgement; a replay after a
	// crash produces the epoch's records again).
	ExactlyOnce bool
	// TransactionalID is the prefix of the writers' transactional IDs, "<prefix>-<shard>-<slot>", and of their
	// marker groups, "<prefix>-<shard>". It must be stable across restarts of the job and unique among the jobs
	// writing to the cluster. Required with ExactlyOnce.
	TransactionalID string
	// TransactionTimeout is how long the broker keeps a transaction open before aborting it. It must exceed the
	// time from an epoch's first write to its Commit, downtime after a crash included. Default
	// DefaultTransactionTimeout (5 min); the broker caps it (transaction.max.timeout.ms, 15 min by default).
	TransactionTimeout time.Duration
	// MaxPendingTransactions bounds the prepared transactions a writer may hold while waiting for Commit, plus
	// the open one. Default DefaultMaxPendingTxns (8).
	MaxPendingTransactions int
	// ClientID is sent to the brokers. Default "kappa".
	ClientID string
	// Logger receives warnings (retries) and debug logs. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports what is wrong with the config.
func (c *WriteConfig[T]) Validate() error {
	var errs []error
	if err := validateBrokers(c.Brokers); err != nil {
		errs = append(errs, err)
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("kafkaio: WriteConfig.Topic is empty"))
	}
	if c.Partitioning < HashKey || c.Partitioning > Manual {
		errs = append(errs, fmt.Errorf("kafkaio: WriteConfig.Partitioning: unknown value %d", c.Partitioning))
	}
	if _, err := parseCompression(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.BatchMaxBytes < 0 || c.Linger < 0 || c.MaxBufferedRecords < 0 || c.Timeout < 0 || c.TransactionTimeout < 0 || c.MaxPendingTransactions < 0 {
		errs = append(errs, errors.New("kafkaio: WriteConfig: sizes and durations must not be negative"))
	}
	if c.ExactlyOnce && c.TransactionalID == "" {
		errs = append(errs, errors.New("kafkaio: WriteConfig.TransactionalID is required with ExactlyOnce"))
	}
	if !c.ExactlyOnce && c.TransactionalID != "" {
		errs = append(errs, errors.New("kafkaio: WriteConfig.TransactionalID is set but ExactlyOnce is false"))
	}
	return errors.Join(errs...)
}

func (c *WriteConfig[T]) withDefaults() WriteConfig[T] {
	d := *c
	if d.Encode == nil {
		d.Encode = defaultEncoder[T]()
	}
	if d.BatchMaxBytes == 0 {
		d.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if d.MaxBufferedRecords == 0 {
		d.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.TransactionTimeout == 0 {
		d.TransactionTimeout = DefaultTransactionTimeout
	}
	if d.MaxPendingTransactions == 0 {
		d.MaxPendingTransactions = DefaultMaxPendingTxns
	}
	if d.ClientID == "" {
		d.ClientID = "kappa"
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

func validateBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("kafkaio: no brokers configured")
	}
	for _, b := range brokers {
		if b == "" || strings.ContainsAny(b, "/ ") {
			return fmt.Errorf("kafkaio: invalid broker address %q (want host:port)", b)
		}
	}
	return nil
}

func parseCompression(c Compression) (Compression, error) {
	switch strings.ToLower(string(c)) {
	case "", "none":
		return NoCompression, nil
	case "gzip":
		return Gzip, nil
	case "snappy":
		return Snappy, nil
	case "lz4":
		return LZ4, nil
	case "zstd":
		return Zstd, nil
	}
	return "", fmt.Errorf("kafkaio: unknown compression %q (want none, gzip, snappy, lz4 or zstd)", string(c))
}

// sourceName formats the name of a source or sink: kafka://host:port[,host:port]/topic.
func sourceName(brokers []string, topic string) string {
	return "kafka://" + strings.Join(brokers, ",") + "/" + topic
}
