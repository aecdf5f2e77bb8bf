package coder_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/kappaflow/kappa/coder"
)

// fuzzed has a part of every kind, recursion and a marshaler.
type fuzzed struct {
	S   string
	I   int32
	U   uint16
	F   float64
	B   bool
	Bs  []byte
	Arr [3]int8
	Sl  []Inner
	M   map[string]*Node
	P   *fuzzed
	T   time.Time
	C   complex64
	E   either[int, string]
	Z   []ZeroSized
	G   Graph
}

// FuzzDecode feeds random bytes to Decode: it must return an error or a value, never panic, and a decoded
// value must encode to bytes that decode and encode to the same bytes again.
func FuzzDecode(f *testing.F) {
	c, err := coder.Of[fuzzed]()
	if err != nil {
		f.Fatal(err)
	}
	k, err := coder.KeyOf[KV[string, float64]]()
	if err != nil {
		f.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, v := range []fuzzed{
		{},
		{S: "s", I: -1, U: 7, F: 1.5, B: true, Bs: []byte("x"), Arr: [3]int8{1, -1, 2}, Sl: []Inner{{Name: "n", Tags: []string{"t"}}},
			M: map[string]*Node{"a": {V: 1, Next: &Node{V: 2}}, "b": nil}, P: &fuzzed{S: "inner"}, T: ts, C: 1 + 2i,
			E: either[int, string]{b: "r", right: true}, Z: make([]ZeroSized, 3), G: Graph{"g": {}}},
	} {
		b, err := c.Append(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	kb, _ := k.Append(nil, KV[string, float64]{"key", -0.5})
	f.Add(kb)
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := c.Decode(b); err == nil {
			b1, err := c.Append(nil, v)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			v2, err := c.Decode(b1)
			if err != nil {
				t.Fatalf("decode re-encoded % x: %v", b1, err)
			}
			b2, err := c.Append(nil, v2)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(b1, b2) {
				t.Fatalf("not stable:\n% x\n% x", b1, b2)
			}
		}
		if v, err := k.Decode(b); err == nil {
			b1, err := k.Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			v2, err := k.Decode(b1)
			if err != nil || (v2 != v && v.Value == v.Value) {
				t.Fatalf("key %v → % x → %v, %v", v, b1, v2, err)
			}
		}
	})
}
