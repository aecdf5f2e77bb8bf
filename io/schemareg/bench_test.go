package schemareg_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/internal/testsvc/srtest"
	"github.com/kappaflow/kappa/io/schemareg"
)

// BenchmarkAvroDecode decodes page views in the wire format with the codec, against a plain hamba/avro loop over
// the same payloads without the header: same schema, and writer v1 resolved to reader v2 (a composite schema).
// Reported: records/s of each and their ratio (hamba's time / schemareg's: 1 is no overhead).
//
//	go test -run '^$' -bench BenchmarkAvroDecode -benchtime 2000x -count 3 ./io/schemareg/
func BenchmarkAvroDecode(b *testing.B) {
	reg := srtest.Start(b)
	cl := reg.Client(b)
	const n = 1024
	enc := func(schema string) [][]byte {
		a, err := schemareg.NewAvro[viewV1](cl, schemareg.AvroConfig{Schema: schema, Topic: "views", Register: true})
		require.NoError(b, err)
		recs := make([][]byte, n)
		for i := range recs {
			recs[i], err = a.AppendEncode(nil, viewV1{URL: fmt.Sprintf("/articles/%d/comments", i), User: fmt.Sprintf("user-%d", i%97), Millis: 1_700_000_000_000 + int64(i)})
			require.NoError(b, err)
		}
		return recs
	}
	v1recs := enc(viewV1Schema)
	v2recs := enc(viewV2Schema)
	v2 := avro.MustParse(viewV2Schema)
	resolved, err := avro.NewSchemaCompatibility().Resolve(avro.MustParse(viewV2Schema), avro.MustParse(viewV1Schema))
	require.NoError(b, err)

	dec, err := schemareg.NewAvro[viewV2](cl, schemareg.AvroConfig{Schema: viewV2Schema})
	require.NoError(b, err)
	viaCodec := func(rec []byte) error { _, err := dec.DecodeBytes(rec); return err }
	b.Run("same-schema", func(b *testing.B) {
		versus(b, v2recs, viaCodec, func(rec []byte) error { var v viewV2; return avro.Unmarshal(v2, rec[5:], &v) })
	})
	b.Run("v1-to-v2", func(b *testing.B) {
		versus(b, v1recs, viaCodec, func(rec []byte) error { var v viewV2; return avro.Unmarshal(resolved, rec[5:], &v) })
	})
}

// versus runs both functions over every record of recs, b.N times, alternating which goes first, and reports
// each one's records/s and their ratio. Interleaving keeps the comparison fair on a machine whose load drifts.
func versus(b *testing.B, recs [][]byte, codec, plain func([]byte) error) {
	b.ReportAllocs()
	var tc, tp time.Duration
	pass := func(f func([]byte) error) time.Duration {
		start := time.Now()
		for _, r := range recs {
			if err := f(r); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			tc += pass(codec)
			tp += pass(plain)
		} else {
			tp += pass(plain)
			tc += pass(codec)
		}
	}
	n := float64(b.N * len(recs))
	b.ReportMetric(n/tc.Seconds(), "schemareg-records/s")
	b.ReportMetric(n/tp.Seconds(), "hamba-records/s")
	b.ReportMetric(tp.Seconds()/tc.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAvroEncode encodes page views with the codec (AppendEncode into a reused buffer) against hamba's
// Marshal (the codec appends to a reused buffer; Marshal returns a new slice).
//
//	go test -run '^$' -bench BenchmarkAvroEncode -benchtime 2000x -count 3 ./io/schemareg/
func BenchmarkAvroEncode(b *testing.B) {
	reg := srtest.Start(b)
	a, err := schemareg.NewAvro[viewV1](reg.Client(b), schemareg.AvroConfig{Schema: viewV1Schema, Topic: "views", Register: true})
	require.NoError(b, err)
	v := viewV1{URL: "/articles/42/comments", User: "user-42", Millis: 1_700_000_000_000}
	schema := avro.MustParse(viewV1Schema)
	recs := make([][]byte, 1024) // versus runs over records: here, the encoding of v that many times
	var buf []byte
	versus(b, recs, func([]byte) error {
		buf, err = a.AppendEncode(buf[:0], v)
		return err
	}, func([]byte) error {
		_, err := avro.Marshal(schema, v)
		return err
	})
}
