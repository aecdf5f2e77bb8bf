package handoff

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

// Split ID prefixes: an archive row group is "archive/" + its parquetio split ID, a Kafka partition "kafka/N".
const (
	archivePrefix = "archive/"
	kafkaPrefix   = "kafka/"
)

// Config configures a hand-off Source.
type Config[T any] struct {
	// Archive is the archive's parquetio read configuration (URL, S3, AllowEmpty, ...) for Record rows, as
	// written by Archive. Required: Archive.URL.
	Archive parquetio.ReadConfig[Record]
	// Kafka reads the topic after the archive; its Decode and EventTime also decode archived records. Its Start
	// applies only to partitions the archive holds nothing of. Group mode is not supported. Required.
	Kafka kafkaio.ReadConfig[T]
	// Fallback, when set, reads an archive without offsets (written by another tool) with an event-time cut
	// instead of failing. Default nil: such an archive is an error.
	Fallback *Fallback[T]
	// ArchiveLanes is how many archive row groups are read at a time: the archive splits form this many chains
	// (each split lists the one ArchiveLanes before it as its parent), so that an unbounded hand-off, whose
	// splits the runner otherwise opens all at once, does not open every row group of a large archive together.
	// Default 4.
	ArchiveLanes int
	// Logger receives the cut summary and the fallback warning. Default slog.Default().
	Logger *slog.Logger
}

// Fallback is the event-time hand-off for archives without Kafka offsets: the archive is read up to Cut (records
// at or after it are dropped), and Kafka from the first record at or after Cut-Overlap. Records in
// [Cut-Overlap, Cut) may be read twice; the hand-off is at-least-once across the seam.
type Fallback[T any] struct {
	// Archive reads the foreign archive as T; its TimeColumn or EventTime gives event times. Its To is replaced
	// by Cut. Required.
	Archive parquetio.ReadConfig[T]
	// Cut is the event time where the archive ends and Kafka takes over. Required.
	Cut time.Time
	// Overlap is how far before Cut Kafka starts, to cover records the archive's writer had not yet flushed
	// or that arrived late. Default 0.
	Overlap time.Duration
}

// Source reads an archive and then Kafka, per partition, with no gap and no duplicate (see the package
// documentation). It implements pipeline.Source[T]. Create it with NewSource.
type Source[T any] struct {
	cfg    Config[T]
	name   string
	decode func(kafkaio.Message) (T, error)
	kafka  *kafkaio.Source[T]
	arch   *parquetio.Source[Record]
	// fallback mode (archive without offsets): the archive read as T and Kafka from a timestamp.
	fbArch  *parquetio.Source[T]
	fbKafka *kafkaio.Source[T]

	mu       sync.Mutex
	listed   bool
	fallback bool
	cut      map[int32]int64    // partition → largest archived offset
	parents  map[int32][]string // partition → archive split IDs holding it
	archive  []pipeline.Split   // archive splits, prefixed
}

var _ pipeline.Source[[]byte] = (*Source[[]byte])(nil)

// NewSource validates cfg and returns the source. It contacts neither the archive nor the brokers: the first
// Splits call lists the archive and computes the cuts.
func NewSource[T any](cfg Config[T]) (*Source[T], error) {
	if cfg.Archive.URL == "" {
		return nil, errors.New("handoff: Config.Archive.URL is empty")
	}
	if cfg.Kafka.Group != "" {
		return nil, errors.New("handoff: Config.Kafka.Group is not supported (the hand-off assigns partitions itself)")
	}
	if len(cfg.Kafka.Partitions) > 0 {
		return nil, errors.New("handoff: Config.Kafka.Partitions is not supported (every partition hands off)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ArchiveLanes < 0 {
		return nil, errors.New("handoff: Config.ArchiveLanes is negative")
	}
	if cfg.ArchiveLanes == 0 {
		cfg.ArchiveLanes = 4
	}
	if cfg.Archive.Logger == nil {
		cfg.Archive.Logger = cfg.Logger
	}
	if cfg.Kafka.Logger == nil {
		cfg.Kafka.Logger = cfg.Logger
	}
	kafka, err := kafkaio.NewSource(cfg.Kafka)
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	arch, err := parquetio.NewSource(cfg.Archive)
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	s := &Source[T]{cfg: cfg, kafka: kafka, arch: arch, decode: cfg.Kafka.Decode,
		name: "handoff(" + cfg.Archive.URL + " → " + kafka.Name() + ")"}
	if s.decode == nil {
		s.decode = defaultDecoder[T]()
	}
	if fb := cfg.Fallback; fb != nil {
		if fb.Cut.IsZero() {
			return nil, errors.New("handoff: Config.Fallback.Cut is zero")
		}
		if fb.Overlap < 0 {
			return nil, errors.New("handoff: Config.Fallback.Overlap is negative")
		}
		ac := fb.Archive
		ac.To = fb.Cut
		if ac.URL == "" {
			ac.URL = cfg.Archive.URL
		}
		if ac.Logger == nil {
			ac.Logger = cfg.Logger
		}
		if s.fbArch, err = parquetio.NewSource(ac); err != nil {
			return nil, fmt.Errorf("handoff: fallback: %w", err)
		}
		kc := cfg.Kafka
		kc.Start = kafkaio.AtTime(fb.Cut.Add(-fb.Overlap))
		if s.fbKafka, err = kafkaio.NewSource(kc); err != nil {
			return nil, fmt.Errorf("handoff: fallback: %w", err)
		}
	}
	return s, nil
}

// Name is "handoff(ARCHIVE → kafka://BROKERS/TOPIC)".
func (s *Source[T]) Name() string { return s.name }

// Bounded reports Config.Kafka.Bounded: the archive always ends, the Kafka phase only if bounded.
func (s *Source[T]) Bounded() bool { return s.cfg.Kafka.Bounded }

// SetDefaultLogger passes the job's logger to the Kafka source (pipeline.DefaultLogger).
func (s *Source[T]) SetDefaultLogger(l *slog.Logger) {
	s.kafka.SetDefaultLogger(l)
	if s.fbKafka != nil {
		s.fbKafka.SetDefaultLogger(l)
	}
}

// Cuts returns, after the first Splits call, the largest archived offset per partition (nil before, and in
// fallback mode).
func (s *Source[T]) Cuts() map[int32]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut == nil {
		return nil
	}
	out := make(map[int32]int64, len(s.cut))
	for p, o := range s.cut {
		out[p] = o
	}
	return out
}

// offsetRow reads only the coordinates of archived records.
type offsetRow struct {
	Topic     string `parquet:"kafka_topic"`
	Partition int32  `parquet:"kafka_partition"`
	Offset    int64  `parquet:"kafka_offset"`
}

// list reads the archive's coordinates once and computes the cut and the parents of each partition.
func (s *Source[T]) list(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listed {
		return nil
	}
	oc := parquetio.ReadConfig[offsetRow]{URL: s.cfg.Archive.URL, S3: s.cfg.Archive.S3, AllowEmpty: s.cfg.Archive.AllowEmpty,
		ProgressInterval: -1, Logger: slog.New(slog.DiscardHandler)}
	osrc, err := parquetio.NewSource(oc)
	if err != nil {
		return fmt.Errorf("handoff: archive %s: %w", s.cfg.Archive.URL, err)
	}
	splits, err := osrc.Splits(ctx)
	if err != nil {
		if s.fbArch != nil && isSchemaError(err) {
			return s.listFallback(ctx, err)
		}
		if isSchemaError(err) {
			return fmt.Errorf("handoff: archive %s has no Kafka offsets (not written by handoff.Archive?); set Config.Fallback for an event-time hand-off: %w", s.cfg.Archive.URL, err)
		}
		return fmt.Errorf("handoff: list archive %s: %w", s.cfg.Archive.URL, err)
	}
	cut := map[int32]int64{}
	parents := map[int32][]string{}
	var b pipeline.Batch[offsetRow]
	lim := pipeline.Limits{MaxRecords: 1 << 16}
	for _, sp := range splits {
		r, err := osrc.Open(ctx, sp, nil)
		if err != nil {
			return fmt.Errorf("handoff: read offsets of %s: %w", sp.ID, err)
		}
		seen := map[int32]bool{}
		for {
			b.Reset()
			err := r.ReadBatch(ctx, &b, lim)
			if err != nil && !errors.Is(err, pipeline.ErrEndOfInput) {
				_ = r.Close()
				return fmt.Errorf("handoff: read offsets of %s: %w", sp.ID, err)
			}
			if len(b.Failures) > 0 {
				_ = r.Close()
				return fmt.Errorf("handoff: read offsets of %s: %w", sp.ID, b.Failures[0])
			}
			for _, v := range b.Values {
				if v.Topic != s.cfg.Kafka.Topic {
					_ = r.Close()
					return fmt.Errorf("handoff: archive split %s holds topic %q partition %d offset %d, want topic %q", sp.ID, v.Topic, v.Partition, v.Offset, s.cfg.Kafka.Topic)
				}
				seen[v.Partition] = true
				if c, ok := cut[v.Partition]; !ok || v.Offset > c {
					cut[v.Partition] = v.Offset
				}
			}
			if err != nil {
				break
			}
		}
		_ = r.Close()
		for p := range seen {
			parents[p] = append(parents[p], archivePrefix+sp.ID)
		}
	}
	s.archive = laned(splits, s.cfg.ArchiveLanes)
	s.cut, s.parents, s.listed = cut, parents, true
	parts := make([]string, 0, len(cut))
	for p, o := range cut {
		parts = append(parts, fmt.Sprintf("%d:%d", p, o))
	}
	slices.Sort(parts)
	s.cfg.Logger.Info("handoff: archive listed", "source", s.name, "splits", len(splits), "cut", strings.Join(parts, " "))
	return nil
}

// laned prefixes the archive's splits and chains them into lanes: split i waits for split i-lanes.
func laned(splits []pipeline.Split, lanes int) []pipeline.Split {
	out := make([]pipeline.Split, len(splits))
	for i, sp := range splits {
		out[i] = pipeline.Split{ID: archivePrefix + sp.ID, Size: sp.Size}
		if i >= lanes {
			out[i].Parents = []string{archivePrefix + splits[i-lanes].ID}
		}
	}
	return out
}

// isSchemaError reports whether listing failed because the files lack the offset columns.
func isSchemaError(err error) bool {
	var fe *parquetio.FileError
	return errors.As(err, &fe) && strings.Contains(err.Error(), "kafka_")
}

func (s *Source[T]) listFallback(ctx context.Context, cause error) error {
	fb := s.cfg.Fallback
	splits, err := s.fbArch.Splits(ctx)
	if err != nil {
		return fmt.Errorf("handoff: fallback: list archive %s: %w", s.cfg.Archive.URL, err)
	}
	s.archive = laned(splits, s.cfg.ArchiveLanes)
	s.fallback, s.listed = true, true
	s.cfg.Logger.Warn("handoff: the archive has no Kafka offsets; falling back to an event-time cut: records with event times in [cut-overlap, cut) may be read twice, records the archive lacks before cut-overlap are lost",
		"source", s.name, "cut", fb.Cut, "overlap", fb.Overlap, "why", cause)
	return nil
}

// Splits lists the archive's row groups and the topic's partitions. The archive is listed, and the cuts
// computed, by the first call only.
func (s *Source[T]) Splits(ctx context.Context) ([]pipeline.Split, error) {
	if err := s.list(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := slices.Clone(s.archive)
	fallback := s.fallback
	s.mu.Unlock()
	ks := s.kafka
	if fallback {
		ks = s.fbKafka
	}
	parts, err := ks.Splits(ctx)
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range parts {
		p, _ := strconv.Atoi(sp.ID)
		out = append(out, pipeline.Split{ID: kafkaPrefix + sp.ID, Parents: slices.Clone(s.parents[int32(p)]), Size: sp.Size})
	}
	return out, nil
}

// Open opens an archive row group or a Kafka partition.
func (s *Source[T]) Open(ctx context.Context, split pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	if err := s.list(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	fallback := s.fallback
	s.mu.Unlock()
	if id, ok := strings.CutPrefix(split.ID, archivePrefix); ok {
		inner := split
		inner.ID, inner.Parents = id, nil
		if fallback {
			r, err := s.fbArch.Open(ctx, inner, pos)
			if err != nil {
				return nil, fmt.Errorf("handoff: %w", err)
			}
			return r, nil
		}
		r, err := s.arch.Open(ctx, inner, pos)
		if err != nil {
			return nil, fmt.Errorf("handoff: %w", err)
		}
		return &archiveReader[T]{s: s, r: r}, nil
	}
	id, ok := strings.CutPrefix(split.ID, kafkaPrefix)
	if !ok {
		return nil, fmt.Errorf("handoff: %s: unknown split %q", s.name, split.ID)
	}
	inner := pipeline.Split{ID: id, Size: split.Size}
	if fallback {
		r, err := s.fbKafka.Open(ctx, inner, pos)
		if err != nil {
			return nil, fmt.Errorf("handoff: %w", err)
		}
		return r, nil
	}
	p, err := strconv.ParseInt(id, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("handoff: %s: bad split %q", s.name, split.ID)
	}
	s.mu.Lock()
	c, archived := s.cut[int32(p)]
	s.mu.Unlock()
	start := int64(-1) // -1: the Kafka read's Start
	if archived {
		start = c + 1
	}
	var innerPos []byte
	if pos != nil {
		was, rest, err := decodeKafkaPos(pos)
		if err != nil {
			return nil, fmt.Errorf("handoff: %s partition %d: %w", s.name, p, err)
		}
		if was != start {
			return nil, fmt.Errorf("handoff: %s partition %d: the checkpoint switched to Kafka at offset %d but the archive %s now hands off at offset %d (-1: not archived): the archive changed under a running hand-off (read a closed prefix of it, folders with _SUCCESS)",
				s.name, p, was, s.cfg.Archive.URL, start)
		}
		innerPos = rest
	} else if start >= 0 {
		innerPos = kafkaio.EncodePosition(start)
	}
	r, err := s.kafka.Open(ctx, inner, innerPos)
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	return &kafkaReader[T]{SplitReader: r, start: start}, nil
}

// Close closes the Kafka sources.
func (s *Source[T]) Close() error {
	err := s.kafka.Close()
	if s.fbKafka != nil {
		err = errors.Join(err, s.fbKafka.Close())
	}
	return err
}

// archiveReader decodes archived records as the Kafka read would.
type archiveReader[T any] struct {
	s   *Source[T]
	r   pipeline.SplitReader[Record]
	buf pipeline.Batch[Record]
}

func (a *archiveReader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	a.buf.Reset()
	err := a.r.ReadBatch(ctx, &a.buf, lim)
	b.Bytes += a.buf.Bytes
	b.Failures = append(b.Failures, a.buf.Failures...)
	for _, rec := range a.buf.Values {
		m := rec.Message()
		v, derr := a.s.decode(m)
		if derr != nil {
			b.Fail(&pipeline.RecordError{Source: a.s.name, Location: fmt.Sprintf("archive partition %d offset %d", m.Partition, m.Offset),
				Raw: m.Value, Err: derr})
			continue
		}
		t := m.Time
		if a.s.cfg.Kafka.EventTime != nil {
			t = a.s.cfg.Kafka.EventTime(m, v)
		}
		b.Add(v, pipeline.TimeOf(t))
	}
	return err
}

func (a *archiveReader[T]) Position() []byte { return a.r.Position() }

// Backlog passes the archive reader's backlog on, when it has one.
func (a *archiveReader[T]) Backlog(now time.Time) pipeline.Backlog {
	if b, ok := a.r.(interface {
		Backlog(time.Time) pipeline.Backlog
	}); ok {
		return b.Backlog(now)
	}
	return pipeline.Backlog{Records: -1, Behind: -1}
}
func (a *archiveReader[T]) Close() error { return a.r.Close() }

// kafkaReader prefixes the Kafka position with the offset the partition switched at, so that a restored
// position is checked against the archive's current cut.
type kafkaReader[T any] struct {
	pipeline.SplitReader[T]
	start int64
	pos   []byte
}

// Position is a version byte, the switch offset + 1 (0: no archive) as a uvarint, then kafkaio's position.
func (k *kafkaReader[T]) Position() []byte {
	k.pos = append(k.pos[:0], 1)
	k.pos = binary.AppendUvarint(k.pos, uint64(k.start+1))
	return append(k.pos, k.SplitReader.Position()...)
}

// Backlog passes the Kafka reader's backlog on, when it has one, for progress and the status page.
func (k *kafkaReader[T]) Backlog(now time.Time) pipeline.Backlog {
	if b, ok := k.SplitReader.(interface {
		Backlog(time.Time) pipeline.Backlog
	}); ok {
		return b.Backlog(now)
	}
	return pipeline.Backlog{Records: -1, Behind: -1}
}

func decodeKafkaPos(pos []byte) (start int64, rest []byte, err error) {
	if len(pos) < 2 || pos[0] != 1 {
		return 0, nil, fmt.Errorf("invalid hand-off position %x", pos)
	}
	u, n := binary.Uvarint(pos[1:])
	if n <= 0 {
		return 0, nil, fmt.Errorf("invalid hand-off position %x", pos)
	}
	return int64(u) - 1, pos[1+n:], nil
}

// DecodePosition describes a hand-off split's checkpointed position, for tools that inspect checkpoints:
// "archive row=N" or "kafka next=N (switched at N)".
func DecodePosition(splitID string, pos []byte) (string, error) {
	if strings.HasPrefix(splitID, archivePrefix) {
		return "archive " + string(pos), nil
	}
	start, rest, err := decodeKafkaPos(pos)
	if err != nil {
		return "", err
	}
	next, err := kafkaio.DecodePosition(rest)
	if err != nil {
		return "", fmt.Errorf("handoff: split %s: %w", splitID, err)
	}
	return fmt.Sprintf("kafka next=%d (switched at %d)", next, start), nil
}

// defaultDecoder mirrors kafkaio's default decoders by element type.
func defaultDecoder[T any]() func(kafkaio.Message) (T, error) {
	var f any
	switch any(*new(T)).(type) {
	case []byte:
		f = kafkaio.DecodeBytes
	case string:
		f = kafkaio.DecodeString
	case kafkaio.Message:
		f = kafkaio.DecodeMessage
	default:
		return func(m kafkaio.Message) (T, error) {
			var v T
			if err := json.Unmarshal(m.Value, &v); err != nil {
				var zero T
				return zero, fmt.Errorf("decode JSON value: %w", err)
			}
			return v, nil
		}
	}
	return f.(func(kafkaio.Message) (T, error))
}
