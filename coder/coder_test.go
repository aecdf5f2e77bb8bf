package coder_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/coder"
)

type Level int32

type Celsius float64

type ID string

type Blob []byte

type Inner struct {
	Name  string
	Tags  []string
	Score float32
}

type Event struct {
	Key    string
	Value  int64
	Time   int64
	Inner  Inner
	Ptr    *Inner
	Attrs  map[string]int
	Levels [3]Level
	Hash   [16]byte
	hidden string
	_      int64
	count  uint16
}

// either is CoGroupByKey's tagged union: unexported fields only.
type either[A, B any] struct {
	a     A
	b     B
	right bool
}

type KV[K comparable, V any] struct {
	Key   K
	Value V
}

type Node struct {
	V    int
	Next *Node
}

type Tree struct {
	Label string
	Kids  []Tree
}

type Graph map[string]Graph

type Embedded struct {
	Inner
	Extra int
}

type WithTime struct {
	At   time.Time
	When *time.Time
	Addr netip.Addr
}

// Point marshals itself (value receiver) and unmarshals with a pointer receiver.
type Point struct{ x, y int }

func (p Point) MarshalBinary() ([]byte, error) { return []byte(fmt.Sprintf("%d,%d", p.x, p.y)), nil }

func (p *Point) UnmarshalBinary(b []byte) error {
	_, err := fmt.Sscanf(string(b), "%d,%d", &p.x, &p.y)
	return err
}

// Shape has an interface field and marshals itself, which is the way to encode interfaces.
type Shape struct{ S fmt.Stringer }

type named string

func (n named) String() string { return string(n) }

func (s Shape) MarshalBinary() ([]byte, error) { return []byte(s.S.String()), nil }

func (s *Shape) UnmarshalBinary(b []byte) error {
	s.S = named(b)
	return nil
}

type ZeroSized struct{}

type OnlyBlank struct{ _ int64 }

func roundTrip[T any](t *testing.T, v T) []byte {
	t.Helper()
	c, err := coder.Of[T]()
	require.NoError(t, err)
	b, err := c.Append(nil, v)
	require.NoError(t, err)
	got, err := c.Decode(b)
	require.NoError(t, err, "% x", b)
	require.Equal(t, v, got)
	// Appending to a buffer with content keeps it and adds the same bytes.
	b2, err := c.Append([]byte("prefix"), v)
	require.NoError(t, err)
	require.Equal(t, append([]byte("prefix"), b...), b2)
	return b
}

func TestRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 23, 10, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"bool", func(t *testing.T) { roundTrip(t, true); roundTrip(t, false) }},
		{"int", func(t *testing.T) { roundTrip(t, math.MinInt); roundTrip(t, math.MaxInt); roundTrip(t, 0) }},
		{"int8", func(t *testing.T) { roundTrip(t, int8(-128)); roundTrip(t, int8(127)) }},
		{"int16", func(t *testing.T) { roundTrip(t, int16(math.MinInt16)); roundTrip(t, int16(math.MaxInt16)) }},
		{"int32", func(t *testing.T) { roundTrip(t, int32(math.MinInt32)); roundTrip(t, int32(math.MaxInt32)) }},
		{"int64", func(t *testing.T) {
			roundTrip(t, int64(math.MinInt64))
			roundTrip(t, int64(-1))
			roundTrip(t, int64(1)<<40)
		}},
		{"uint", func(t *testing.T) { roundTrip(t, uint(math.MaxUint)) }},
		{"uint8", func(t *testing.T) { roundTrip(t, uint8(255)) }},
		{"uint16", func(t *testing.T) { roundTrip(t, uint16(math.MaxUint16)) }},
		{"uint32", func(t *testing.T) { roundTrip(t, uint32(math.MaxUint32)) }},
		{"uint64", func(t *testing.T) { roundTrip(t, uint64(math.MaxUint64)) }},
		{"uintptr", func(t *testing.T) { roundTrip(t, uintptr(0xdeadbeef)) }},
		{"float32", func(t *testing.T) {
			roundTrip(t, float32(3.5))
			roundTrip(t, float32(math.Inf(-1)))
			roundTrip(t, float32(math.SmallestNonzeroFloat32))
		}},
		{"float64", func(t *testing.T) {
			roundTrip(t, math.Pi)
			roundTrip(t, math.Inf(1))
			require.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 0x80}, roundTrip(t, math.Copysign(0, -1)), "-0 keeps its sign")
		}},
		{"complex", func(t *testing.T) { roundTrip(t, complex64(1+2i)); roundTrip(t, complex(math.E, -math.Pi)) }},
		{"string", func(t *testing.T) {
			roundTrip(t, "")
			roundTrip(t, "héllo, 世界")
			roundTrip(t, strings.Repeat("x", 1000))
			roundTrip(t, "\xff\xfe not UTF-8")
		}},
		{"bytes", func(t *testing.T) {
			require.Equal(t, []byte{0}, roundTrip(t, []byte(nil)))
			require.Equal(t, []byte{1}, roundTrip(t, []byte{}))
			roundTrip(t, []byte{0, 1, 2, 255})
		}},
		{"named scalars", func(t *testing.T) {
			roundTrip(t, Level(-7))
			roundTrip(t, Celsius(-40))
			roundTrip(t, ID("user-1"))
			roundTrip(t, Blob("raw"))
			roundTrip(t, time.Duration(-time.Hour))
		}},
		{"arrays", func(t *testing.T) {
			roundTrip(t, [4]int{1, -2, 3, -4})
			roundTrip(t, [16]byte{1, 2, 3, 15: 16})
			roundTrip(t, [0]string{})
			roundTrip(t, [2][3]string{{"a", "b", "c"}, {"d", "", "f"}})
			roundTrip(t, [40]Inner{3: {Name: "x", Tags: []string{"t"}}, 39: {Score: 1}})
		}},
		{"slices", func(t *testing.T) {
			require.Equal(t, []byte{0}, roundTrip(t, []string(nil)))
			require.Equal(t, []byte{1}, roundTrip(t, []string{}))
			roundTrip(t, []string{"a", "", "c"})
			roundTrip(t, []int64{-1, 0, 1 << 50})
			roundTrip(t, [][]int{nil, {}, {1, 2}})
			roundTrip(t, []Inner{{Name: "a", Tags: []string{"x"}, Score: 2}, {}})
			roundTrip(t, []*int{nil, new(int)})
			roundTrip(t, make([]ZeroSized, 1000))
			roundTrip(t, make([]OnlyBlank, 3))
		}},
		{"maps", func(t *testing.T) {
			require.Equal(t, []byte{0}, roundTrip(t, map[string]int(nil)))
			require.Equal(t, []byte{1}, roundTrip(t, map[string]int{}))
			roundTrip(t, map[string]int{"a": 1, "b": 2, "c": -3})
			roundTrip(t, map[int][]string{1: {"x"}, 2: nil})
			roundTrip(t, map[KV[string, int]]map[string]bool{{"k", 1}: {"t": true}, {"k", 2}: nil})
			roundTrip(t, map[ZeroSized]int{{}: 5})
		}},
		{"pointers", func(t *testing.T) {
			require.Equal(t, []byte{0}, roundTrip(t, (*int)(nil)))
			x := 42
			roundTrip(t, &x)
			px := &x
			roundTrip(t, &px)
			roundTrip(t, &Inner{Name: "p"})
		}},
		{"structs", func(t *testing.T) {
			roundTrip(t, Event{})
			roundTrip(t, Event{
				Key: "k", Value: -5, Time: 1_700_000_000_000,
				Inner:  Inner{Name: "in", Tags: []string{"a", "b"}, Score: 1.5},
				Ptr:    &Inner{Name: "ptr"},
				Attrs:  map[string]int{"x": 1, "y": 2},
				Levels: [3]Level{1, 2, 3},
				Hash:   [16]byte{9: 9},
				hidden: "unexported", count: 65535,
			})
			roundTrip(t, struct{}{})
			roundTrip(t, struct {
				A int
				B string
			}{1, "anonymous"})
			roundTrip(t, Embedded{Inner: Inner{Name: "e"}, Extra: 3})
		}},
		{"unexported fields", func(t *testing.T) {
			roundTrip(t, either[int, string]{a: 7})
			roundTrip(t, either[int, string]{b: "right", right: true})
			roundTrip(t, KV[string, either[[]byte, Event]]{"k", either[[]byte, Event]{b: Event{hidden: "h"}, right: true}})
		}},
		{"recursive", func(t *testing.T) {
			var list *Node
			for i := range 1000 {
				list = &Node{V: i, Next: list}
			}
			roundTrip(t, list)
			roundTrip(t, Node{V: 1, Next: &Node{V: 2}})
			roundTrip(t, Tree{Label: "root", Kids: []Tree{{Label: "a"}, {Label: "b", Kids: []Tree{{Label: "c"}}}}})
			roundTrip(t, Graph{"a": {"b": {"c": nil}}, "d": {}})
		}},
		{"marshalers", func(t *testing.T) {
			roundTrip(t, ts)
			roundTrip(t, Point{3, -4})
			roundTrip(t, []Point{{1, 2}, {3, 4}})
			roundTrip(t, map[Point]Point{{1, 1}: {2, 2}})
			roundTrip(t, WithTime{At: ts, When: &ts, Addr: netip.MustParseAddr("2001:db8::1")})
			roundTrip(t, WithTime{})
			roundTrip(t, Shape{S: named("circle")})
		}},
		{"marshaler output of 200 bytes", func(t *testing.T) {
			// A length prefix of two bytes moves the body.
			roundTrip(t, []Point{{1 << 60, 1 << 61}, {math.MinInt64, 5}, {1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}, {11, 12}, {13, 14}})
			roundTrip(t, Shape{S: named(strings.Repeat("s", 300))})
		}},
		{"kv of grouped values", func(t *testing.T) {
			roundTrip(t, KV[string, []int64]{"k", []int64{1, 2, 3}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestTimeKeepsInstantAndOffset(t *testing.T) {
	// time.Time's MarshalBinary keeps the instant and the zone offset, not the zone's name.
	ts := time.Date(2026, 11, 23, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	c := mustOf[time.Time](t)
	b, err := c.Append(nil, ts)
	require.NoError(t, err)
	got, err := c.Decode(b)
	require.NoError(t, err)
	require.True(t, ts.Equal(got))
	_, off := got.Zone()
	require.Equal(t, 3600, off)
}

func TestFloatRoundTripKeepsBits(t *testing.T) {
	c, err := coder.Of[[]float64]()
	require.NoError(t, err)
	in := []float64{math.NaN(), math.Float64frombits(0x7ff0000000000123), math.Copysign(0, -1), 0}
	b, err := c.Append(nil, in)
	require.NoError(t, err)
	out, err := c.Decode(b)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		require.Equal(t, math.Float64bits(in[i]), math.Float64bits(out[i]), "element %d", i)
	}
}

func TestEncodingIsTheDocumentedFormat(t *testing.T) {
	type W1 struct {
		Key   string
		Value int64
		Time  int64
	}
	c, err := coder.Of[W1]()
	require.NoError(t, err)
	b, err := c.Append(nil, W1{"ab", -3, 300})
	require.NoError(t, err)
	require.Equal(t, []byte{2, 'a', 'b', 5, 0xd8, 0x04}, b) // len, bytes, zigzag(-3)=5, zigzag(300)=600 as uvarint
	require.Equal(t, "struct coder_test.W1{Key string; Value int64; Time int64}", c.Name)

	e, err := coder.Of[struct {
		P *int8
		M map[string]bool
		F float32
		B bool
	}]()
	require.NoError(t, err)
	one := int8(-1)
	b, err = e.Append(nil, struct {
		P *int8
		M map[string]bool
		F float32
		B bool
	}{&one, map[string]bool{"b": true, "a": false}, 1, true})
	require.NoError(t, err)
	require.Equal(t, []byte{1, 0xff, 3, 1, 'a', 0, 1, 'b', 1, 0, 0, 0x80, 0x3f, 1}, b)
}

func TestSameBytesStandaloneAndNested(t *testing.T) {
	ev := Event{Key: "k", Attrs: map[string]int{"a": 1}, Ptr: &Inner{Name: "x"}}
	one := roundTrip(t, ev)
	all := roundTrip(t, []Event{ev, ev})
	require.Equal(t, append(append([]byte{3}, one...), one...), all)

	s := coder.Slice(mustOf[Event](t))
	b, err := s.Append(nil, []Event{ev, ev})
	require.NoError(t, err)
	require.Equal(t, all, b, "Slice(Of[T]) encodes as Of[[]T]")
	got, err := s.Decode(b)
	require.NoError(t, err)
	require.Equal(t, []Event{ev, ev}, got)
}

func mustOf[T any](t *testing.T) coder.Coder[T] {
	t.Helper()
	c, err := coder.Of[T]()
	require.NoError(t, err)
	return c
}

func TestSlice(t *testing.T) {
	upper := coder.New("upper",
		func(dst []byte, s string) ([]byte, error) { return append(dst, strings.ToUpper(s)...), nil },
		func(b []byte) (string, error) { return strings.ToLower(string(b)), nil }, true)
	tests := []struct {
		name string
		c    coder.Coder[[]string]
		in   []string
	}{
		{"of nil", coder.Slice(mustOf[string](t)), nil},
		{"of empty", coder.Slice(mustOf[string](t)), []string{}},
		{"of values", coder.Slice(mustOf[string](t)), []string{"a", "", "c"}},
		{"custom nil", coder.Slice(upper), nil},
		{"custom empty", coder.Slice(upper), []string{}},
		{"custom values", coder.Slice(upper), []string{"x", "", strings.Repeat("y", 300)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.c.Append(nil, tt.in)
			require.NoError(t, err)
			got, err := tt.c.Decode(b)
			require.NoError(t, err)
			require.Equal(t, tt.in, got)
			_, err = tt.c.Decode(append(b, 0))
			require.ErrorIs(t, err, coder.ErrMalformed)
			if len(b) > 1 {
				_, err = tt.c.Decode(b[:len(b)-1])
				require.ErrorIs(t, err, coder.ErrMalformed)
			}
		})
	}
	require.Equal(t, "[]upper", coder.Slice(upper).Name)
	require.True(t, coder.Slice(upper).Deterministic)
	require.False(t, coder.Slice(mustOf[float64](t)).Deterministic)
}

func TestDeterministicFlag(t *testing.T) {
	tests := []struct {
		name string
		det  bool
		err  error
	}{
		{"int64", true, flag[int64](t)},
		{"string", true, flag[string](t)},
		{"struct of int and string", true, flag[KV[string, int]](t)},
		{"map", true, flag[map[string][]int](t)},
		{"pointer", true, flag[*Node](t)},
		{"float64 (-0 == +0)", false, flag[float64](t)},
		{"struct with a float", false, flag[Inner](t)},
		{"marshaler", false, flag[time.Time](t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.det {
				require.NoError(t, tt.err)
			} else {
				require.Error(t, tt.err)
			}
		})
	}
	k, err := coder.KeyOf[float64]()
	require.NoError(t, err)
	require.True(t, k.Deterministic)
}

// flag returns an error when Of[T] is not deterministic.
func flag[T any](t *testing.T) error {
	c := mustOf[T](t)
	if !c.Deterministic {
		return errors.New("not deterministic")
	}
	return nil
}

func TestMapsEncodeDeterministically(t *testing.T) {
	c := mustOf[map[string]KV[int, []string]](t)
	var first []byte
	for i := range 100 {
		// A new map each time, filled in a different order.
		m := map[string]KV[int, []string]{}
		for j := range 200 {
			k := (j*7 + i*13) % 200
			m[fmt.Sprintf("key-%d", k)] = KV[int, []string]{k, []string{fmt.Sprint(k)}}
		}
		b, err := c.Append(nil, m)
		require.NoError(t, err)
		if first == nil {
			first = b
			continue
		}
		require.Equal(t, first, b, "encoding %d", i)
	}
	// Nested maps and maps as struct fields too.
	ev := Event{Attrs: map[string]int{}}
	for i := range 50 {
		ev.Attrs[fmt.Sprint(i)] = i
	}
	e := mustOf[Event](t)
	b1, err := e.Append(nil, ev)
	require.NoError(t, err)
	for range 100 {
		b2, err := e.Append(nil, ev)
		require.NoError(t, err)
		require.Equal(t, b1, b2)
	}
}

func TestRecursiveValues(t *testing.T) {
	t.Run("cycle fails to encode", func(t *testing.T) {
		n := &Node{V: 1}
		n.Next = n
		c := mustOf[*Node](t)
		_, err := c.Append(nil, n)
		require.ErrorContains(t, err, "nested more than 10000")
		require.ErrorContains(t, err, "cyclic")
	})
	t.Run("cyclic map fails to encode", func(t *testing.T) {
		g := Graph{}
		g["self"] = g
		_, err := mustOf[Graph](t).Append(nil, g)
		require.ErrorContains(t, err, "cyclic")
	})
	t.Run("deep input fails to decode", func(t *testing.T) {
		b := bytes.Repeat([]byte{1, 0}, 20000) // Node{V: 0, Next: &Node{…}} 20000 deep
		b = append(b, 0)
		_, err := mustOf[Node](t).Decode(b[1:])
		require.ErrorIs(t, err, coder.ErrMalformed)
		require.ErrorContains(t, err, "nested more than 10000 deep")
	})
}

func TestOfRefusals(t *testing.T) {
	type WithFunc struct {
		A       int
		Handler func(int) error
	}
	type Item struct{ Handler func() }
	type Deep struct{ Inner struct{ Items []Item } }
	type WithChan struct{ C chan int }
	type WithIface struct {
		Name    string
		Payload any
	}
	type WithUnsafe struct{ P unsafe.Pointer }
	type WithMap struct{ M map[string]fmt.Stringer }
	type Promoted struct {
		time.Time
		Key string
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"func field", refusal[WithFunc](), "coder: coder_test.WithFunc: field Handler (func(int) error): functions cannot be encoded"},
		{"nested path", refusal[Deep](), "coder: coder_test.Deep: field Inner.Items[].Handler (func()): functions cannot be encoded"},
		{"chan", refusal[WithChan](), "field C (chan int): channels cannot be encoded"},
		{"interface field", refusal[WithIface](), "coder: coder_test.WithIface: field Payload (interface {}): interface types need a coder: implement encoding.BinaryMarshaler and encoding.BinaryUnmarshaler (pointer receiver) on coder_test.WithIface"},
		{"interface", refusal[any](), "coder: interface {}: interface types need a coder: give the collection a coder made with coder.New"},
		{"map value", refusal[WithMap](), "field M[value] (fmt.Stringer): interface types"},
		{"unsafe pointer", refusal[WithUnsafe](), "field P (unsafe.Pointer): unsafe pointers cannot be encoded"},
		{"pointer to func", refusal[*func()](), "coder: *func(): type func(): functions cannot be encoded"},
		{"grouped values", refusal[KV[string, iter.Seq[int]]](), "field Value (iter.Seq[int]): functions cannot be encoded"},
		{"promoted marshaler", refusal[Promoted](), "coder: coder_test.Promoted: its MarshalBinary and UnmarshalBinary are promoted from the embedded field time.Time and would encode that field only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, tt.err, tt.want)
			require.ErrorIs(t, tt.err, coder.ErrUnsupported)
			var te *coder.TypeError
			require.ErrorAs(t, tt.err, &te)
			require.False(t, te.Key)
		})
	}
	// Asking again returns the cached error.
	require.Equal(t, refusal[WithFunc]().Error(), refusal[WithFunc]().Error())
}

func refusal[T any]() error {
	_, err := coder.Of[T]()
	return err
}

func keyRefusal[T comparable]() error {
	_, err := coder.KeyOf[T]()
	return err
}

func TestKeyOf(t *testing.T) {
	type Loc struct {
		City string
		At   time.Time
	}
	type WithPtr struct {
		ID  int
		Ref *int
	}
	type WithIface struct{ V any }
	type WithChan struct{ C chan int }
	refusals := []struct {
		name string
		err  error
		want string
	}{
		{"pointer", keyRefusal[*int](), "coder: key type *int: pointers compare by address"},
		{"pointer field", keyRefusal[WithPtr](), "coder: key type coder_test.WithPtr: field Ref (*int): pointers compare by address"},
		{"interface", keyRefusal[any](), "coder: key type interface {}: interfaces compare by dynamic type"},
		{"interface field", keyRefusal[WithIface](), "field V (interface {}): interfaces compare by dynamic type"},
		{"chan", keyRefusal[WithChan](), "field C (chan int): channels compare by identity"},
		{"time.Time", keyRefusal[time.Time](), "coder: key type time.Time: time.Time holds a *time.Location"},
		{"struct with time.Time", keyRefusal[Loc](), "coder: key type coder_test.Loc: field At (time.Time): time.Time holds a *time.Location"},
		{"array of pointers", keyRefusal[[2]*int](), "field [] (*int): pointers compare by address"},
		{"netip.Addr (a pointer inside)", keyRefusal[netip.Addr](), "coder: key type netip.Addr: field z."},
	}
	for _, tt := range refusals {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			require.ErrorContains(t, tt.err, tt.want)
			require.ErrorIs(t, tt.err, coder.ErrNondeterministic)
			var te *coder.TypeError
			require.ErrorAs(t, tt.err, &te)
			require.True(t, te.Key)
		})
	}

	t.Run("accepts", func(t *testing.T) {
		keyRoundTrip(t, "user-1")
		keyRoundTrip(t, int64(-5))
		keyRoundTrip(t, KV[string, int]{"a", 1})
		keyRoundTrip(t, [4]byte{1, 2, 3, 4})
		keyRoundTrip(t, either[int, string]{b: "x", right: true})
		keyRoundTrip(t, Point{1, 2}) // its fields, not its MarshalBinary
		keyRoundTrip(t, struct{}{})
		keyRoundTrip(t, 2.5)
	})

	t.Run("zeros are equal", func(t *testing.T) {
		negZero := math.Copysign(0, -1)
		require.Equal(t, keyBytes(t, 0.0), keyBytes(t, negZero))
		require.Equal(t, keyBytes(t, float32(0)), keyBytes(t, float32(negZero)))
		require.Equal(t, keyBytes(t, complex(0, 0)), keyBytes(t, complex(negZero, negZero)))
		type K struct {
			Name string
			X    float64
		}
		require.Equal(t, keyBytes(t, K{"a", 0}), keyBytes(t, K{"a", negZero}))
		require.NotEqual(t, keyBytes(t, K{"a", 0}), keyBytes(t, K{"a", 1}))
		// The value coder keeps the sign.
		v := mustOf[float64](t)
		b0, _ := v.Append(nil, 0)
		bn, _ := v.Append(nil, negZero)
		require.NotEqual(t, b0, bn)
	})

	t.Run("NaNs are one NaN", func(t *testing.T) {
		require.Equal(t, keyBytes(t, math.NaN()), keyBytes(t, math.Float64frombits(0x7ff8000000000abc)))
		require.Equal(t, []byte{1, 0, 0, 0, 0, 0, 0xf8, 0x7f}, keyBytes(t, math.NaN()))
		require.Equal(t, []byte{0, 0, 0xc0, 0x7f}, keyBytes(t, float32(math.NaN())))
	})

	t.Run("distinct keys have distinct bytes", func(t *testing.T) {
		seen := map[string]KV[string, int]{}
		for _, s := range []string{"", "a", "ab", "b"} {
			for _, i := range []int{0, 1, -1, 1000} {
				k := KV[string, int]{s, i}
				b := string(keyBytes(t, k))
				prev, dup := seen[b]
				require.False(t, dup, "%v and %v", prev, k)
				seen[b] = k
			}
		}
	})
	c, err := coder.KeyOf[KV[string, int]]()
	require.NoError(t, err)
	require.Equal(t, "key struct coder_test.KV[string,int]{Key string; Value int}", c.Name)
}

func keyRoundTrip[T comparable](t *testing.T, k T) {
	t.Helper()
	c, err := coder.KeyOf[T]()
	require.NoError(t, err)
	require.True(t, c.Deterministic)
	b, err := c.Append(nil, k)
	require.NoError(t, err)
	got, err := c.Decode(b)
	require.NoError(t, err)
	require.Equal(t, k, got)
}

func keyBytes[T comparable](t *testing.T, k T) []byte {
	t.Helper()
	c, err := coder.KeyOf[T]()
	require.NoError(t, err)
	b, err := c.Append(nil, k)
	require.NoError(t, err)
	return b
}

func TestMalformedInput(t *testing.T) {
	ev := Event{
		Key: "k", Value: -5, Time: 1 << 40, Inner: Inner{Name: "in", Tags: []string{"a"}, Score: 1},
		Ptr: &Inner{Name: "p"}, Attrs: map[string]int{"x": 1, "y": 2}, hidden: "h", count: 9,
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	type sample struct {
		name   string
		encode func() ([]byte, error)
		decode func([]byte) error
	}
	samples := []sample{
		sampleOf(t, "event", ev),
		sampleOf(t, "string", "hello"),
		sampleOf(t, "int64", int64(1)<<40),
		sampleOf(t, "uint64", uint64(1)<<40),
		sampleOf(t, "float64", 1.5),
		sampleOf(t, "bytes", []byte("abc")),
		sampleOf(t, "list", &Node{1, &Node{2, nil}}),
		sampleOf(t, "marshalers", WithTime{At: ts, When: &ts}),
		sampleOf(t, "map", map[int]string{1: "a", 2: "b"}),
		sampleOf(t, "slice", []Inner{{Name: "a"}, {Name: "b"}}),
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			b, err := s.encode()
			require.NoError(t, err)
			require.NoError(t, s.decode(b))
			for n := range len(b) {
				err := s.decode(b[:n])
				require.ErrorIs(t, err, coder.ErrMalformed, "truncated to %d of %d bytes", n, len(b))
			}
			err = s.decode(append(b, 0))
			require.ErrorIs(t, err, coder.ErrMalformed)
			require.ErrorContains(t, err, "1 bytes left over")
		})
	}

	t.Run("errors name the field and offset", func(t *testing.T) {
		type P struct {
			A string
			B bool
		}
		_, err := mustOf[P](t).Decode([]byte{1, 'a', 2})
		require.EqualError(t, err, "coder struct coder_test.P{A string; B bool}: decode: malformed encoding: field B at byte 2: bool byte 2 is neither 0 nor 1")
		_, err = mustOf[[]P](t).Decode([]byte{3, 0, 0, 1, 'a', 7})
		require.ErrorContains(t, err, "field [1].B at byte 5: bool byte 7")
	})
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"bad pointer flag", decodeErr[*int]([]byte{2}), "pointer flag 2"},
		{"huge string length", decodeErr[string]([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}), "length 4294967295 exceeds the 1 bytes left"},
		{"huge slice count", decodeErr[[]int64]([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1}), "exceeds what the 1 bytes left can hold"},
		{"huge count of empty elements", decodeErr[[]ZeroSized]([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}), "too large"},
		{"huge count of blank elements", decodeErr[[]OnlyBlank]([]byte{0xff, 0xff, 0xff, 0x7f}), "too large"},
		{"varint overflow", decodeErr[int64](bytes.Repeat([]byte{0xff}, 11)), "overflows 64 bits"},
		{"int32 out of range", decodeErr[int32](binary.AppendVarint(nil, math.MaxInt32+1)), "out of range"},
		{"uint16 out of range", decodeErr[uint16](binary.AppendUvarint(nil, 1<<16)), "out of range"},
		{"duplicate map key", decodeErr[map[string]int]([]byte{3, 1, 'a', 2, 1, 'a', 4}), "duplicate map key"},
		{"two entries for one key value", decodeErr[map[ZeroSized]int]([]byte{3, 2, 4}), "single value"},
		{"marshaler error", decodeErr[time.Time]([]byte{2, 9, 9}), "time.Time.UnmarshalBinary"},
		{"marshaler error in a field", decodeErr[WithTime]([]byte{1, 0xff}), "field At at byte 0: time.Time.UnmarshalBinary"},
		{"empty input", decodeErr[string](nil), "truncated"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.err, coder.ErrMalformed)
			require.ErrorContains(t, tt.err, tt.want)
		})
	}
}

func sampleOf[T any](t *testing.T, name string, v T) struct {
	name   string
	encode func() ([]byte, error)
	decode func([]byte) error
} {
	c := mustOf[T](t)
	return struct {
		name   string
		encode func() ([]byte, error)
		decode func([]byte) error
	}{name, func() ([]byte, error) { return c.Append(nil, v) }, func(b []byte) error {
		_, err := c.Decode(b)
		return err
	}}
}

func decodeErr[T any](b []byte) error {
	c, err := coder.Of[T]()
	if err != nil {
		return err
	}
	_, err = c.Decode(b)
	return err
}

// Failing is a marshaler that fails or panics on request.
type Failing struct{ Mode string }

func (f Failing) MarshalBinary() ([]byte, error) {
	switch f.Mode {
	case "error":
		return nil, errors.New("cannot marshal")
	case "panic":
		panic("marshal panic")
	}
	return []byte(f.Mode), nil
}

func (f *Failing) UnmarshalBinary(b []byte) error {
	switch string(b) {
	case "error":
		return errors.New("cannot unmarshal")
	case "panic":
		panic("unmarshal panic")
	}
	f.Mode = string(b)
	return nil
}

func TestMarshalerFailures(t *testing.T) {
	type Wrap struct {
		N int
		F Failing
	}
	c := mustOf[Wrap](t)
	_, err := c.Append(nil, Wrap{F: Failing{"error"}})
	require.EqualError(t, err, "coder struct coder_test.Wrap{N int; F coder_test.Failing}: encode: field F: coder_test.Failing.MarshalBinary: cannot marshal")
	_, err = c.Append(nil, Wrap{F: Failing{"panic"}})
	require.ErrorContains(t, err, "coder_test.Failing.MarshalBinary panicked: marshal panic")

	_, err = c.Decode([]byte{0, 5, 'e', 'r', 'r', 'o', 'r'})
	require.ErrorContains(t, err, "field F at byte 1: coder_test.Failing.UnmarshalBinary: cannot unmarshal")
	require.ErrorIs(t, err, coder.ErrMalformed)
	_, err = c.Decode([]byte{0, 5, 'p', 'a', 'n', 'i', 'c'})
	require.ErrorContains(t, err, "coder_test.Failing.UnmarshalBinary panicked: unmarshal panic")
}

func TestNewAndLengthPrefix(t *testing.T) {
	c := coder.New[int]("nothing", nil, nil, false)
	_, err := c.Append(nil, 1)
	require.EqualError(t, err, "coder nothing: no Append function")
	_, err = c.Decode(nil)
	require.EqualError(t, err, "coder nothing: no Decode function")

	s := mustOf[string](t)
	values := []string{"", "a", strings.Repeat("b", 127), strings.Repeat("c", 128), strings.Repeat("d", 20000)}
	var buf []byte
	for _, v := range values {
		buf, err = coder.AppendLen(s, buf, v)
		require.NoError(t, err)
	}
	rest := buf
	for _, want := range values {
		var got string
		got, rest, err = coder.ReadLen(s, rest)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	require.Empty(t, rest)

	abc, err := coder.AppendLen(s, nil, "abc")
	require.NoError(t, err)
	for n := range len(abc) {
		_, _, err = coder.ReadLen(s, abc[:n])
		require.ErrorIs(t, err, coder.ErrMalformed, "%d bytes", n)
	}
	_, _, err = coder.ReadLen(s, nil)
	require.ErrorIs(t, err, coder.ErrMalformed)

	failing := coder.New("failing", func(dst []byte, _ int) ([]byte, error) { return append(dst, 1, 2), errors.New("boom") }, nil, false)
	out, err := coder.AppendLen(failing, []byte("keep"), 1)
	require.EqualError(t, err, "boom")
	require.Equal(t, []byte("keep"), out, "a failed AppendLen leaves dst as it was")
}

func TestAppendDoesNotAllocate(t *testing.T) {
	type W1 struct {
		Key   string
		Value int64
		Time  int64
	}
	w := W1{"key-0042", 42, 1_700_000_000_000}
	c := mustOf[W1](t)
	buf := make([]byte, 0, 256)
	require.Zero(t, testing.AllocsPerRun(1000, func() { buf, _ = c.Append(buf[:0], w) }))
	b := append([]byte(nil), buf...)
	require.Equal(t, 1.0, testing.AllocsPerRun(1000, func() { w, _ = c.Decode(b) }), "only the string")

	ev := Event{Key: "k", Inner: Inner{Tags: []string{"a", "b"}}, Ptr: &Inner{Name: "p"}, hidden: "h"}
	e := mustOf[Event](t)
	require.Zero(t, testing.AllocsPerRun(1000, func() { buf, _ = e.Append(buf[:0], ev) }), "slices and pointers")

	k, err := coder.KeyOf[KV[string, float64]]()
	require.NoError(t, err)
	require.Zero(t, testing.AllocsPerRun(1000, func() { buf, _ = k.Append(buf[:0], KV[string, float64]{"k", 1}) }))

	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	wt := WithTime{At: ts, When: &ts, Addr: netip.MustParseAddr("10.0.0.1")}
	tc := mustOf[WithTime](t)
	require.Equal(t, 1.0, testing.AllocsPerRun(1000, func() { buf, _ = tc.Append(buf[:0], wt) }),
		"marshalers get the value's address: it moves to the heap")
	withMap := Event{Attrs: map[string]int{"a": 1, "b": 2}}
	require.LessOrEqual(t, testing.AllocsPerRun(1000, func() { buf, _ = e.Append(buf[:0], withMap) }), 3.0,
		"a map's iteration state and its entry copies")

	s := mustOf[string](t)
	require.Zero(t, testing.AllocsPerRun(1000, func() { buf, _ = s.Append(buf[:0], "key") }))
	g := coder.Slice(mustOf[int64](t))
	vs := []int64{1, 2, 3}
	require.Zero(t, testing.AllocsPerRun(1000, func() { buf, _ = g.Append(buf[:0], vs) }))
}

func TestConcurrentUse(t *testing.T) {
	type Fresh struct {
		A []string
		M map[int]Node
	}
	v := Fresh{A: []string{"a"}, M: map[int]Node{1: {V: 1, Next: &Node{V: 2}}}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				c, err := coder.Of[Fresh]()
				if !assertNoErr(t, err) {
					return
				}
				b, err := c.Append(nil, v)
				if !assertNoErr(t, err) {
					return
				}
				got, err := c.Decode(b)
				if !assertNoErr(t, err) {
					return
				}
				if got.M[1].Next.V != 2 || got.A[0] != "a" {
					t.Errorf("decoded %+v", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func assertNoErr(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// TestStackValuesUnderGC encodes and decodes values that stay on the caller's stack (and values with maps)
// while the GC runs and stacks grow and shrink (deep values, fresh goroutines), and checks every decoded value.
func TestStackValuesUnderGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	type Deep struct {
		Name  string
		List  *Node
		Attrs map[string][]string
		Tags  []string
	}
	var list *Node
	for i := range 300 {
		list = &Node{V: i, Next: list}
	}
	c := mustOf[Deep](t)
	m := mustOf[map[string]Deep](t)
	stop := make(chan struct{})
	var gc sync.WaitGroup
	gc.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				name := fmt.Sprintf("value-%d-%d", g, i)
				v := Deep{Name: name, List: list, Attrs: map[string][]string{name: {name, "x"}}, Tags: []string{name}}
				b, err := c.Append(nil, v)
				if !assertNoErr(t, err) {
					return
				}
				got, err := c.Decode(b)
				if !assertNoErr(t, err) {
					return
				}
				if got.Name != name || got.Tags[0] != name || got.Attrs[name][0] != name || got.List.V != 299 {
					t.Errorf("decoded %q %q %v", got.Name, got.Tags, got.Attrs)
					return
				}
				for n, want := got.List, 299; n != nil; n, want = n.Next, want-1 {
					if n.V != want {
						t.Errorf("list %d, want %d", n.V, want)
						return
					}
				}
				mb, err := m.Append(nil, map[string]Deep{name: v})
				if !assertNoErr(t, err) {
					return
				}
				mg, err := m.Decode(mb)
				if !assertNoErr(t, err) {
					return
				}
				if mg[name].Name != name {
					t.Errorf("map decoded %v", mg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	gc.Wait()
}
