// Package w1 defines the reference workload W1 (../shared/bench/WORKLOAD.md): a deterministic stream of keyed,
// slightly out-of-order events, the windowed sum per key over them, and the order-independent checksum of the
// result. kappa's examples, tests and benchmarks use it to compare every execution path with a plain Go loop.
package w1

import (
	"strconv"
)

// BaseTime is the event time of event 0, in Unix milliseconds (2016-09-21T18:30:00Z).
const BaseTime int64 = 1474482600000

// WindowSize is W1's fixed window, in milliseconds.
const WindowSize int64 = 60000

// SlidingSize and SlidingPeriod define W1-sliding, in milliseconds.
const (
	SlidingSize   int64 = 300000
	SlidingPeriod int64 = 60000
)

// MaxDelay bounds how far out of order W1 events are: event i has time in (BaseTime+i-MaxDelay, BaseTime+i].
const MaxDelay int64 = 2000

// Event is one W1 event. The parquet tags give its Parquet schema.
type Event struct {
	Key   string `parquet:"key" json:"key"`
	Value int64  `parquet:"value" json:"value"`
	Time  int64  `parquet:"time,timestamp(millisecond)" json:"time"`
}

// Splitmix64 is the hash W1 derives events from.
func Splitmix64(i uint64) uint64 {
	z := i + 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// keys holds W1's 1000 key strings, built once: generation interns its keys (WORKLOAD.md allows it on both
// sides), so that an event costs no allocation and the ratio to the plain loop measures the framework.
var keys = func() (k [1000]string) {
	for i := range k {
		k[i] = KeyOf(uint64(i))
	}
	return k
}()

// Key returns W1's key number k, k < 1000 ("user-0042"), without allocating.
func Key(k uint64) string { return keys[k%1000] }

// Gen returns event i. Its key is one of 1000 interned strings.
func Gen(i int64) Event {
	h := Splitmix64(uint64(i))
	return Event{
		Key:   keys[h%1000],
		Value: int64((h >> 16) % 1000),
		Time:  BaseTime + i - int64((h>>32)%2000),
	}
}

// KeyOf formats key number k as "user-%04d" (k < 10000), without fmt's overhead but with identical output.
func KeyOf(k uint64) string {
	var b [9]byte
	copy(b[:], "user-")
	b[5] = byte('0' + k/1000%10)
	b[6] = byte('0' + k/100%10)
	b[7] = byte('0' + k/10%10)
	b[8] = byte('0' + k%10)
	return string(b[:])
}

// Row is one output row of W1: the sum and count of a key's values in the window starting at WindowStart.
type Row struct {
	Key         string `parquet:"key" json:"key"`
	WindowStart int64  `parquet:"window_start,timestamp(millisecond)" json:"window_start"`
	Sum         int64  `parquet:"sum" json:"sum"`
	Count       int64  `parquet:"count" json:"count"`
}

// Fnv1a64 hashes s with 64-bit FNV-1a.
func Fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// RowHash is one row's term of the checksum.
func RowHash(key string, windowStart, sum int64) uint64 {
	return Fnv1a64(key)*1000003 + uint64(windowStart)*7919 + uint64(sum)
}

// Checksum sums RowHash over rows (mod 2^64); the order of rows does not matter.
func Checksum(rows []Row) uint64 {
	var c uint64
	for _, r := range rows {
		c += RowHash(r.Key, r.WindowStart, r.Sum)
	}
	return c
}

// FormatChecksum prints a checksum as W1 specifies (%016x).
func FormatChecksum(c uint64) string {
	s := strconv.FormatUint(c, 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}

type winKey struct {
	key   string
	start int64
}

type acc struct{ sum, count int64 }

// PlainLoop is the hand-written reference: it generates events [0, n) (with Gen, whose 1000 key strings are built
// once, as WORKLOAD.md's fastest honest loop does) and sums them per key and window in a map, as a Go programmer
// would without a framework. sliding selects W1-sliding. It returns the rows' checksum and
// count.
func PlainLoop(n int64, sliding bool) (checksum uint64, rows int) {
	m := make(map[winKey]*acc, 4096)
	for i := int64(0); i < n; i++ {
		e := Gen(i)
		if !sliding {
			k := winKey{e.Key, floorDiv(e.Time, WindowSize) * WindowSize}
			a := m[k]
			if a == nil {
				a = &acc{}
				m[k] = a
			}
			a.sum += e.Value
			a.count++
			continue
		}
		last := floorDiv(e.Time, SlidingPeriod) * SlidingPeriod
		for s := last; s > e.Time-SlidingSize; s -= SlidingPeriod {
			k := winKey{e.Key, s}
			a := m[k]
			if a == nil {
				a = &acc{}
				m[k] = a
			}
			a.sum += e.Value
			a.count++
		}
	}
	for k, a := range m {
		checksum += RowHash(k.key, k.start, a.sum)
	}
	return checksum, len(m)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
