package coder_test

import (
	"fmt"
	"math"
	"time"

	"github.com/kappaflow/kappa/coder"
)

func ExampleOf() {
	type Event struct {
		Key   string
		Value int64
		at    time.Time // unexported fields are encoded too; time.Time by its MarshalBinary
	}
	c, err := coder.Of[Event]()
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := c.Append(nil, Event{Key: "k", Value: 42, at: time.Unix(1700000000, 0).UTC()})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := c.Decode(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Name)
	fmt.Println(ev.Key, ev.Value, ev.at.Format(time.RFC3339))
	// Output:
	// struct coder_test.Event{Key string; Value int64; at time.Time}
	// k 42 2023-11-14T22:13:20Z
}

func ExampleOf_refused() {
	type Job struct {
		Name string
		Run  func() error
	}
	_, err := coder.Of[Job]()
	fmt.Println(err)
	// Output:
	// coder: coder_test.Job: field Run (func() error): functions cannot be encoded
}

func ExampleKeyOf() {
	type Key struct {
		User  string
		Score float64
	}
	k, err := coder.KeyOf[Key]()
	if err != nil {
		fmt.Println(err)
		return
	}
	pos, _ := k.Append(nil, Key{"u", 0})
	neg, _ := k.Append(nil, Key{"u", math.Copysign(0, -1)}) // -0 == +0, so the bytes are equal
	fmt.Printf("%x %x\n", pos, neg)

	_, err = coder.KeyOf[time.Time]()
	fmt.Println(err != nil)
	// Output:
	// 01750000000000000000 01750000000000000000
	// true
}

func ExampleSlice() {
	values := coder.Slice(must(coder.Of[int64]()))
	b, _ := values.Append(nil, []int64{1, -1, 300})
	fmt.Printf("%x\n", b)
	vs, _ := values.Decode(b)
	fmt.Println(vs)
	// Output:
	// 040201d804
	// [1 -1 300]
}

func ExampleAppendLen() {
	s := must(coder.Of[string]())
	var buf []byte
	for _, v := range []string{"a", "bc"} {
		buf, _ = coder.AppendLen(s, buf, v)
	}
	for len(buf) > 0 {
		var v string
		v, buf, _ = coder.ReadLen(s, buf)
		fmt.Println(v)
	}
	// Output:
	// a
	// bc
}

func ExampleNew() {
	// A coder from two functions, for a type that Of encodes otherwise: here strings as their raw bytes (the
	// length is left to the container, as in AppendLen).
	raw := coder.New("raw string",
		func(dst []byte, s string) ([]byte, error) { return append(dst, s...), nil },
		func(b []byte) (string, error) { return string(b), nil },
		true)
	b, _ := raw.Append(nil, "ABC")
	fmt.Println(string(b))
	// Output: ABC
}

func must[T any](c coder.Coder[T], err error) coder.Coder[T] {
	if err != nil {
		panic(err)
	}
	return c
}
