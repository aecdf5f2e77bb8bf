package schemareg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/io/kafkaio"
)

// JSONSchemaConfig configures a JSON Schema codec.
type JSONSchemaConfig struct {
	// Schema is the JSON Schema of T: the schema registered when Register is set. Its "title" is the record
	// name of the RecordName strategies. Default "": the subject's schema at Version is written with.
	Schema string
	// Topic names the subject with the TopicName and TopicRecordName strategies.
	Topic string
	// Key makes the codec handle record keys: the subject is "<topic>-key", Decode reads Message.Key and Encode
	// sets it. Default false: values.
	Key bool
	// Subject is the subject name strategy. Default TopicName.
	Subject SubjectStrategy
	// Register registers Schema under the subject on first Encode (or SchemaID). Default false: write with the
	// subject's schema at Version, which must exist.
	Register bool
	// Version is the subject version written with when Register is false. Default 0: the latest.
	Version int
	// Timeout bounds each registry lookup, retries included. Default DefaultTimeout (30 s).
	Timeout time.Duration
	// Logger receives warnings (registry retries). Default slog.Default().
	Logger *slog.Logger
}

// JSONSchema decodes and encodes T as JSON in the Confluent wire format, validated against the writer schema
// (santhosh-tekuri/jsonschema, draft 7 unless the schema's $schema says otherwise) on both ways, and converted
// with encoding/json. It is safe for concurrent use.
type JSONSchema[T any] struct {
	core *core[*jsonschema.Schema, *jsonschema.Schema]
}

// NewJSONSchema returns a JSON Schema codec of T over the registry client. It compiles Schema when set and
// makes no request.
func NewJSONSchema[T any](client *sr.Client, cfg JSONSchemaConfig) (*JSONSchema[T], error) {
	var title string
	if cfg.Schema != "" {
		if _, err := compileJSONSchema(cfg.Schema); err != nil {
			return nil, fmt.Errorf("schemareg json schema: JSONSchemaConfig.Schema: %w", err)
		}
		var doc struct {
			Title string `json:"title"`
		}
		_ = json.Unmarshal([]byte(cfg.Schema), &doc)
		title = doc.Title
	} else if cfg.Register {
		return nil, fmt.Errorf("schemareg json schema: Register needs JSONSchemaConfig.Schema")
	}
	st, err := newSettings("json schema", sr.TypeJSON, cfg.Subject, cfg.Topic, title, cfg.Key, cfg.Register, cfg.Version, cfg.Timeout, cfg.Logger, cfg.Schema)
	if err != nil {
		return nil, err
	}
	j := &JSONSchema[T]{}
	j.core, err = newCore(client, st, j.loadID, j.loadWriter)
	if err != nil {
		return nil, err
	}
	return j, nil
}

// compileJSONSchema compiles a schema; remote $refs are not loaded.
func compileJSONSchema(text string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // the Confluent serializers' default
	const url = "urn:schemareg:schema"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

func (j *JSONSchema[T]) loadID(id int, s sr.Schema) (*jsonschema.Schema, error) {
	if s.Type != sr.TypeJSON {
		return nil, wrongType(id, s.Type, sr.TypeJSON)
	}
	if err := noReferences(id, s); err != nil {
		return nil, err
	}
	sch, err := compileJSONSchema(s.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w: the registry's schema does not compile: %w", id, ErrIncompatibleSchema, err)
	}
	return sch, nil
}

func (j *JSONSchema[T]) loadWriter(id int, s sr.Schema) (*jsonschema.Schema, error) {
	return j.loadID(id, s)
}

// DecodeBytes decodes one record in the wire format: the payload must be JSON valid against the writer schema
// (ErrUndecodable otherwise) and is then unmarshaled into a T with encoding/json.
func (j *JSONSchema[T]) DecodeBytes(b []byte) (T, error) {
	var v T
	id, payload, err := ParseHeader(b)
	if err != nil {
		return v, fmt.Errorf("schemareg json schema: %w", err)
	}
	sch, err := j.core.byID(id)
	if err != nil {
		return v, fmt.Errorf("schemareg json schema: %w", err)
	}
	if err := validateJSON(sch, payload); err != nil {
		return v, fmt.Errorf("schemareg json schema: schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("schemareg json schema: schema id %d: %w: %w", id, ErrUndecodable, err)
	}
	return v, nil
}

func validateJSON(sch *jsonschema.Schema, payload []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("invalid against the schema: %w", err)
	}
	return nil
}

// Decode decodes a Kafka record's value (its key with JSONSchemaConfig.Key); it is a
// kafkaio.ReadConfig[T].Decode.
func (j *JSONSchema[T]) Decode(m kafkaio.Message) (T, error) {
	if j.core.key {
		return j.DecodeBytes(m.Key)
	}
	return j.DecodeBytes(m.Value)
}

// AppendEncode appends v in the wire format to dst: the header with the writer schema's id, then v as JSON,
// which must be valid against that schema.
func (j *JSONSchema[T]) AppendEncode(dst []byte, v T) ([]byte, error) {
	w, err := j.core.writerNow()
	if err != nil {
		return dst, fmt.Errorf("schemareg json schema: %w", err)
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("schemareg json schema: encode: %w: %w", ErrUndecodable, err)
	}
	if err := validateJSON(w.val, payload); err != nil {
		return dst, fmt.Errorf("schemareg json schema: encode with schema id %d: %w: %w", w.id, ErrUndecodable, err)
	}
	return append(AppendHeader(dst, w.id), payload...), nil
}

// Encode encodes v as a Kafka record value (key with JSONSchemaConfig.Key); it is a
// kafkaio.WriteConfig[T].Encode.
func (j *JSONSchema[T]) Encode(v T) (kafkaio.Message, error) {
	b, err := j.AppendEncode(nil, v)
	if err != nil {
		return kafkaio.Message{}, err
	}
	if j.core.key {
		return kafkaio.Message{Key: b}, nil
	}
	return kafkaio.Message{Value: b}, nil
}

// SchemaID resolves now the schema id Encode writes with (registering the schema when Register is set).
func (j *JSONSchema[T]) SchemaID(ctx context.Context) (int, error) {
	w, err := j.core.writerSchema(ctx)
	if err != nil {
		return 0, fmt.Errorf("schemareg json schema: %w", err)
	}
	return w.id, nil
}

// Subject returns the subject the codec registers in or looks up, or the reason it has none.
func (j *JSONSchema[T]) Subject() (string, error) { return j.core.subject, j.core.subjectErr }
