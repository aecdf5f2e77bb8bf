package w1

import "strconv"

// W1-totals (WORKLOAD.md): the same events with K distinct keys instead of 1000, summed per key over one global
// window — lifetime totals per user, the workload for state larger than memory.

// KeyDigits is the width of W1-totals' key numbers for K keys: max(4, digits of K-1).
func KeyDigits(k uint64) int {
	d := len(strconv.FormatUint(max(k, 1)-1, 10))
	return max(4, d)
}

// AppendKeyK appends key number n of K keys ("user-" and n zero-padded to digits = KeyDigits(K)) to dst.
func AppendKeyK(dst []byte, n uint64, digits int) []byte {
	dst = append(dst, "user-"...)
	var b [20]byte
	s := strconv.AppendUint(b[:0], n, 10)
	for range digits - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// GenK returns event i of W1-totals with k keys: W1's value and time, key number h % k. For k = 1000 it is Gen(i),
// without the interned keys (every call allocates its key, as a generator of 1e8 keys must).
func GenK(i int64, k uint64, digits int) Event {
	h := Splitmix64(uint64(i))
	return Event{
		Key:   string(AppendKeyK(make([]byte, 0, 5+digits), h%k, digits)),
		Value: int64((h >> 16) % 1000),
		Time:  BaseTime + i - int64((h>>32)%2000),
	}
}

// PlainLoopTotals is W1-totals' hand-written reference: a map from key to sum, over events [0, n) with k keys. It
// returns the rows' checksum (window start 0) and count. It needs memory for every key at once: ~100 bytes each.
func PlainLoopTotals(n int64, k uint64) (checksum uint64, rows int) {
	digits := KeyDigits(k)
	m := make(map[string]*acc, min(n, int64(k)))
	buf := make([]byte, 0, 5+digits)
	for i := int64(0); i < n; i++ {
		h := Splitmix64(uint64(i))
		buf = AppendKeyK(buf[:0], h%k, digits)
		a := m[string(buf)] // no allocation for the lookup
		if a == nil {
			a = &acc{}
			m[string(buf)] = a
		}
		a.sum += int64((h >> 16) % 1000)
		a.count++
	}
	for key, a := range m {
		checksum += RowHash(key, 0, a.sum)
	}
	return checksum, len(m)
}
