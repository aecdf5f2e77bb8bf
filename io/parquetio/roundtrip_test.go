package parquetio_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/parquetio"
	"github.com/kappaflow/kappa/pipeline"
)

type address struct {
	Street string  `parquet:"street"`
	Zip    *string `parquet:"zip,optional"`
}

type item struct {
	SKU string  `parquet:"sku"`
	Qty int32   `parquet:"qty"`
	Tag *string `parquet:"tag,optional"`
}

// allKinds has a field of every kind parquetio supports (as parquet-go maps them).
type allKinds struct {
	I8       int8              `parquet:"i8"`
	I16      int16             `parquet:"i16"`
	I32      int32             `parquet:"i32"`
	I64      int64             `parquet:"i64"`
	U8       uint8             `parquet:"u8"`
	U16      uint16            `parquet:"u16"`
	U32      uint32            `parquet:"u32"`
	U64      uint64            `parquet:"u64"`
	F32      float32           `parquet:"f32"`
	F64      float64           `parquet:"f64"`
	Bool     bool              `parquet:"bool"`
	Str      string            `parquet:"str"`
	Enum     string            `parquet:"enum,enum"`
	Bytes    []byte            `parquet:"bytes"`
	Fixed    [4]byte           `parquet:"fixed"`
	UUID     [16]byte          `parquet:"uuid,uuid"`
	JSON     string            `parquet:"json,json"`
	TsMilli  time.Time         `parquet:"ts_milli,timestamp(millisecond)"`
	TsMicro  time.Time         `parquet:"ts_micro,timestamp(microsecond)"`
	TsNano   time.Time         `parquet:"ts_nano,timestamp(nanosecond)"`
	TsInt    int64             `parquet:"ts_int,timestamp(millisecond)"`
	Date     int32             `parquet:"date,date"` // days since 1970-01-01; parquet-go v0.32.0 mis-writes time.Time as date
	Dur      time.Duration     `parquet:"dur"`
	OptInt   *int64            `parquet:"opt_int,optional"`
	OptStr   *string           `parquet:"opt_str,optional"`
	OptTime  *time.Time        `parquet:"opt_time,optional,timestamp(millisecond)"`
	Nested   address           `parquet:"nested"`
	OptNest  *address          `parquet:"opt_nest,optional"`
	List     []string          `parquet:"list,list"`
	Repeated []int64           `parquet:"repeated"`
	Items    []item            `parquet:"items,list"`
	Map      map[string]int64  `parquet:"map"`
	MapNest  map[string]string `parquet:"map_nest"`
	Skipped  string            `parquet:"-"`
}

func sampleKinds() []allKinds {
	s, z := "s", "10115"
	n := int64(-42)
	ts := time.Date(2016, 9, 21, 18, 30, 1, 123456789, time.UTC)
	full := allKinds{
		I8: -8, I16: -16, I32: -32, I64: -64, U8: 8, U16: 16, U32: 32, U64: 1 << 63, F32: 1.5, F64: -2.25, Bool: true,
		Str: "héllo", Enum: "RED", Bytes: []byte{0, 1, 2, 255}, Fixed: [4]byte{1, 2, 3, 4},
		UUID: [16]byte{0xde, 0xad, 0xbe, 0xef, 15: 1}, JSON: `{"a":1}`,
		TsMilli: ts.Truncate(time.Millisecond), TsMicro: ts.Truncate(time.Microsecond), TsNano: ts,
		TsInt: ts.UnixMilli(), Date: 17065, Dur: 90 * time.Second,
		OptInt: &n, OptStr: &s, OptTime: &ts,
		Nested: address{Street: "Main", Zip: &z}, OptNest: &address{Street: "Side"},
		List: []string{"a", "b"}, Repeated: []int64{1, 2, 3},
		Items: []item{{SKU: "x", Qty: 2, Tag: &s}, {SKU: "y", Qty: 1}},
		Map:   map[string]int64{"k1": 1, "k2": 2}, MapNest: map[string]string{"a": "b"},
	}
	optTime := ts.Truncate(time.Millisecond)
	full.OptTime = &optTime
	empty := allKinds{TsMilli: time.UnixMilli(0).UTC(),
		TsMicro: time.UnixMilli(0).UTC(), TsNano: time.UnixMilli(0).UTC()}
	return []allKinds{full, empty}
}

// normalize maps the values parquet-go reads back for empty inputs to what was written.
func normalize(v allKinds) allKinds {
	if len(v.List) == 0 {
		v.List = nil
	}
	if len(v.Repeated) == 0 {
		v.Repeated = nil
	}
	if len(v.Items) == 0 {
		v.Items = nil
	}
	if len(v.Map) == 0 {
		v.Map = nil
	}
	if len(v.MapNest) == 0 {
		v.MapNest = nil
	}
	if len(v.Bytes) == 0 {
		v.Bytes = nil
	}
	return v
}

func TestRoundTripEveryFieldKind(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			want := sampleKinds()
			sink, err := parquetio.NewSink(parquetio.WriteConfig[allKinds]{URL: b.URL("kinds/"), S3: b.s3, Logger: quiet})
			require.NoError(t, err)
			commitAll(t, sink, globalElems(want), pipeline.Epoch{ID: 1, Watermark: pipeline.MaxTime, Final: true})

			src, err := parquetio.NewSource(parquetio.ReadConfig[allKinds]{URL: b.URL("kinds/"), S3: b.s3, TimeColumn: "ts_milli", Logger: quiet})
			require.NoError(t, err)
			d, err := drain[allKinds](t, src, pipeline.Limits{MaxRecords: 10})
			require.NoError(t, err)
			require.Len(t, d.values, len(want))
			for i := range want {
				require.Equal(t, normalize(want[i]), normalize(d.values[i]), "record %d", i)
				require.Equal(t, pipeline.TimeOf(want[i].TsMilli), d.times[i])
			}
		})
	}
}
