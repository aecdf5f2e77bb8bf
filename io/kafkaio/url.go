package kafkaio

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseURL splits a kafka:// URL into brokers, topic and query parameters:
//
//	kafka://host:port[,host:port...]/topic[?param=value&...]
//
// ReadConfigFromURL and WriteConfigFromURL interpret the parameters.
func ParseURL(raw string) (brokers []string, topic string, query url.Values, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", nil, fmt.Errorf("kafkaio: parse URL %q: %w", raw, err)
	}
	if u.Scheme != "kafka" {
		return nil, "", nil, fmt.Errorf("kafkaio: URL %q: scheme must be kafka", raw)
	}
	for b := range strings.SplitSeq(u.Host, ",") {
		if b == "" {
			continue
		}
		if !strings.Contains(b, ":") {
			b += ":9092"
		}
		brokers = append(brokers, b)
	}
	if len(brokers) == 0 {
		return nil, "", nil, fmt.Errorf("kafkaio: URL %q: no broker", raw)
	}
	topic = strings.TrimPrefix(u.Path, "/")
	if topic == "" || strings.Contains(topic, "/") {
		return nil, "", nil, fmt.Errorf("kafkaio: URL %q: want exactly one topic in the path", raw)
	}
	return brokers, topic, u.Query(), nil
}

// ReadConfigFromURL returns the ReadConfig of a URL such as kafka://127.0.0.1:9092/w1. Parameters:
//
//	group=NAME                       consumer-group mode (ReadConfig.Group)
//	start=earliest|latest|TIME       ReadConfig.Start; TIME is RFC 3339 or Unix milliseconds
//	partitions=0,1,2                 ReadConfig.Partitions
//	bounded=true                     ReadConfig.Bounded
//
// Decode and the other fields keep their defaults; set them on the result.
func ReadConfigFromURL[T any](raw string) (ReadConfig[T], error) {
	brokers, topic, q, err := ParseURL(raw)
	if err != nil {
		return ReadConfig[T]{}, err
	}
	c := ReadConfig[T]{Brokers: brokers, Topic: topic, Group: q.Get("group")}
	for k := range q {
		switch k {
		case "group", "start", "partitions", "bounded":
		default:
			return c, fmt.Errorf("kafkaio: URL %q: unknown read parameter %q", raw, k)
		}
	}
	if s := q.Get("start"); s != "" {
		switch s {
		case "earliest":
			c.Start = Earliest()
		case "latest":
			c.Start = Latest()
		default:
			t, err := parseTime(s)
			if err != nil {
				return c, fmt.Errorf("kafkaio: URL %q: start: %w", raw, err)
			}
			c.Start = AtTime(t)
		}
	}
	if s := q.Get("partitions"); s != "" {
		for f := range strings.SplitSeq(s, ",") {
			p, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				return c, fmt.Errorf("kafkaio: URL %q: partitions: %w", raw, err)
			}
			c.Partitions = append(c.Partitions, int32(p))
		}
	}
	if s := q.Get("bounded"); s != "" {
		if c.Bounded, err = strconv.ParseBool(s); err != nil {
			return c, fmt.Errorf("kafkaio: URL %q: bounded: %w", raw, err)
		}
	}
	return c, c.Validate()
}

// WriteConfigFromURL returns the WriteConfig of a URL such as kafka://127.0.0.1:9092/w1. Parameters:
//
//	compression=none|gzip|snappy|lz4|zstd   WriteConfig.Compression
//	partitioning=hash|roundrobin|manual     WriteConfig.Partitioning
//	transactional_id=PREFIX                 exactly-once mode (WriteConfig.ExactlyOnce, TransactionalID)
//
// Encode and the other fields keep their defaults; set them on the result.
func WriteConfigFromURL[T any](raw string) (WriteConfig[T], error) {
	brokers, topic, q, err := ParseURL(raw)
	if err != nil {
		return WriteConfig[T]{}, err
	}
	c := WriteConfig[T]{Brokers: brokers, Topic: topic, Compression: Compression(q.Get("compression"))}
	for k := range q {
		switch k {
		case "compression", "partitioning", "transactional_id":
		default:
			return c, fmt.Errorf("kafkaio: URL %q: unknown write parameter %q", raw, k)
		}
	}
	switch q.Get("partitioning") {
	case "", "hash":
	case "roundrobin":
		c.Partitioning = RoundRobin
	case "manual":
		c.Partitioning = Manual
	default:
		return c, fmt.Errorf("kafkaio: URL %q: unknown partitioning %q (want hash, roundrobin or manual)", raw, q.Get("partitioning"))
	}
	if id := q.Get("transactional_id"); id != "" {
		c.ExactlyOnce, c.TransactionalID = true, id
	}
	return c, c.Validate()
}

func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither earliest, latest, RFC 3339 nor Unix milliseconds", s)
	}
	return t, nil
}
