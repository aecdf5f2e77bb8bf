package kinesisio

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// EndpointEnv is the environment variable that sets the Kinesis endpoint when neither the config nor the stream
// URL does, e.g. KAPPA_KINESIS_ENDPOINT=http://127.0.0.1:4567 for kinesalite.
const EndpointEnv = "KAPPA_KINESIS_ENDPOINT"

// Kinesis API limits.
const (
	// MaxGetRecords is the most records one GetRecords call returns.
	MaxGetRecords = 10000
	// MaxPutRecords is the most records one PutRecords call accepts.
	MaxPutRecords = 500
	// MaxPutRecordsBytes is the most bytes (data and partition keys) one PutRecords call accepts.
	MaxPutRecordsBytes = 5 << 20
	// MaxRecordBytes is the most bytes (data and partition key) of one record.
	MaxRecordBytes = 1 << 20
)

// Defaults of the config fields.
const (
	DefaultPollInterval   = 200 * time.Millisecond
	DefaultIteratorMaxAge = 4 * time.Minute
	DefaultRetryTimeout   = 2 * time.Minute
	DefaultCallTimeout    = 30 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
)

// Start is where a reader starts in a shard it has no position for.
type Start int

const (
	// TrimHorizon starts at the oldest record the shard retains. It is the default.
	TrimHorizon Start = iota
	// Latest starts at the records that arrive after the source first contacts the stream. It is resolved once
	// per Source to the stream's clock at that moment (second resolution, so records that arrived up to a second
	// earlier may be included) and applied as AtTimestamp to every shard read without a position, so that child
	// shards created later by resharding are read from their first record.
	Latest
	// AtTimestamp starts at the first record that arrived at or after StartTime.
	AtTimestamp
)

// String returns the Kinesis name of the start: TRIM_HORIZON, LATEST or AT_TIMESTAMP.
func (s Start) String() string {
	switch s {
	case TrimHorizon:
		return "TRIM_HORIZON"
	case Latest:
		return "LATEST"
	case AtTimestamp:
		return "AT_TIMESTAMP"
	}
	return fmt.Sprintf("Start(%d)", int(s))
}

// Record is a Kinesis record as decoders and timestamp extractors see it. Data is owned by the record: a decoder
// may keep it.
type Record struct {
	// ShardID is the shard the record was read from, e.g. "shardId-000000000003".
	ShardID string
	// SequenceNumber is the record's sequence number in its shard.
	SequenceNumber string
	// PartitionKey is the key the producer gave.
	PartitionKey string
	// Data is the record's payload.
	Data []byte
	// ArrivalTime is Kinesis's ApproximateArrivalTimestamp.
	ArrivalTime time.Time
}

// Connection says how to reach Kinesis. The zero value uses the AWS SDK's default configuration (environment,
// shared config files, instance roles), or $KAPPA_KINESIS_ENDPOINT when that is set.
type Connection struct {
	// Endpoint overrides the Kinesis endpoint, e.g. "http://127.0.0.1:4567" for kinesalite. Default: the endpoint
	// parameter of a kinesis:// stream URL, else $KAPPA_KINESIS_ENDPOINT, else the AWS endpoint of the region.
	// For a loopback endpoint (127.0.0.0/8, ::1, localhost) without AWSConfig, static dummy credentials and region
	// us-east-1 are used, so emulators work without any AWS setup.
	Endpoint string
	// Region is the AWS region. Default: the region parameter of a kinesis:// URL, else the SDK's default
	// ($AWS_REGION, shared config), else us-east-1 for a loopback endpoint.
	Region string
	// AWSConfig, when set, replaces the SDK's default configuration (credentials, HTTP client, …); Endpoint and
	// Region still override it. kappa retries calls itself, so the SDK's retryer is turned off in any case.
	AWSConfig *aws.Config
	// Client, when set, is used as it is and the fields above are ignored. It should not retry on its own.
	Client *kinesis.Client
}

// Retry configures how failed calls are retried: with exponential backoff between MinBackoff and MaxBackoff
// (with jitter), logging a warning for each retry.
type Retry struct {
	// Timeout is how long a call may keep failing with transient errors (network errors, 5xx, partial PutRecords
	// failures that make no progress) before the read or write fails. Throttling is retried for as long as it
	// lasts. Default DefaultRetryTimeout (2m).
	Timeout time.Duration
	// CallTimeout bounds one API call. Default DefaultCallTimeout (30s).
	CallTimeout time.Duration
	// MinBackoff is the first backoff. Default DefaultMinBackoff (100ms).
	MinBackoff time.Duration
	// MaxBackoff caps the backoff. Default DefaultMaxBackoff (5s).
	MaxBackoff time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Timeout == 0 {
		r.Timeout = DefaultRetryTimeout
	}
	if r.CallTimeout == 0 {
		r.CallTimeout = DefaultCallTimeout
	}
	if r.MinBackoff == 0 {
		r.MinBackoff = DefaultMinBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.MaxBackoff < r.MinBackoff {
		r.MaxBackoff = r.MinBackoff
	}
	return r
}

func (r Retry) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Retry.Timeout", r.Timeout}, {"Retry.CallTimeout", r.CallTimeout}, {"Retry.MinBackoff", r.MinBackoff}, {"Retry.MaxBackoff", r.MaxBackoff}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%v)", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// ReadConfig configures a Kinesis source of elements of type T. Only Stream is required.
type ReadConfig[T any] struct {
	// Stream is the stream name, or a kinesis://name URL with optional endpoint and region parameters (see
	// ParseURL). Required.
	Stream string
	// Connection says how to reach Kinesis.
	Connection
	// Start is where to start in a shard that has no checkpointed position. Default TrimHorizon.
	Start Start
	// StartTime is the time for Start AtTimestamp; required with it, ignored otherwise.
	StartTime time.Time
	// Decoder turns a record into a T. A decoder error sends the record, with its shard and sequence number, to
	// the dead-letter output (or stops the pipeline without one). Default: Raw for []byte, the record itself for
	// Record, the data as text for string, JSON[T] for any other T.
	Decoder func(Record) (T, error)
	// EventTime returns an element's event time. Default: the record's ArrivalTime. A zero time gives the
	// element no event time (pipeline.MinTime).
	EventTime func(Record, T) time.Time
	// PollInterval is the least time between two GetRecords calls on one shard. Kinesis allows 5 calls per second
	// per shard, shared by all consumers of the stream: with n consumers use at least n × 200ms. Default
	// DefaultPollInterval (200ms).
	PollInterval time.Duration
	// MaxRecordsPerCall is the Limit of each GetRecords call (at most MaxGetRecords). A call is not sized to the
	// runner's batch: the records beyond it wait in the reader for the next batches, so a shard with a backlog is
	// read at up to 5 × MaxRecordsPerCall records per second; it also bounds that buffer (Kinesis returns at most
	// 10 MiB per call). Default MaxGetRecords.
	MaxRecordsPerCall int
	// IteratorMaxAge is how old a shard iterator may get before the reader asks for a new one at its position
	// instead of using it. Kinesis expires iterators after 5 minutes; a reader that is not polled for longer
	// (a paused pipeline) would otherwise meet ExpiredIteratorException, which it also recovers from. Default
	// DefaultIteratorMaxAge (4m).
	IteratorMaxAge time.Duration
	// Retry configures retries of failed calls.
	Retry Retry
	// Logger receives warnings (throttling, retries, expired iterators) and debug messages. Default
	// slog.Default().
	Logger *slog.Logger
}

// Validate checks the config without contacting Kinesis.
func (c ReadConfig[T]) Validate() error {
	var errs []error
	if _, err := parseStream(c.Stream); err != nil {
		errs = append(errs, err)
	}
	switch c.Start {
	case TrimHorizon, Latest:
	case AtTimestamp:
		if c.StartTime.IsZero() {
			errs = append(errs, errors.New("Start AT_TIMESTAMP needs a StartTime"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown Start %d", int(c.Start)))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("PollInterval is negative (%v)", c.PollInterval))
	}
	if c.IteratorMaxAge < 0 {
		errs = append(errs, fmt.Errorf("IteratorMaxAge is negative (%v)", c.IteratorMaxAge))
	}
	if c.MaxRecordsPerCall < 0 || c.MaxRecordsPerCall > MaxGetRecords {
		errs = append(errs, fmt.Errorf("MaxRecordsPerCall %d is outside [0, %d]", c.MaxRecordsPerCall, MaxGetRecords))
	}
	if err := c.Retry.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kinesisio: invalid ReadConfig: %w", err)
	}
	return nil
}

// WriteConfig configures a Kinesis sink of elements of type T. Stream and Encoder are required.
type WriteConfig[T any] struct {
	// Stream is the stream name, or a kinesis://name URL (see ParseURL). Required.
	Stream string
	// Connection says how to reach Kinesis.
	Connection
	// Encoder returns an element's partition key (1 to 256 characters) and data. Required; JSONEncoder builds
	// one. An encoder error stops the pipeline with the error.
	Encoder func(T) (partitionKey string, data []byte, err error)
	// MaxBatchRecords is the most records per PutRecords call (at most MaxPutRecords). Default MaxPutRecords.
	MaxBatchRecords int
	// MaxBatchBytes is the most bytes of data and partition keys per PutRecords call (at most
	// MaxPutRecordsBytes). Default MaxPutRecordsBytes.
	MaxBatchBytes int
	// Retry configures retries of failed calls and of the failed entries of partially failed PutRecords.
	Retry Retry
	// Logger receives warnings (throttling, partial failures, retries). Default slog.Default().
	Logger *slog.Logger
}

// Validate checks the config without contacting Kinesis.
func (c WriteConfig[T]) Validate() error {
	var errs []error
	if _, err := parseStream(c.Stream); err != nil {
		errs = append(errs, err)
	}
	if c.Encoder == nil {
		errs = append(errs, errors.New("Encoder is required"))
	}
	if c.MaxBatchRecords < 0 || c.MaxBatchRecords > MaxPutRecords {
		errs = append(errs, fmt.Errorf("MaxBatchRecords %d is outside [0, %d]", c.MaxBatchRecords, MaxPutRecords))
	}
	if c.MaxBatchBytes < 0 || c.MaxBatchBytes > MaxPutRecordsBytes {
		errs = append(errs, fmt.Errorf("MaxBatchBytes %d is outside [0, %d]", c.MaxBatchBytes, MaxPutRecordsBytes))
	}
	if err := c.Retry.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kinesisio: invalid WriteConfig: %w", err)
	}
	return nil
}

// URL is a parsed kinesis:// stream URL.
type URL struct {
	// Stream is the stream name.
	Stream string
	// Endpoint is the endpoint parameter, or "".
	Endpoint string
	// Region is the region parameter, or "".
	Region string
}

// String formats the URL as kinesis://stream[?endpoint=…&region=…].
func (u URL) String() string {
	q := url.Values{}
	if u.Endpoint != "" {
		q.Set("endpoint", u.Endpoint)
	}
	if u.Region != "" {
		q.Set("region", u.Region)
	}
	s := "kinesis://" + u.Stream
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

var streamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// ParseURL parses a stream URL: kinesis://NAME, optionally with the query parameters endpoint (e.g.
// endpoint=http://127.0.0.1:4567) and region. A plain stream name is accepted too. Without an endpoint
// parameter, sources and sinks use $KAPPA_KINESIS_ENDPOINT or the AWS default.
func ParseURL(raw string) (URL, error) {
	name, query := raw, ""
	if rest, ok := strings.CutPrefix(raw, "kinesis://"); ok {
		name, query, _ = strings.Cut(rest, "?")
		name = strings.TrimSuffix(name, "/")
	} else if strings.Contains(raw, "://") {
		return URL{}, fmt.Errorf("kinesisio: stream URL %q: scheme is not kinesis://", raw)
	}
	if !streamName.MatchString(name) {
		return URL{}, fmt.Errorf("kinesisio: stream URL %q: stream name %q is not 1 to 128 of [a-zA-Z0-9_.-]", raw, name)
	}
	u := URL{Stream: name}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return URL{}, fmt.Errorf("kinesisio: stream URL %q: %w", raw, err)
		}
		for k := range q {
			switch k {
			case "endpoint", "region":
			default:
				return URL{}, fmt.Errorf("kinesisio: stream URL %q: unknown parameter %q (want endpoint, region)", raw, k)
			}
		}
		u.Endpoint, u.Region = q.Get("endpoint"), q.Get("region")
		if u.Endpoint != "" {
			e, err := url.Parse(u.Endpoint)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return URL{}, fmt.Errorf("kinesisio: stream URL %q: endpoint %q is not an http(s) URL", raw, u.Endpoint)
			}
		}
	}
	return u, nil
}

func parseStream(s string) (URL, error) {
	if s == "" {
		return URL{}, errors.New("Stream is required")
	}
	return ParseURL(s)
}
