package kinesisio_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/kinesisio"
	"github.com/kappaflow/kappa/pipeline"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    kinesisio.URL
		wantErr string
	}{
		{in: "events", want: kinesisio.URL{Stream: "events"}},
		{in: "kinesis://events", want: kinesisio.URL{Stream: "events"}},
		{in: "kinesis://w1.v2_x-y/", want: kinesisio.URL{Stream: "w1.v2_x-y"}},
		{in: "kinesis://events?endpoint=http://127.0.0.1:4567&region=eu-west-1", want: kinesisio.URL{Stream: "events", Endpoint: "http://127.0.0.1:4567", Region: "eu-west-1"}},
		{in: "kafka://events", wantErr: `kinesisio: stream URL "kafka://events": scheme is not kinesis://`},
		{in: "kinesis://", wantErr: `kinesisio: stream URL "kinesis://": stream name "" is not 1 to 128 of [a-zA-Z0-9_.-]`},
		{in: "kinesis://a/b", wantErr: `kinesisio: stream URL "kinesis://a/b": stream name "a/b" is not 1 to 128 of [a-zA-Z0-9_.-]`},
		{in: "kinesis://e?shards=3", wantErr: `kinesisio: stream URL "kinesis://e?shards=3": unknown parameter "shards" (want endpoint, region)`},
		{in: "kinesis://e?endpoint=127.0.0.1:4567", wantErr: `kinesisio: stream URL "kinesis://e?endpoint=127.0.0.1:4567": endpoint "127.0.0.1:4567" is not an http(s) URL`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := kinesisio.ParseURL(tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			again, err := kinesisio.ParseURL(got.String())
			require.NoError(t, err)
			require.Equal(t, got, again, "String round-trips")
		})
	}
}

func TestReadConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  kinesisio.ReadConfig[string]
		want string
	}{
		{"minimal", kinesisio.ReadConfig[string]{Stream: "s"}, ""},
		{"no stream", kinesisio.ReadConfig[string]{}, "kinesisio: invalid ReadConfig: Stream is required"},
		{"at timestamp without time", kinesisio.ReadConfig[string]{Stream: "s", Start: kinesisio.AtTimestamp},
			"kinesisio: invalid ReadConfig: Start AT_TIMESTAMP needs a StartTime"},
		{"everything wrong", kinesisio.ReadConfig[string]{Stream: "x:y", Start: 7, PollInterval: -1, IteratorMaxAge: -1, MaxRecordsPerCall: 10001, Retry: kinesisio.Retry{Timeout: -time.Second}},
			"kinesisio: invalid ReadConfig: kinesisio: stream URL \"x:y\": stream name \"x:y\" is not 1 to 128 of [a-zA-Z0-9_.-]\n" +
				"unknown Start 7\nPollInterval is negative (-1ns)\nIteratorMaxAge is negative (-1ns)\nMaxRecordsPerCall 10001 is outside [0, 10000]\n" +
				"Retry.Timeout is negative (-1s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestWriteConfigValidate(t *testing.T) {
	enc := func(s string) (string, []byte, error) { return s, []byte(s), nil }
	tests := []struct {
		name string
		cfg  kinesisio.WriteConfig[string]
		want string
	}{
		{"minimal", kinesisio.WriteConfig[string]{Stream: "s", Encoder: enc}, ""},
		{"no encoder", kinesisio.WriteConfig[string]{Stream: "s"}, "kinesisio: invalid WriteConfig: Encoder is required"},
		{"limits", kinesisio.WriteConfig[string]{Stream: "s", Encoder: enc, MaxBatchRecords: 501, MaxBatchBytes: 5<<20 + 1},
			"kinesisio: invalid WriteConfig: MaxBatchRecords 501 is outside [0, 500]\nMaxBatchBytes 5242881 is outside [0, 5242880]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestStartString(t *testing.T) {
	require.Equal(t, []string{"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "Start(9)"},
		[]string{kinesisio.TrimHorizon.String(), kinesisio.Latest.String(), kinesisio.AtTimestamp.String(), kinesisio.Start(9).String()})
}

// TestPipelineAPI builds pipelines with Read, ReadWithDeadLetters and Write, and checks that invalid configs
// become construction errors.
func TestPipelineAPI(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	in := kinesisio.Read(s, kinesisio.ReadConfig[[]byte]{Stream: "kinesis://in"})
	good, bad := kinesisio.ReadWithDeadLetters(s.Scope("dlq"), kinesisio.ReadConfig[event]{Stream: "in2"})
	kinesisio.Write(s, good, kinesisio.WriteConfig[event]{Stream: "out", Encoder: kinesisio.JSONEncoder(func(e event) string { return e.Key })})
	require.NoError(t, p.Err())
	require.True(t, in.Valid() && good.Valid() && bad.Valid())
	require.False(t, in.Collection().Bounded())
	var names []string
	for _, tr := range p.Transforms() {
		names = append(names, tr.Name()+" "+tr.Op().(interface{ String() string }).String())
	}
	require.Equal(t, []string{"Read Read(kinesis://in)", "dlq/Read Read(kinesis://in2)", "Write Write(kinesis://out)"}, names)

	p2 := pipeline.New()
	s2 := p2.Root().Scope("job")
	bad2 := kinesisio.Read(s2, kinesisio.ReadConfig[string]{})
	kinesisio.Write(s2, bad2, kinesisio.WriteConfig[string]{Stream: "out"})
	require.EqualError(t, p2.Err(), "job: kinesisio.Read: kinesisio: invalid ReadConfig: Stream is required\n"+
		"job: kinesisio.Write: kinesisio: invalid WriteConfig: Encoder is required")
}
