package w1

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyOfMatchesSprintf(t *testing.T) {
	for k := uint64(0); k < 1000; k++ {
		require.Equal(t, fmt.Sprintf("user-%04d", k), KeyOf(k))
	}
}

func TestGenFollowsTheDefinition(t *testing.T) {
	for i := int64(0); i < 10000; i++ {
		e := Gen(i)
		require.LessOrEqual(t, e.Time, BaseTime+i)
		require.Greater(t, e.Time, BaseTime+i-MaxDelay)
		require.GreaterOrEqual(t, e.Value, int64(0))
		require.Less(t, e.Value, int64(1000))
	}
	// Event 0 by hand: splitmix64(0) = 0xe220a8397b1dcdaf.
	h := Splitmix64(0)
	require.Equal(t, uint64(0xe220a8397b1dcdaf), h)
	require.Equal(t, Event{Key: fmt.Sprintf("user-%04d", h%1000), Value: int64((h >> 16) % 1000), Time: BaseTime - int64((h>>32)%2000)}, Gen(0))
}

func TestPlainLoopSlidingMatchesTheDefinition(t *testing.T) {
	// Brute force over candidate starts: s is a multiple of the period with s <= t < s+size.
	type k struct {
		key   string
		start int64
	}
	sums := map[k]int64{}
	const n = 200000
	for i := int64(0); i < n; i++ {
		e := Gen(i)
		in := 0
		for s := (e.Time/SlidingPeriod - 10) * SlidingPeriod; s <= e.Time; s += SlidingPeriod {
			if s <= e.Time && e.Time < s+SlidingSize {
				sums[k{e.Key, s}] += e.Value
				in++
			}
		}
		require.Equal(t, 5, in)
	}
	var want uint64
	for kk, v := range sums {
		want += RowHash(kk.key, kk.start, v)
	}
	got, rows := PlainLoop(n, true)
	require.Equal(t, want, got)
	require.Equal(t, len(sums), rows)
}

func TestChecksumIsOrderIndependent(t *testing.T) {
	rows := []Row{{"a", 0, 1, 1}, {"b", 60000, 5, 2}, {"c", 120000, 7, 3}}
	rev := []Row{rows[2], rows[1], rows[0]}
	require.Equal(t, Checksum(rows), Checksum(rev))
	require.Equal(t, "0000000000000001", FormatChecksum(1))
}

func TestGenInternsItsKeys(t *testing.T) {
	allocs := testing.AllocsPerRun(1000, func() { _ = Gen(12345) })
	require.Zero(t, allocs, "Gen should reuse its 1000 interned key strings")
	require.Equal(t, "user-0042", Key(42))
	require.Equal(t, KeyOf(7), Key(1007))
}

func TestTotalsKeys(t *testing.T) {
	for _, tc := range []struct {
		k      uint64
		n      uint64
		digits int
		want   string
	}{{1000, 42, 4, "user-0042"}, {100_000_000, 42, 8, "user-00000042"}, {10, 3, 4, "user-0003"}, {10001, 10000, 5, "user-10000"}} {
		d := KeyDigits(tc.k)
		if d != tc.digits {
			t.Errorf("KeyDigits(%d) = %d, want %d", tc.k, d, tc.digits)
		}
		if got := string(AppendKeyK(nil, tc.n, d)); got != tc.want {
			t.Errorf("key %d of %d = %q, want %q", tc.n, tc.k, got, tc.want)
		}
	}
	// With 1000 keys W1-totals has W1's events.
	for i := range int64(1000) {
		if a, b := GenK(i, 1000, 4), Gen(i); a != b {
			t.Fatalf("GenK(%d) = %+v, Gen = %+v", i, a, b)
		}
	}
}
