package schemareg_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/kafkatest"
	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/kafkaio"
	"github.com/kappaflow/kappa/io/schemareg"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
)

// End to end through kappa: a pipeline writes Avro records to Kafka with the codec as its encoder (registering
// the schema), another reads them back with the codec as its decoder. A record with an unknown schema id or a
// garbage record goes to the dead-letter output with its topic, partition, offset and reason
// (ReadWithDeadLetters), or fails the job with the same (Read).
func TestKafkaPipeline(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	kc := kafkatest.Start(t, kafkatest.Topic("views", 1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Write three views through a pipeline.
	enc := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	views := []viewV1{{URL: "/a", User: "u1", Millis: 1}, {URL: "/b", User: "u2", Millis: 2}, {URL: "/c", User: "u3", Millis: 3}}
	p := pipeline.New()
	s := p.Root()
	kafkaio.Write(s, pipelinetest.Create(s, views...), kafkaio.WriteConfig[viewV1]{Brokers: kc.Brokers, Topic: "views", Encode: enc.Encode, Logger: quiet})
	require.NoError(t, local.New(local.Config{Workers: 1, Logger: quiet}).Run(ctx, p))
	written := kc.ReadAll(t, "views")
	require.Len(t, written, 3)
	for _, r := range written {
		id, _, err := schemareg.ParseHeader(r.Value)
		require.NoError(t, err)
		require.Equal(t, 1, id)
	}

	// Then a bad record between good ones, in topics of their own.
	unknownID := append(schemareg.AppendHeader(nil, 4242), written[0].Value[5:]...)
	garbage := []byte("this is not Avro")
	for _, tc := range []struct {
		topic string
		bad   []byte
		is    error
		msg   string
	}{
		{"unknown-id", unknownID, schemareg.ErrUnknownSchema,
			"schemareg avro: schema id 4242: unknown schema: the registry answered 404 (error code 40403): Schema 4242 not found"},
		{"garbage", garbage, schemareg.ErrNotWireFormat,
			"schemareg avro: not in the Schema Registry wire format: first byte is 0x74, want the magic byte 0x00"},
	} {
		kc.CreateTopic(t, tc.topic, 1)
		kc.Produce(t, tc.topic, kafkatest.Record{Value: written[0].Value}, kafkatest.Record{Value: tc.bad}, kafkatest.Record{Value: written[1].Value})
		dec := newAvro[viewV2](t, cl, schemareg.AvroConfig{Schema: viewV2Schema}) // evolution on the way: v1 records read as v2
		cfg := kafkaio.ReadConfig[viewV2]{Brokers: kc.Brokers, Topic: tc.topic, Bounded: true, Decode: dec.Decode, Logger: quiet}
		source := "kafka://" + kc.Brokers[0] + "/" + tc.topic

		t.Run(tc.topic+"/dead letters", func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			vals, dead := kafkaio.ReadWithDeadLetters(s, cfg)
			got := pipelinetest.Collect(s, vals)
			dl := pipelinetest.Collect(s.Scope("dead"), dead)
			r := local.New(local.Config{Workers: 1, Logger: quiet})
			require.NoError(t, r.Run(ctx, p))
			require.ElementsMatch(t, []viewV2{
				{URL: "/a", User: "u1", Millis: 1, Country: "unknown"},
				{URL: "/b", User: "u2", Millis: 2, Country: "unknown"},
			}, got.Values())
			require.Len(t, dl.Values(), 1)
			e := dl.Values()[0]
			require.Equal(t, source, e.Source)
			require.Equal(t, "partition 0 offset 1", e.Location)
			require.Equal(t, tc.bad, e.Raw)
			require.ErrorIs(t, e, tc.is)
			require.EqualError(t, e.Err, tc.msg)
			require.Equal(t, int64(1), r.Stats().TotalDeadLettered())
		})
		t.Run(tc.topic+"/fail", func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			pipelinetest.Collect(s, kafkaio.Read(s, cfg))
			err := local.New(local.Config{Workers: 1, Logger: quiet}).Run(ctx, p)
			require.Error(t, err)
			t.Logf("the job failed with: %v", err)
			var re *pipeline.RecordError
			require.True(t, errors.As(err, &re), "%v", err)
			require.Equal(t, source, re.Source)
			require.Equal(t, "partition 0 offset 1", re.Location)
			require.ErrorIs(t, err, tc.is)
			require.Contains(t, err.Error(), fmt.Sprintf("%s partition 0 offset 1: %s", source, tc.msg))
		})
	}
}

// A registry outage longer than Timeout is not the record's fault: the read fails with ErrRegistry (and
// pipeline.ErrUnavailable) even with a dead-letter output, and nothing is dead-lettered; once the registry is back
// the same records decode. Failed before: the record went to the dead-letter output and the job went on.
func TestRegistryOutageFailsRatherThanDeadLetters(t *testing.T) {
	t.Parallel()
	reg := srtest.Start(t)
	cl := reg.Client(t)
	kc := kafkatest.Start(t, kafkatest.Topic("views", 1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	enc := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	var recs []kafkatest.Record
	for _, v := range []viewV1{{URL: "/a", Millis: 1}, {URL: "/b", Millis: 2}} {
		m, err := enc.Encode(v)
		require.NoError(t, err)
		recs = append(recs, kafkatest.Record{Value: m.Value})
	}
	kc.Produce(t, "views", recs...)

	read := func() (vals []viewV1, dead []*pipeline.RecordError, err error) {
		dec := newAvro[viewV1](t, cl, schemareg.AvroConfig{Schema: viewV1Schema, Timeout: 200 * time.Millisecond, Logger: quiet})
		p := pipeline.New()
		s := p.Root()
		v, d := kafkaio.ReadWithDeadLetters(s, kafkaio.ReadConfig[viewV1]{Brokers: kc.Brokers, Topic: "views", Bounded: true, Decode: dec.Decode, Logger: quiet})
		got, dl := pipelinetest.Collect(s, v), pipelinetest.Collect(s.Scope("dead"), d)
		err = local.New(local.Config{Workers: 1, Logger: quiet}).Run(ctx, p)
		return got.Values(), dl.Values(), err
	}

	reg.SetDown(true)
	_, dead, err := read()
	require.ErrorIs(t, err, schemareg.ErrRegistry)
	require.ErrorIs(t, err, pipeline.ErrUnavailable)
	var re *pipeline.RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "partition 0 offset 0", re.Location)
	require.Empty(t, dead, "a good record is never dead-lettered because the registry is down")

	reg.SetDown(false)
	vals, dead, err := read()
	require.NoError(t, err)
	require.Empty(t, dead)
	require.ElementsMatch(t, []viewV1{{URL: "/a", Millis: 1}, {URL: "/b", Millis: 2}}, vals)
}
