package schemareg

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeader(t *testing.T) {
	b := AppendHeader([]byte("x"), 0x01020304)
	require.Equal(t, []byte{'x', 0, 1, 2, 3, 4}, b)
	id, rest, err := ParseHeader(append(b[1:], 9, 9))
	require.NoError(t, err)
	require.Equal(t, 0x01020304, id)
	require.Equal(t, []byte{9, 9}, rest)
	id, rest, err = ParseHeader([]byte{0, 0, 0, 0, 7})
	require.NoError(t, err)
	require.Equal(t, 7, id)
	require.Empty(t, rest)
	for _, bad := range [][]byte{nil, {0}, {0, 0, 0, 1}, {1, 0, 0, 0, 1}} {
		_, _, err := ParseHeader(bad)
		require.ErrorIs(t, err, ErrNotWireFormat)
	}
}

func TestMessageIndex(t *testing.T) {
	for _, tc := range []struct {
		idx  []int
		wire []byte
	}{
		{[]int{0}, []byte{0}},
		{[]int{1}, []byte{2, 2}},
		{[]int{0, 0}, []byte{4, 0, 0}},
		{[]int{3, 70}, []byte{4, 6, 0x8c, 0x01}},
	} {
		require.Equal(t, tc.wire, appendIndex(nil, tc.idx))
		got, rest, err := parseIndex(append(tc.wire, 0xaa))
		require.NoError(t, err)
		require.Equal(t, tc.idx, got)
		require.Equal(t, []byte{0xaa}, rest)
	}
	for _, bad := range [][]byte{nil, {0x80}, {1}, {4, 2}, {4, 1, 0}, {200, 1}} {
		_, _, err := parseIndex(bad)
		require.ErrorIs(t, err, ErrNotWireFormat, "%v", bad)
	}
}
