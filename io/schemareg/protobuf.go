package schemareg

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kappaflow/kappa/io/kafkaio"
)

// ProtobufConfig configures a Protobuf codec. The zero value decodes any record whose writer schema's message
// (per the record's message index) is T's message.
type ProtobufConfig struct {
	// Schema is the .proto source registered when Register is set. Default "": printed from T's file descriptor
	// (see the package documentation for what is printed), which works for files importing nothing but
	// google/protobuf's well-known types.
	Schema string
	// Topic names the subject with the TopicName and TopicRecordName strategies (record: T's full name).
	Topic string
	// Key makes the codec handle record keys: the subject is "<topic>-key", Decode reads Message.Key and Encode
	// sets it. Default false: values.
	Key bool
	// Subject is the subject name strategy. Default TopicName.
	Subject SubjectStrategy
	// Register registers the schema under the subject on first Encode (or SchemaID). Default false: write with
	// the subject's schema at Version, which must exist and declare T's message.
	Register bool
	// Version is the subject version written with when Register is false. Default 0: the latest.
	Version int
	// Timeout bounds each registry lookup, retries included. Default DefaultTimeout (30 s).
	Timeout time.Duration
	// Logger receives warnings (registry retries). Default slog.Default().
	Logger *slog.Logger
}

// Protobuf decodes and encodes T, a generated Protobuf message type (a pointer, such as *pb.PageView), in the
// Confluent wire format. It is safe for concurrent use.
type Protobuf[T proto.Message] struct {
	core  *core[*protoEntry, []int]
	md    protoreflect.MessageDescriptor
	name  string // T's full name
	mtype protoreflect.MessageType
}

// protoEntry is a writer schema's message structure, with the indexes already checked against T.
type protoEntry struct {
	tree  *protoTree // nil: the source did not parse; indexes are not checked
	mu    sync.Mutex
	valid [][]int // indexes that name T's message
}

// NewProtobuf returns a Protobuf codec of T over the registry client. It makes no request.
func NewProtobuf[T proto.Message](client *sr.Client, cfg ProtobufConfig) (*Protobuf[T], error) {
	var zero T
	mt := zero.ProtoReflect().Type()
	md := mt.Descriptor()
	p := &Protobuf[T]{md: md, name: string(md.FullName()), mtype: mt}
	schema := cfg.Schema
	if cfg.Register && schema == "" {
		s, err := protoSource(md.ParentFile())
		if err != nil {
			return nil, fmt.Errorf("schemareg protobuf: print the schema of %s (set ProtobufConfig.Schema): %w", p.name, err)
		}
		schema = s
	}
	st, err := newSettings("protobuf", sr.TypeProtobuf, cfg.Subject, cfg.Topic, p.name, cfg.Key, cfg.Register, cfg.Version, cfg.Timeout, cfg.Logger, schema)
	if err != nil {
		return nil, err
	}
	p.core, err = newCore(client, st, p.loadID, p.loadWriter)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Protobuf[T]) loadID(id int, s sr.Schema) (*protoEntry, error) {
	if s.Type != sr.TypeProtobuf {
		return nil, wrongType(id, s.Type, sr.TypeProtobuf)
	}
	tree, err := protoMessages(s.Schema)
	if err != nil {
		p.core.logger.Warn("schemareg: cannot read the messages of a Protobuf schema; message indexes of its records are not checked",
			"schema_id", id, "err", err)
		return &protoEntry{}, nil
	}
	return &protoEntry{tree: tree}, nil
}

// check verifies that a message index names T's message in the writer schema.
func (p *Protobuf[T]) check(id int, e *protoEntry, idx []int) error {
	if e.tree == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range e.valid {
		if slices.Equal(v, idx) {
			return nil
		}
	}
	name, ok := e.tree.fullName(idx)
	if !ok {
		return fmt.Errorf("schema id %d: %w: message index %v names no message of the schema", id, ErrIncompatibleSchema, idx)
	}
	if name != p.name {
		return fmt.Errorf("schema id %d: %w: message index %v is %s, want %s", id, ErrIncompatibleSchema, idx, name, p.name)
	}
	e.valid = append(e.valid, slices.Clone(idx))
	return nil
}

func (p *Protobuf[T]) loadWriter(_ int, s sr.Schema) ([]int, error) {
	tree, err := protoMessages(s.Schema)
	if err != nil {
		if p.core.register && s.Schema == p.core.schema.Schema {
			return messageIndex(p.md), nil // our own source
		}
		return nil, fmt.Errorf("%w: cannot read the messages of the schema: %w", ErrIncompatibleSchema, err)
	}
	idx, ok := tree.index(p.name)
	if !ok {
		return nil, fmt.Errorf("%w: the schema declares no message %s", ErrIncompatibleSchema, p.name)
	}
	return idx, nil
}

// DecodeBytes decodes one record in the wire format into a new T. The message index must name T's message in
// the writer schema (ErrIncompatibleSchema otherwise); fields unknown to T are kept as unknown fields, fields
// the writer did not know are left unset, as Protobuf does.
func (p *Protobuf[T]) DecodeBytes(b []byte) (T, error) {
	var zero T
	id, rest, err := ParseHeader(b)
	if err != nil {
		return zero, fmt.Errorf("schemareg protobuf: %w", err)
	}
	idx, payload, err := parseIndex(rest)
	if err != nil {
		return zero, fmt.Errorf("schemareg protobuf: schema id %d: %w", id, err)
	}
	e, err := p.core.byID(id)
	if err != nil {
		return zero, fmt.Errorf("schemareg protobuf: %w", err)
	}
	if err := p.check(id, e, idx); err != nil {
		return zero, fmt.Errorf("schemareg protobuf: %w", err)
	}
	m := p.mtype.New().Interface()
	if err := proto.Unmarshal(payload, m); err != nil {
		return zero, fmt.Errorf("schemareg protobuf: schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	return m.(T), nil
}

// Decode decodes a Kafka record's value (its key with ProtobufConfig.Key); it is a kafkaio.ReadConfig[T].Decode.
func (p *Protobuf[T]) Decode(m kafkaio.Message) (T, error) {
	if p.core.key {
		return p.DecodeBytes(m.Key)
	}
	return p.DecodeBytes(m.Value)
}

// AppendEncode appends v in the wire format to dst: the header with the writer schema's id, T's message index
// in that schema, then the message.
func (p *Protobuf[T]) AppendEncode(dst []byte, v T) ([]byte, error) {
	w, err := p.core.writerNow()
	if err != nil {
		return dst, fmt.Errorf("schemareg protobuf: %w", err)
	}
	dst = appendIndex(AppendHeader(dst, w.id), w.val)
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, v)
	if err != nil {
		return dst, fmt.Errorf("schemareg protobuf: encode with schema id %d: %w: %w", w.id, ErrUndecodable, err)
	}
	return out, nil
}

// Encode encodes v as a Kafka record value (key with ProtobufConfig.Key); it is a kafkaio.WriteConfig[T].Encode.
func (p *Protobuf[T]) Encode(v T) (kafkaio.Message, error) {
	b, err := p.AppendEncode(nil, v)
	if err != nil {
		return kafkaio.Message{}, err
	}
	if p.core.key {
		return kafkaio.Message{Key: b}, nil
	}
	return kafkaio.Message{Value: b}, nil
}

// SchemaID resolves now the schema id Encode writes with (registering the schema when Register is set).
func (p *Protobuf[T]) SchemaID(ctx context.Context) (int, error) {
	w, err := p.core.writerSchema(ctx)
	if err != nil {
		return 0, fmt.Errorf("schemareg protobuf: %w", err)
	}
	return w.id, nil
}

// Subject returns the subject the codec registers in or looks up, or the reason it has none.
func (p *Protobuf[T]) Subject() (string, error) { return p.core.subject, p.core.subjectErr }

// ProtoSource prints the .proto source schemareg registers for a message's file (ProtobufConfig.Schema
// empty); see the package documentation for what it covers.
func ProtoSource(md protoreflect.MessageDescriptor) (string, error) {
	return protoSource(md.ParentFile())
}
