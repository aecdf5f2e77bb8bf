// Package schemareg decodes and encodes records in the Confluent Schema Registry wire format — the magic byte 0,
// the schema id as 4 bytes big-endian, for Protobuf the message-index array, then the payload — into the user's
// Go type, for Avro (hamba/avro), Protobuf (generated google.golang.org/protobuf types) and JSON Schema
// (santhosh-tekuri/jsonschema). It speaks to the registry through franz-go's sr client.
//
// Each codec has the methods kafkaio wants, so it plugs straight into a Kafka source or sink, and byte-level
// ones for any other byte source (Kinesis, files):
//
//	views, err := schemareg.NewAvro[PageView](client, schemareg.AvroConfig{Schema: pageViewSchema, Topic: "views"})
//	...
//	in, dead := kafkaio.ReadWithDeadLetters(s, kafkaio.ReadConfig[PageView]{Brokers: brokers, Topic: "views",
//		Decode: views.Decode})
//	kafkaio.Write(s, out, kafkaio.WriteConfig[PageView]{Brokers: brokers, Topic: "views", Encode: views.Encode})
//	v, err := views.DecodeBytes(kinesisRecord.Data)
//
// # Decoding
//
// A record's schema id is looked up once (GET /schemas/ids/{id}) and what it resolves to is cached for the
// codec's life: schema ids are immutable. For Avro the writer schema is resolved against the reader schema
// (AvroConfig.Schema, or the subject's registered schema) with hamba/avro's schema resolution, the rules of the
// Avro specification: a field the reader has and the writer lacks takes its default (no default: the writer
// schema is incompatible), a field the writer has and the reader lacks is skipped, ints widen to longs, floats
// and doubles, enums and unions resolve by name. For Protobuf the message index must name T's message in the
// writer schema; Protobuf's own rules then apply (unknown fields kept, absent fields unset). For JSON Schema the
// payload is validated against the writer schema, then unmarshaled with encoding/json (unknown fields dropped).
//
// # Encoding
//
// Encoders write with one schema per codec, resolved on first use (or by SchemaID, to fail at start): with
// Register set, the configured schema is registered under the subject (POST /subjects/{s}/versions, which
// returns the existing id when it is already there, and refuses it with 409 when the subject's compatibility
// level forbids it); otherwise the subject's schema at Version (the latest by default) is fetched and written
// with, and must describe T (Avro: hamba encodes T with it; Protobuf: it declares T's message).
//
// Subjects are named by a SubjectStrategy: TopicName ("<topic>-value", "<topic>-key"; the default), RecordName
// (the record's full name) or TopicRecordName ("<topic>-<record>"), as the Confluent serializers, or Subject for
// a fixed name.
//
// # Failures
//
// Every error names its format and schema id and matches one reason (errors.Is): ErrNotWireFormat (too short,
// a bad magic byte, a malformed message index), ErrUnknownSchema (the registry answered 404), ErrIncompatibleSchema
// (the writer schema cannot be read into T, or the registry refused a registration), ErrUndecodable (the payload
// does not decode) or ErrRegistry (no answer within Timeout). Used as a kafkaio decoder, a failing record
// becomes a *pipeline.RecordError with the topic, partition, offset and the reason, which goes to the dead-letter
// output of kafkaio.ReadWithDeadLetters, or fails the job with kafkaio.Read — except ErrRegistry, which is not
// the record's fault: it wraps pipeline.ErrUnavailable, so the job fails on it even with a dead-letter output.
//
// Registry requests that fail in transport, with 5xx, 408 or 429 are retried with backoff for up to the
// config's Timeout (30 s by default); a 404 is final. An unknown id is remembered for a minute, so a run of
// records carrying it costs one request. A registry down for longer than Timeout makes the first record that
// needs a not-yet-cached id fail the job with ErrRegistry (never a dead letter: the record is good); the job
// resumes from its last checkpoint once restarted. Give Timeout the length of the outages the job must ride out.
//
// # Protobuf schemas
//
// With Register and no ProtobufConfig.Schema, the registered text is printed from T's file descriptor
// (ProtoSource): syntax, package, imports of google/protobuf's well-known types, every message and enum in
// declaration order (fields, labels, maps, oneofs, proto3 optional, proto2 defaults, reserved ranges and names).
// Files with other imports, extensions, groups or editions are refused: set ProtobufConfig.Schema to the file's
// source and register its imports yourself. Message indexes count nested messages as the Confluent serializers
// do (map entries left out).
//
// Schema references are not resolved: Avro and JSON Schema writer schemas with references are refused
// (errors.ErrUnsupported). See docs/schemaregistry.md.
package schemareg
