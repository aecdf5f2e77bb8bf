package schemareg_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/schemareg"
)

const viewJSONSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "PageView",
  "type": "object",
  "properties": {
    "url": {"type": "string", "minLength": 1},
    "user": {"type": "string"},
    "millis": {"type": "integer", "minimum": 0}
  },
  "required": ["url", "millis"]
}`

func TestJSONSchema(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	j, err := schemareg.NewJSONSchema[viewV1](cl, schemareg.JSONSchemaConfig{Schema: viewJSONSchema, Topic: "views", Register: true})
	require.NoError(t, err)
	in := viewV1{URL: "/a", User: "u", Millis: 7}

	t.Run("round trip", func(t *testing.T) {
		m, err := j.Encode(in)
		require.NoError(t, err)
		id, payload, err := schemareg.ParseHeader(m.Value)
		require.NoError(t, err)
		require.JSONEq(t, `{"url":"/a","user":"u","millis":7}`, string(payload), "the payload is plain JSON")
		out, err := j.Decode(m)
		require.NoError(t, err)
		require.Equal(t, in, out)
		s, err := cl.SchemaByID(ctxT(t), id)
		require.NoError(t, err)
		require.Equal(t, sr.TypeJSON, s.Type)
	})
	t.Run("RecordName is the title", func(t *testing.T) {
		r, err := schemareg.NewJSONSchema[viewV1](cl, schemareg.JSONSchemaConfig{Schema: viewJSONSchema, Subject: schemareg.RecordName, Register: true})
		require.NoError(t, err)
		subject, err := r.Subject()
		require.NoError(t, err)
		require.Equal(t, "PageView", subject)
	})
	t.Run("lookup the latest version", func(t *testing.T) {
		r, err := schemareg.NewJSONSchema[viewV1](cl, schemareg.JSONSchemaConfig{Topic: "views"})
		require.NoError(t, err)
		b, err := r.AppendEncode(nil, in)
		require.NoError(t, err)
		out, err := r.DecodeBytes(b)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})
	t.Run("an invalid value is not written", func(t *testing.T) {
		_, err := j.Encode(viewV1{URL: "", Millis: 1})
		require.ErrorIs(t, err, schemareg.ErrUndecodable)
		require.ErrorContains(t, err, "schemareg json schema: encode with schema id 1: undecodable payload: invalid against the schema: ")
	})
	avroID := reg.Register(t, "avro-value", sr.Schema{Schema: viewV1Schema})
	for _, tc := range []struct {
		name  string
		value []byte
		is    error
		msg   string
	}{
		{"invalid against the writer schema", append(schemareg.AppendHeader(nil, 1), `{"url":"/a","millis":-1}`...), schemareg.ErrUndecodable, ""},
		{"not JSON", append(schemareg.AppendHeader(nil, 1), `{"url":`...), schemareg.ErrUndecodable, ""},
		{"wrong Go type", append(schemareg.AppendHeader(nil, 1), `{"url":"/a","millis":1.5}`...), schemareg.ErrUndecodable, ""},
		{"bare JSON", []byte(`{"url":"/a","millis":1}`), schemareg.ErrNotWireFormat,
			"schemareg json schema: not in the Schema Registry wire format: first byte is 0x7b, want the magic byte 0x00"},
		{"unknown id", append(schemareg.AppendHeader(nil, 99), `{}`...), schemareg.ErrUnknownSchema,
			"schemareg json schema: schema id 99: unknown schema: the registry answered 404 (error code 40403): Schema 99 not found"},
		{"an Avro schema", append(schemareg.AppendHeader(nil, avroID), `{}`...), schemareg.ErrIncompatibleSchema,
			fmt.Sprintf("schemareg json schema: schema id %d: incompatible schema: a schema of type AVRO, want JSON", avroID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := j.DecodeBytes(tc.value)
			require.ErrorIs(t, err, tc.is)
			if tc.msg != "" {
				require.EqualError(t, err, tc.msg)
			}
		})
	}
	t.Run("config errors", func(t *testing.T) {
		_, err := schemareg.NewJSONSchema[viewV1](cl, schemareg.JSONSchemaConfig{Schema: `{"type": 12}`})
		require.ErrorContains(t, err, "schemareg json schema: JSONSchemaConfig.Schema: ")
		_, err = schemareg.NewJSONSchema[viewV1](cl, schemareg.JSONSchemaConfig{Topic: "x", Register: true})
		require.EqualError(t, err, "schemareg json schema: Register needs JSONSchemaConfig.Schema")
	})
}
