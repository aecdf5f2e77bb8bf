package schemareg_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/schemareg"
)

const (
	viewV1Schema = `{"type":"record","name":"PageView","namespace":"kappa.test","fields":[
		{"name":"url","type":"string"},
		{"name":"user","type":"string"},
		{"name":"millis","type":"long"}]}`
	// v2 adds a field with a default: BACKWARD compatible with v1.
	viewV2Schema = `{"type":"record","name":"PageView","namespace":"kappa.test","fields":[
		{"name":"url","type":"string"},
		{"name":"user","type":"string"},
		{"name":"millis","type":"long"},
		{"name":"country","type":"string","default":"unknown"}]}`
	// v3 adds a field without a default: v3 cannot read v2's records.
	viewV3Schema = `{"type":"record","name":"PageView","namespace":"kappa.test","fields":[
		{"name":"url","type":"string"},
		{"name":"user","type":"string"},
		{"name":"millis","type":"long"},
		{"name":"country","type":"string","default":"unknown"},
		{"name":"session","type":"long"}]}`
	// url as a long: no reader of the other versions can read it.
	viewBadSchema = `{"type":"record","name":"PageView","namespace":"kappa.test","fields":[
		{"name":"url","type":"long"}]}`
)

type viewV1 struct {
	URL    string `avro:"url" json:"url"`
	User   string `avro:"user" json:"user"`
	Millis int64  `avro:"millis" json:"millis"`
}

type viewV2 struct {
	URL     string `avro:"url"`
	User    string `avro:"user"`
	Millis  int64  `avro:"millis"`
	Country string `avro:"country"`
}

type viewV3 struct {
	URL     string `avro:"url"`
	User    string `avro:"user"`
	Millis  int64  `avro:"millis"`
	Country string `avro:"country"`
	Session int64  `avro:"session"`
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newAvro[T any](t *testing.T, cl *sr.Client, cfg schemareg.AvroConfig) *schemareg.Avro[T] {
	t.Helper()
	a, err := schemareg.NewAvro[T](cl, cfg)
	require.NoError(t, err)
	return a
}

func TestAvroRoundTrip(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	a := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	in := viewV1{URL: "/a", User: "u1", Millis: 1_700_000_000_000}

	m, err := a.Encode(in)
	require.NoError(t, err)
	require.Nil(t, m.Key)
	id, rest, err := schemareg.ParseHeader(m.Value)
	require.NoError(t, err)
	require.Equal(t, 1, id, "the first schema the registry saw")
	require.NotEmpty(t, rest)

	out, err := a.Decode(kafkaio.Message{Value: m.Value})
	require.NoError(t, err)
	require.Equal(t, in, out)

	// AppendEncode appends; DecodeBytes reads any byte source.
	buf, err := a.AppendEncode([]byte("prefix"), in)
	require.NoError(t, err)
	require.Equal(t, "prefix", string(buf[:6]))
	require.Equal(t, m.Value, buf[6:])
	out, err = a.DecodeBytes(buf[6:])
	require.NoError(t, err)
	require.Equal(t, in, out)

	// A key codec reads and writes keys.
	k := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Key: true, Register: true})
	km, err := k.Encode(in)
	require.NoError(t, err)
	require.Nil(t, km.Value)
	require.Equal(t, m.Value, km.Key, "same schema text: same id under views-key")
	out, err = k.Decode(kafkaio.Message{Key: km.Key, Value: []byte("not read")})
	require.NoError(t, err)
	require.Equal(t, in, out)
	subject, err := k.Subject()
	require.NoError(t, err)
	require.Equal(t, "views-key", subject)

	// Generic maps decode too.
	g := newAvro[map[string]any](t, cl, schemareg.AvroConfig{Schema: viewV1Schema})
	gm, err := g.DecodeBytes(m.Value)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"url": "/a", "user": "u1", "millis": int64(1_700_000_000_000)}, gm)
}

// Writer→reader schema resolution: records written with one version are read into the type of another.
func TestAvroEvolution(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	w1 := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	w2 := newAvro[viewV2](t, cl, schemareg.AvroConfig{Schema: viewV2Schema, Topic: "views", Register: true})
	r1 := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema})
	r2 := newAvro[viewV2](t, cl, schemareg.AvroConfig{Schema: viewV2Schema})
	r3 := newAvro[viewV3](t, cl, schemareg.AvroConfig{Schema: viewV3Schema})

	rec1, err := w1.Encode(viewV1{URL: "/a", User: "u1", Millis: 1})
	require.NoError(t, err)
	rec2, err := w2.Encode(viewV2{URL: "/b", User: "u2", Millis: 2, Country: "fr"})
	require.NoError(t, err)
	id1, _, _ := schemareg.ParseHeader(rec1.Value)
	id2, _, _ := schemareg.ParseHeader(rec2.Value)
	require.NotEqual(t, id1, id2)

	t.Run("writer v1, reader v2: the added field takes its default", func(t *testing.T) {
		v, err := r2.Decode(rec1)
		require.NoError(t, err)
		require.Equal(t, viewV2{URL: "/a", User: "u1", Millis: 1, Country: "unknown"}, v)
	})
	t.Run("writer v2, reader v1: the removed field is skipped", func(t *testing.T) {
		v, err := r1.Decode(rec2)
		require.NoError(t, err)
		require.Equal(t, viewV1{URL: "/b", User: "u2", Millis: 2}, v)
	})
	t.Run("same schema", func(t *testing.T) {
		v, err := r2.Decode(rec2)
		require.NoError(t, err)
		require.Equal(t, viewV2{URL: "/b", User: "u2", Millis: 2, Country: "fr"}, v)
	})
	t.Run("a reader field without default is incompatible", func(t *testing.T) {
		_, err := r3.Decode(rec2)
		require.ErrorIs(t, err, schemareg.ErrIncompatibleSchema)
		require.Regexp(t, fmt.Sprintf(`^schemareg avro: schema id %d: incompatible schema: the writer schema cannot be read with the reader schema: .*session`, id2), err.Error())
	})
	t.Run("a type change is incompatible", func(t *testing.T) {
		bad := newAvro[map[string]any](t, cl, schemareg.AvroConfig{Schema: viewBadSchema, Topic: "other", Register: true})
		rec, err := bad.Encode(map[string]any{"url": int64(7)})
		require.NoError(t, err)
		_, err = r1.Decode(rec)
		require.ErrorIs(t, err, schemareg.ErrIncompatibleSchema)
	})
	t.Run("without Schema, the reader schema is the subject's latest", func(t *testing.T) {
		latest := newAvro[map[string]any](t, cl, schemareg.AvroConfig{Topic: "views"})
		v, err := latest.Decode(rec1)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"url": "/a", "user": "u1", "millis": int64(1), "country": "unknown"}, v)
	})
}

// Schema ids are fetched once per codec; the writer's subject is resolved once.
func TestAvroCachesSchemaIDs(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	w := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	var recs [][]byte
	for i := range 100 {
		m, err := w.Encode(viewV1{URL: fmt.Sprint("/", i), Millis: int64(i)})
		require.NoError(t, err)
		recs = append(recs, m.Value)
	}
	require.Equal(t, 1, reg.Requests("POST /subjects/{subject}/versions"), "one registration for 100 records")
	require.Equal(t, 1, reg.Requests())

	r := newAvro[viewV2](t, cl, schemareg.AvroConfig{Schema: viewV2Schema})
	for i, b := range recs {
		v, err := r.DecodeBytes(b)
		require.NoError(t, err)
		require.Equal(t, int64(i), v.Millis)
	}
	require.Equal(t, 1, reg.Requests("GET /schemas/ids/{id}"), "one id lookup for 100 records")

	// An unknown id is asked for once, then remembered.
	unknown := schemareg.AppendHeader(nil, 999)
	for range 10 {
		_, err := r.DecodeBytes(unknown)
		require.ErrorIs(t, err, schemareg.ErrUnknownSchema)
	}
	require.Equal(t, 2, reg.Requests("GET /schemas/ids/{id}"))

	// Concurrent decoders of a new id share one lookup.
	r2 := newAvro[viewV2](t, cl, schemareg.AvroConfig{Schema: viewV2Schema})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := r2.DecodeBytes(recs[0])
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 3, reg.Requests("GET /schemas/ids/{id}"))
}

func TestSubjectStrategies(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	for _, tc := range []struct {
		name     string
		strategy schemareg.SubjectStrategy
		topic    string
		key      bool
		want     string
		err      string
	}{
		{name: "default is TopicName", topic: "views", want: "views-value"},
		{name: "TopicName value", strategy: schemareg.TopicName, topic: "views", want: "views-value"},
		{name: "TopicName key", strategy: schemareg.TopicName, topic: "views", key: true, want: "views-key"},
		{name: "RecordName", strategy: schemareg.RecordName, want: "kappa.test.PageView"},
		{name: "TopicRecordName", strategy: schemareg.TopicRecordName, topic: "clicks", want: "clicks-kappa.test.PageView"},
		{name: "Subject", strategy: schemareg.Subject("fixed"), want: "fixed"},
		{name: "TopicName without topic", strategy: schemareg.TopicName,
			err: "schemareg avro: Register: subject: the TopicName subject strategy needs a topic: set the config's Topic"},
		{name: "TopicRecordName without topic", strategy: schemareg.TopicRecordName,
			err: "schemareg avro: Register: subject: the TopicRecordName subject strategy needs a topic: set the config's Topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := schemareg.NewAvro[viewV1](cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: tc.topic, Key: tc.key, Subject: tc.strategy, Register: true})
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			subject, err := a.Subject()
			require.NoError(t, err)
			require.Equal(t, tc.want, subject)
			id, err := a.SchemaID(ctxT(t))
			require.NoError(t, err)
			got, err := cl.SchemaByVersion(ctxT(t), tc.want, -1)
			require.NoError(t, err, "registered under %s", tc.want)
			require.Equal(t, id, got.ID)
		})
	}
	// RecordName needs a named schema.
	_, err := schemareg.NewAvro[string](cl, schemareg.AvroConfig{Schema: `"string"`, Subject: schemareg.RecordName, Register: true})
	require.ErrorContains(t, err, "the RecordName subject strategy needs the record's name")
}

func TestAvroRegistration(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	ctx := ctxT(t)

	t.Run("off: the subject must exist", func(t *testing.T) {
		a := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "off"})
		_, err := a.Encode(viewV1{URL: "/a"})
		require.ErrorIs(t, err, schemareg.ErrUnknownSchema)
		require.EqualError(t, err, `schemareg avro: subject "off-value" version latest: unknown schema: the registry answered 404 (error code 40401): Subject 'off-value' not found. (registration is off: register the schema first, or set Register)`)
		require.Zero(t, reg.Requests("POST /subjects/{subject}/versions"), "nothing registered")
	})
	t.Run("off: writes with the latest version, or the given one", func(t *testing.T) {
		id1 := reg.Register(t, "manual-value", sr.Schema{Schema: viewV1Schema})
		id2 := reg.Register(t, "manual-value", sr.Schema{Schema: viewV2Schema})
		latest := newAvro[viewV1](t, cl, schemareg.AvroConfig{Topic: "manual"})
		got, err := latest.SchemaID(ctx)
		require.NoError(t, err)
		require.Equal(t, id2, got)
		m, err := latest.Encode(viewV1{URL: "/a", User: "u", Millis: 3})
		require.NoError(t, err, "T lacks country: hamba writes its default")
		r := newAvro[viewV2](t, cl, schemareg.AvroConfig{Schema: viewV2Schema})
		v, err := r.Decode(m)
		require.NoError(t, err)
		require.Equal(t, viewV2{URL: "/a", User: "u", Millis: 3, Country: "unknown"}, v)

		v1 := newAvro[viewV1](t, cl, schemareg.AvroConfig{Topic: "manual", Version: 1})
		got, err = v1.SchemaID(ctx)
		require.NoError(t, err)
		require.Equal(t, id1, got)

		_, err = newAvro[viewV1](t, cl, schemareg.AvroConfig{Topic: "manual", Version: 9}).SchemaID(ctx)
		require.ErrorIs(t, err, schemareg.ErrUnknownSchema)
		require.ErrorContains(t, err, "error code 40402")
	})
	t.Run("on: registering again returns the same id", func(t *testing.T) {
		a := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "on", Register: true})
		b := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "on", Register: true})
		ida, err := a.SchemaID(ctx)
		require.NoError(t, err)
		idb, err := b.SchemaID(ctx)
		require.NoError(t, err)
		require.Equal(t, ida, idb)
		versions, err := cl.SubjectVersions(ctx, "on-value")
		require.NoError(t, err)
		require.Equal(t, []int{1}, versions)
	})
	t.Run("on: an incompatible schema is refused", func(t *testing.T) {
		require.NoError(t, register(t, cl, "strict", viewV2Schema))
		a := newAvro[viewV3](t, cl, schemareg.AvroConfig{Schema: viewV3Schema, Topic: "strict", Register: true})
		_, err := a.Encode(viewV3{URL: "/a"})
		require.ErrorIs(t, err, schemareg.ErrIncompatibleSchema)
		require.Regexp(t, `^schemareg avro: register the schema under subject "strict-value": incompatible schema: the registry refused it: 409 \(error code 409\): Schema being registered is incompatible with an earlier schema for subject "strict-value", details: \[\{oldSchemaId: \d+, compatibility: BACKWARD, reason: the new schema cannot read data written with the old one: .*session.*\}\]$`, err.Error())
		_, err = a.SchemaID(ctx)
		require.ErrorIs(t, err, schemareg.ErrIncompatibleSchema, "failures are not cached: asked again")

		// The same schema is accepted once the subject's level allows it.
		reg.SetCompatibility("strict-value", sr.CompatNone)
		_, err = a.SchemaID(ctx)
		require.NoError(t, err)
	})
	t.Run("config errors", func(t *testing.T) {
		_, err := schemareg.NewAvro[viewV1](cl, schemareg.AvroConfig{Topic: "x", Register: true})
		require.EqualError(t, err, "schemareg avro: Register needs AvroConfig.Schema")
		_, err = schemareg.NewAvro[viewV1](cl, schemareg.AvroConfig{Schema: `{"type":"record"`})
		require.ErrorContains(t, err, "schemareg avro: AvroConfig.Schema: ")
		_, err = schemareg.NewAvro[viewV1](cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "x", Register: true, Version: 2})
		require.EqualError(t, err, "schemareg avro: Version is for looking schemas up; it cannot be set with Register")
		_, err = schemareg.NewAvro[viewV1](nil, schemareg.AvroConfig{Schema: viewV1Schema})
		require.EqualError(t, err, "schemareg avro: nil registry client")
	})
}

func register(t *testing.T, cl *sr.Client, topic, schema string) error {
	t.Helper()
	_, err := cl.RegisterSchema(ctxT(t), topic+"-value", sr.Schema{Schema: schema}, -1, -1)
	return err
}

// Every way a record can fail names its reason.
func TestAvroDecodeErrors(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	w := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	good, err := w.Encode(viewV1{URL: "/some/long/url", User: "user", Millis: 12345})
	require.NoError(t, err)
	protoID := reg.Register(t, "proto-value", sr.Schema{Schema: `syntax = "proto3"; message M { string a = 1; }`, Type: sr.TypeProtobuf})
	r := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema})

	for _, tc := range []struct {
		name  string
		value []byte
		is    error
		msg   string
	}{
		{"empty (tombstone)", nil, schemareg.ErrNotWireFormat,
			"schemareg avro: not in the Schema Registry wire format: empty value (a tombstone?), want the magic byte 0 and a 4-byte schema id"},
		{"too short", []byte{0, 0, 1}, schemareg.ErrNotWireFormat,
			"schemareg avro: not in the Schema Registry wire format: 3 bytes, want at least 5 (the magic byte 0 and a 4-byte schema id)"},
		{"bad magic byte", []byte(`{"url":"/a"}`), schemareg.ErrNotWireFormat,
			"schemareg avro: not in the Schema Registry wire format: first byte is 0x7b, want the magic byte 0x00"},
		{"unknown id", schemareg.AppendHeader(nil, 4242), schemareg.ErrUnknownSchema,
			"schemareg avro: schema id 4242: unknown schema: the registry answered 404 (error code 40403): Schema 4242 not found"},
		{"truncated payload", good.Value[:len(good.Value)-4], schemareg.ErrUndecodable, ""},
		{"not Avro", schemareg.AppendHeader(nil, protoID), schemareg.ErrIncompatibleSchema,
			fmt.Sprintf("schemareg avro: schema id %d: incompatible schema: a schema of type PROTOBUF, want AVRO", protoID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.DecodeBytes(tc.value)
			require.ErrorIs(t, err, tc.is)
			if tc.msg != "" {
				require.EqualError(t, err, tc.msg)
			}
		})
	}
	_, err = r.DecodeBytes(good.Value)
	require.NoError(t, err)
}

// A registry that does not answer is retried until Timeout, then ErrRegistry; it is not cached.
func TestRegistryDown(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	w := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	m, err := w.Encode(viewV1{URL: "/a"})
	require.NoError(t, err)

	r := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Timeout: 300 * time.Millisecond, Logger: quiet})
	reg.SetDown(true)
	start := time.Now()
	_, err = r.Decode(m)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	require.ErrorIs(t, err, schemareg.ErrRegistry)
	require.Regexp(t, `^schemareg avro: schema id 1: schema registry request failed: GET /schemas/ids/1: no answer for \d+ms: last error: srtest: the registry is down \(SetDown\)$`, err.Error())
	require.Greater(t, reg.Requests("GET /schemas/ids/{id}"), 2, "retried")

	reg.SetDown(false)
	v, err := r.Decode(m)
	require.NoError(t, err, "the failure was not cached")
	require.Equal(t, "/a", v.URL)
}
