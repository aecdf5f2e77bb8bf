package coder_test

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"math"
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

// BenchmarkKinds measures other shapes: nested values, a map, a slice of integers and a key coder. Besides the
// usual ns/op it reports the fastest chunk of 64 calls per call ("fastest-ns"), which a loaded machine
// disturbs less.
func BenchmarkKinds(b *testing.B) {
	ev := Event{Key: "k", Value: 1, Time: 2, Inner: Inner{Name: "n", Tags: []string{"a", "b"}, Score: 1},
		Ptr: &Inner{Name: "p"}, Levels: [3]Level{1, 2, 3}, hidden: "h"}
	bench(b, "Event", ev)
	ev.Attrs = map[string]int{"a": 1, "b": 2, "c": 3, "d": 4}
	bench(b, "Event+map4", ev)
	vs := make([]int64, 100)
	for i := range vs {
		vs[i] = int64(i * 1000)
	}
	bench(b, "[]int64x100", vs)
	k, err := coder.KeyOf[KV[string, float64]]()
	if err != nil {
		b.Fatal(err)
	}
	kv := KV[string, float64]{"key-000421", 1.5}
	buf := make([]byte, 0, 64)
	b.Run("KeyOf/append", func(b *testing.B) { fastest(b, func() { buf, _ = k.Append(buf[:0], kv) }) })
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
	buf := make([]byte, 0, 1024)
	b.Run(name+"/append", func(b *testing.B) {
		fastest(b, func() { buf, _ = c.Append(buf[:0], v) })
	})
	b.Run(name+"/decode", func(b *testing.B) {
		fastest(b, func() {
			if _, err := c.Decode(enc); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// fastest runs fn in chunks of 64 and reports the fastest chunk's time per call, and the allocations per call.
func fastest(b *testing.B, fn func()) {
	const chunk = 64
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		t0 := time.Now()
		for range chunk {
			fn()
		}
		best = min(best, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(best.Nanoseconds())/chunk, "fastest-ns")
	b.ReportMetric(testing.AllocsPerRun(100, fn), "allocs/call")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkW1Fastest interleaves chunks of appends and decodes of one W1 element by coder.Of, the hand-written
// encoder and encoding/gob (one self-describing gob per value, as internal/coder's fallback did) in one loop, and
// reports for each the fastest chunk's time per value, the ratios to the hand-written code, and the allocations
// per value: on a shared, loaded machine the fastest chunks are those that ran undisturbed.
func BenchmarkW1Fastest(b *testing.B) {
	c, err := coder.Of[w1]()
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := c.Append(nil, w1Value)
	var gb bytes.Buffer
	if err := gob.NewEncoder(&gb).Encode(&w1Value); err != nil {
		b.Fatal(err)
	}
	gobEnc := gb.Bytes()
	buf := make([]byte, 0, 64)
	steps := []struct {
		name  string
		chunk int
		run   func()
	}{
		{"coder-append", 256, func() { buf, _ = c.Append(buf[:0], w1Value) }},
		{"hand-append", 256, func() { buf = handAppend(buf[:0], w1Value) }},
		{"gob-append", 16, func() {
			var out bytes.Buffer
			_ = gob.NewEncoder(&out).Encode(&w1Value)
		}},
		{"coder-decode", 256, func() { sinkW1, _ = c.Decode(enc) }},
		{"hand-decode", 256, func() { sinkW1, _ = handDecode(enc) }},
		{"gob-decode", 16, func() { _ = gob.NewDecoder(bytes.NewReader(gobEnc)).Decode(&sinkW1) }},
	}
	best := make([]time.Duration, len(steps))
	for i := range best {
		best[i] = time.Hour
	}
	for b.Loop() {
		for i, s := range steps {
			t0 := time.Now()
			for range s.chunk {
				s.run()
			}
			best[i] = min(best[i], time.Since(t0))
		}
	}
	b.StopTimer()
	ns := make([]float64, len(steps))
	for i, s := range steps {
		ns[i] = float64(best[i].Nanoseconds()) / float64(s.chunk)
		b.ReportMetric(ns[i], s.name+"-ns")
		b.ReportMetric(testing.AllocsPerRun(100, s.run), s.name+"-allocs")
	}
	b.ReportMetric(ns[0]/ns[1], "append-ratio")
	b.ReportMetric(ns[3]/ns[4], "decode-ratio")
	b.ReportMetric(0, "ns/op")
}

var sinkW1 w1
