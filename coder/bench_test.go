package coder_test

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kappaflow/kappa/coder"
)

// w1 is W1's element (../shared/bench/WORKLOAD.md): a key, a value and an event time.
type w1 struct {
	Key   string
	Value int64
	Time  int64
}

var w1Value = w1{Key: "key-000421", Value: 421, Time: 1_767_225_600_123}

// handAppend is the hand-written encoding of w1 with encoding/binary, in the same format as coder.Of.
func handAppend(dst []byte, v w1) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v.Key)))
	dst = append(dst, v.Key...)
	dst = binary.AppendVarint(dst, v.Value)
	return binary.AppendVarint(dst, v.Time)
}

func handDecode(b []byte) (w1, error) {
	var v w1
	n, i := binary.Uvarint(b)
	if i <= 0 || n > uint64(len(b)-i) {
		return v, errors.New("bad key")
	}
	v.Key = string(b[i : i+int(n)])
	b = b[i+int(n):]
	x, i := binary.Varint(b)
	if i <= 0 {
		return v, errors.New("bad value")
	}
	v.Value, b = x, b[i:]
	if v.Time, i = binary.Varint(b); i <= 0 || i != len(b) {
		return v, errors.New("bad time")
	}
	return v, nil
}

func BenchmarkW1Append(b *testing.B) {
	b.Run("coder", func(b *testing.B) {
		c, err := coder.Of[w1]()
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = c.Append(buf[:0], w1Value)
		}
	})
	b.Run("hand", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			buf = handAppend(buf[:0], w1Value)
		}
	})
	b.Run("gob", func(b *testing.B) {
		// As internal/coder's fallback: one self-describing gob per value.
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(&w1Value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gob-stream", func(b *testing.B) {
		// One gob stream for all values (type sent once): gob's best case, not usable per element.
		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&w1Value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkW1Decode(b *testing.B) {
	c, err := coder.Of[w1]()
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := c.Append(nil, w1Value)
	b.Run("coder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := handDecode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gob", func(b *testing.B) {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&w1Value); err != nil {
			b.Fatal(err)
		}
		g := buf.Bytes()
		b.ReportAllocs()
		for b.Loop() {
			var v w1
			if err := gob.NewDecoder(bytes.NewReader(g)).Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkKinds measures other shapes: a key coder, nested values and a map.
func BenchmarkKinds(b *testing.B) {
	ev := Event{Key: "k", Value: 1, Time: 2, Inner: Inner{Name: "n", Tags: []string{"a", "b"}, Score: 1},
		Ptr: &Inner{Name: "p"}, Levels: [3]Level{1, 2, 3}, hidden: "h"}
	bench(b, "Event", ev)
	ev.Attrs = map[string]int{"a": 1, "b": 2, "c": 3, "d": 4}
	bench(b, "Event+map4", ev)
	bench(b, "[]int64x100", make([]int64, 100))
	k, err := coder.KeyOf[KV[string, float64]]()
	if err != nil {
		b.Fatal(err)
	}
	kv := KV[string, float64]{"key-000421", 1.5}
	b.Run("KeyOf/append", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = k.Append(buf[:0], kv)
		}
	})
}

func bench[T any](b *testing.B, name string, v T) {
	c, err := coder.Of[T]()
	if err != nil {
		b.Fatal(err)
	}
	enc, err := c.Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(name+"/append", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			buf, _ = c.Append(buf[:0], v)
		}
	})
	b.Run(name+"/decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := c.Decode(enc); err != nil {
				b.Fatal(fmt.Sprint(err))
			}
		}
	})
}

// BenchmarkW1Ratio interleaves chunks of coder.Of and hand-written appends (and decodes) in one loop and reports,
// for each, the fastest chunk's time per value and their ratio: on a shared, loaded machine the fastest chunks
// are those that ran undisturbed.
func BenchmarkW1Ratio(b *testing.B) {
	c, err := coder.Of[w1]()
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := c.Append(nil, w1Value)
	const chunk = 256
	buf := make([]byte, 0, 64)
	best := [4]time.Duration{time.Hour, time.Hour, time.Hour, time.Hour}
	for b.Loop() {
		var t [5]time.Time
		t[0] = time.Now()
		for range chunk {
			buf, _ = c.Append(buf[:0], w1Value)
		}
		t[1] = time.Now()
		for range chunk {
			buf = handAppend(buf[:0], w1Value)
		}
		t[2] = time.Now()
		for range chunk {
			sinkW1, _ = c.Decode(enc)
		}
		t[3] = time.Now()
		for range chunk {
			sinkW1, _ = handDecode(enc)
		}
		t[4] = time.Now()
		for k := range best {
			best[k] = min(best[k], t[k+1].Sub(t[k]))
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / chunk }
	b.ReportMetric(per(best[0]), "coder-append-ns")
	b.ReportMetric(per(best[1]), "hand-append-ns")
	b.ReportMetric(per(best[0])/per(best[1]), "append-ratio")
	b.ReportMetric(per(best[2]), "coder-decode-ns")
	b.ReportMetric(per(best[3]), "hand-decode-ns")
	b.ReportMetric(per(best[2])/per(best[3]), "decode-ratio")
	b.ReportMetric(0, "ns/op")
}

var sinkW1 w1
