package schemareg

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/io/kafkaio"
)

// AvroConfig configures an Avro codec. The zero value decodes with the reader schema of the topic's value
// subject; see each field.
type AvroConfig struct {
	// Schema is the Avro schema of T (JSON): the reader schema every record is resolved to, and the schema
	// registered when Register is set. Default "": the subject's schema at Version (the latest), fetched on
	// first use, is both the reader schema and the schema written with.
	Schema string
	// Topic names the subject with the TopicName and TopicRecordName strategies. Decoding needs no subject
	// unless Schema is empty.
	Topic string
	// Key makes the codec handle record keys: the subject is "<topic>-key", Decode reads Message.Key and Encode
	// sets it (and only it). Default false: values.
	Key bool
	// Subject is the subject name strategy. Default TopicName.
	Subject SubjectStrategy
	// Register registers Schema under the subject on first Encode (or SchemaID) and writes with it; the registry
	// refuses it (ErrIncompatibleSchema) when the subject's compatibility level forbids it. Default false: write
	// with the subject's schema at Version, which must exist.
	Register bool
	// Version is the subject version written with when Register is false (and read into when Schema is
	// empty). Default 0: the latest, as of first use.
	Version int
	// Timeout bounds each registry lookup, retries of transport failures and 5xx answers included. Default
	// DefaultTimeout (30 s).
	Timeout time.Duration
	// Logger receives warnings (registry retries). Default slog.Default().
	Logger *slog.Logger
}

// Avro decodes and encodes T as Avro in the Confluent wire format. It is safe for concurrent use.
type Avro[T any] struct {
	core   *core[avro.Schema, avro.Schema]
	reader avro.Schema // nil: the subject's schema, resolved on first use
	compat *avro.SchemaCompatibility
	api    avro.API
	pool   sync.Pool // *avro.Writer
}

// NewAvro returns an Avro codec of T over the registry client. It checks the config and parses Schema; it makes
// no request (lookups happen on first use, or in SchemaID).
func NewAvro[T any](client *sr.Client, cfg AvroConfig) (*Avro[T], error) {
	a := &Avro[T]{compat: avro.NewSchemaCompatibility(), api: avro.DefaultConfig}
	var record string
	if cfg.Schema != "" {
		s, err := parseAvro(cfg.Schema)
		if err != nil {
			return nil, fmt.Errorf("schemareg avro: AvroConfig.Schema: %w", err)
		}
		a.reader = s
		if n, ok := s.(avro.NamedSchema); ok {
			record = n.FullName()
		}
	} else if cfg.Register {
		return nil, fmt.Errorf("schemareg avro: Register needs AvroConfig.Schema")
	}
	st, err := newSettings("avro", sr.TypeAvro, cfg.Subject, cfg.Topic, record, cfg.Key, cfg.Register, cfg.Version, cfg.Timeout, cfg.Logger, cfg.Schema)
	if err != nil {
		return nil, err
	}
	a.core, err = newCore(client, st, a.loadID, a.loadWriter)
	if err != nil {
		return nil, err
	}
	a.pool.New = func() any { return avro.NewWriter(nil, 512, avro.WithWriterConfig(a.api)) }
	return a, nil
}

func parseAvro(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{}) // a fresh cache: versions of one record must not collide
}

// readerSchema is Schema, or the subject's.
func (a *Avro[T]) readerSchema() (avro.Schema, error) {
	if a.reader != nil {
		return a.reader, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.core.timeout)
	defer cancel()
	w, err := a.core.writerSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("reader schema: %w", err)
	}
	return w.val, nil
}

// loadID resolves a writer schema to the reader schema.
func (a *Avro[T]) loadID(id int, s sr.Schema) (avro.Schema, error) {
	if s.Type != sr.TypeAvro {
		return nil, wrongType(id, s.Type, sr.TypeAvro)
	}
	if err := noReferences(id, s); err != nil {
		return nil, err
	}
	writer, err := parseAvro(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w: the registry's schema does not parse: %w", id, ErrIncompatibleSchema, err)
	}
	reader, err := a.readerSchema()
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if writer.Fingerprint() == reader.Fingerprint() {
		return reader, nil
	}
	resolved, err := a.compat.Resolve(reader, writer)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w: the writer schema cannot be read with the reader schema: %w", id, ErrIncompatibleSchema, err)
	}
	return resolved, nil
}

func (a *Avro[T]) loadWriter(_ int, s sr.Schema) (avro.Schema, error) {
	if a.core.register {
		return a.reader, nil
	}
	if err := noReferences(0, s); err != nil {
		return nil, err
	}
	w, err := parseAvro(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: the registry's schema does not parse: %w", ErrIncompatibleSchema, err)
	}
	return w, nil
}

// DecodeBytes decodes one record in the wire format: the schema id's writer schema (fetched once per id) is
// resolved to the reader schema, and the payload decoded into a T. Errors match ErrNotWireFormat,
// ErrUnknownSchema, ErrIncompatibleSchema, ErrUndecodable or ErrRegistry.
func (a *Avro[T]) DecodeBytes(b []byte) (T, error) {
	var v T
	id, payload, err := ParseHeader(b)
	if err != nil {
		return v, fmt.Errorf("schemareg avro: %w", err)
	}
	schema, err := a.core.byID(id)
	if err != nil {
		return v, fmt.Errorf("schemareg avro: %w", err)
	}
	if err := a.api.Unmarshal(schema, payload, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("schemareg avro: schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	return v, nil
}

// Decode decodes a Kafka record's value (its key with AvroConfig.Key); it is a kafkaio.ReadConfig[T].Decode.
func (a *Avro[T]) Decode(m kafkaio.Message) (T, error) {
	if a.core.key {
		return a.DecodeBytes(m.Key)
	}
	return a.DecodeBytes(m.Value)
}

// AppendEncode appends v in the wire format to dst: the header with the writer schema's id (registered or
// looked up on first use), then v encoded with that schema.
func (a *Avro[T]) AppendEncode(dst []byte, v T) ([]byte, error) {
	w, err := a.core.writerNow()
	if err != nil {
		return dst, fmt.Errorf("schemareg avro: %w", err)
	}
	wr := a.pool.Get().(*avro.Writer)
	defer a.pool.Put(wr)
	wr.Reset(nil)
	wr.Error = nil
	wr.WriteVal(w.val, v)
	if wr.Error != nil {
		return dst, fmt.Errorf("schemareg avro: encode with schema id %d: %w: %w", w.id, ErrUndecodable, wr.Error)
	}
	dst = AppendHeader(dst, w.id)
	return append(dst, wr.Buffer()...), nil
}

// Encode encodes v as a Kafka record value (key with AvroConfig.Key); it is a kafkaio.WriteConfig[T].Encode.
func (a *Avro[T]) Encode(v T) (kafkaio.Message, error) {
	b, err := a.AppendEncode(nil, v)
	if err != nil {
		return kafkaio.Message{}, err
	}
	if a.core.key {
		return kafkaio.Message{Key: b}, nil
	}
	return kafkaio.Message{Value: b}, nil
}

// SchemaID resolves now the schema id Encode writes with (registering the schema when Register is set) and
// returns it, so that a refused or missing schema fails a job at start rather than at its first record.
func (a *Avro[T]) SchemaID(ctx context.Context) (int, error) {
	w, err := a.core.writerSchema(ctx)
	if err != nil {
		return 0, fmt.Errorf("schemareg avro: %w", err)
	}
	return w.id, nil
}

// Subject returns the subject the codec registers in or looks up, or the reason it has none (no Topic).
func (a *Avro[T]) Subject() (string, error) { return a.core.subject, a.core.subjectErr }
