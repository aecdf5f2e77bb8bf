package coder

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type sumCount struct{ Sum, Count int64 }

type withSlice struct {
	Name string
	Vals []int
}

func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	c := For[T]()
	b, err := AppendLen(c, []byte("prefix"), v)
	require.NoError(t, err)
	b, err = AppendLen(c, b, v)
	require.NoError(t, err)
	got, rest, err := ReadLen(c, b[len("prefix"):])
	require.NoError(t, err)
	require.Equal(t, v, got)
	got, rest, err = ReadLen(c, rest)
	require.NoError(t, err)
	require.Equal(t, v, got)
	require.Empty(t, rest)
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, "user-0042")
	roundTrip(t, "")
	roundTrip(t, int64(-7))
	roundTrip(t, 12345)
	roundTrip(t, uint64(1<<63))
	roundTrip(t, 3.25)
	roundTrip(t, true)
	roundTrip(t, []byte("raw"))
	roundTrip(t, sumCount{Sum: 10, Count: 3})                 // fixed size: encoding/binary
	roundTrip(t, withSlice{Name: "x", Vals: []int{1, 2, 3}})  // gob
	roundTrip(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) // BinaryMarshaler
	roundTrip(t, struct{}{})
}

func TestTruncated(t *testing.T) {
	_, _, err := ReadLen(For[string](), []byte{5, 'a'})
	require.EqualError(t, err, "coder: truncated value")
}
