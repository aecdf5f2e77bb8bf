package transforms

import (
	"cmp"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"

	"github.com/kappaflow/kappa/pipeline"
)

// Number is the constraint of Sum and Mean.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64
}

// SumFn is the Combiner of sums.
type SumFn[N Number] struct{}

// CreateAccumulator returns 0.
func (SumFn[N]) CreateAccumulator() N { return 0 }

// AddInput adds v.
func (SumFn[N]) AddInput(a, v N) N { return a + v }

// MergeAccumulators adds.
func (SumFn[N]) MergeAccumulators(a, b N) N { return a + b }

// ExtractOutput returns the sum.
func (SumFn[N]) ExtractOutput(a N) N { return a }

// CountFn is the Combiner that counts elements.
type CountFn[T any] struct{}

// CreateAccumulator returns 0.
func (CountFn[T]) CreateAccumulator() int64 { return 0 }

// AddInput counts one.
func (CountFn[T]) AddInput(a int64, _ T) int64 { return a + 1 }

// MergeAccumulators adds counts.
func (CountFn[T]) MergeAccumulators(a, b int64) int64 { return a + b }

// ExtractOutput returns the count.
func (CountFn[T]) ExtractOutput(a int64) int64 { return a }

// MeanAcc is the accumulator of MeanFn.
type MeanAcc struct {
	Sum   float64
	Count int64
}

// MeanFn is the Combiner of arithmetic means.
type MeanFn[N Number] struct{}

// CreateAccumulator returns an empty mean.
func (MeanFn[N]) CreateAccumulator() MeanAcc { return MeanAcc{} }

// AddInput adds v.
func (MeanFn[N]) AddInput(a MeanAcc, v N) MeanAcc {
	return MeanAcc{Sum: a.Sum + float64(v), Count: a.Count + 1}
}

// MergeAccumulators adds sums and counts.
func (MeanFn[N]) MergeAccumulators(a, b MeanAcc) MeanAcc {
	return MeanAcc{Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
}

// ExtractOutput returns the mean (NaN for no values).
func (MeanFn[N]) ExtractOutput(a MeanAcc) float64 {
	if a.Count == 0 {
		return math.NaN()
	}
	return a.Sum / float64(a.Count)
}

// CountPerKey counts the values of each key per window.
func CountPerKey[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...Option) pipeline.PCollection[KV[K, int64]] {
	return CombinePerKey(s, col, CountFn[V]{}, withDefaultName("CountPerKey", opts)...)
}

// Count counts the occurrences of each distinct element per window (Beam's Count.PerElement).
func Count[T comparable](s pipeline.Scope, col pipeline.PCollection[T], opts ...Option) pipeline.PCollection[KV[T, int64]] {
	o := applyOptions("Count", opts)
	s = s.Scope(o.name)
	keyed := mapNamed(s, "KeyByElement", col, func(v T) KV[T, struct{}] { return KV[T, struct{}]{Key: v} })
	return CombinePerKey(s, keyed, CountFn[struct{}]{}, append(opts, Name("CombinePerKey"))...)
}

// CountAll counts all elements per window.
func CountAll[T any](s pipeline.Scope, col pipeline.PCollection[T], opts ...Option) pipeline.PCollection[int64] {
	return Combine(s, col, CountFn[T]{}, withDefaultName("CountAll", opts)...)
}

// SumPerKey sums the values of each key per window.
func SumPerKey[K comparable, N Number](s pipeline.Scope, col pipeline.PCollection[KV[K, N]], opts ...Option) pipeline.PCollection[KV[K, N]] {
	return CombinePerKey(s, col, SumFn[N]{}, withDefaultName("SumPerKey", opts)...)
}

// Sum sums all elements per window.
func Sum[N Number](s pipeline.Scope, col pipeline.PCollection[N], opts ...Option) pipeline.PCollection[N] {
	return Combine(s, col, SumFn[N]{}, withDefaultName("Sum", opts)...)
}

// MinPerKey keeps the smallest value of each key per window.
func MinPerKey[K comparable, V cmp.Ordered](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...Option) pipeline.PCollection[KV[K, V]] {
	return CombinePerKey(s, col, Binary(func(a, b V) V { return min(a, b) }), withDefaultName("MinPerKey", opts)...)
}

// Min keeps the smallest element per window.
func Min[T cmp.Ordered](s pipeline.Scope, col pipeline.PCollection[T], opts ...Option) pipeline.PCollection[T] {
	return Combine(s, col, Binary(func(a, b T) T { return min(a, b) }), withDefaultName("Min", opts)...)
}

// MaxPerKey keeps the largest value of each key per window.
func MaxPerKey[K comparable, V cmp.Ordered](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...Option) pipeline.PCollection[KV[K, V]] {
	return CombinePerKey(s, col, Binary(func(a, b V) V { return max(a, b) }), withDefaultName("MaxPerKey", opts)...)
}

// Max keeps the largest element per window.
func Max[T cmp.Ordered](s pipeline.Scope, col pipeline.PCollection[T], opts ...Option) pipeline.PCollection[T] {
	return Combine(s, col, Binary(func(a, b T) T { return max(a, b) }), withDefaultName("Max", opts)...)
}

// MeanPerKey averages the values of each key per window.
func MeanPerKey[K comparable, N Number](s pipeline.Scope, col pipeline.PCollection[KV[K, N]], opts ...Option) pipeline.PCollection[KV[K, float64]] {
	return CombinePerKey(s, col, MeanFn[N]{}, withDefaultName("MeanPerKey", opts)...)
}

// Mean averages all elements per window.
func Mean[N Number](s pipeline.Scope, col pipeline.PCollection[N], opts ...Option) pipeline.PCollection[float64] {
	return Combine(s, col, MeanFn[N]{}, withDefaultName("Mean", opts)...)
}

// TopFn keeps the N largest values by less (a heap-free bounded sorted slice; N is expected to be small).
type TopFn[T any] struct {
	N    int
	Less func(a, b T) bool
}

// CreateAccumulator returns an empty list.
func (t TopFn[T]) CreateAccumulator() []T { return nil }

// AddInput inserts v if it is among the N largest.
func (t TopFn[T]) AddInput(a []T, v T) []T {
	if t.N <= 0 {
		return a
	}
	// a is sorted largest first.
	i, _ := slices.BinarySearchFunc(a, v, func(x, y T) int {
		switch {
		case t.Less(y, x):
			return -1
		case t.Less(x, y):
			return 1
		}
		return 0
	})
	for i < len(a) && !t.Less(a[i], v) && !t.Less(v, a[i]) {
		i++ // equal values: keep arrival order stable
	}
	if i >= t.N {
		return a
	}
	a = slices.Insert(a, i, v)
	if len(a) > t.N {
		a = a[:t.N]
	}
	return a
}

// MergeAccumulators merges two lists.
func (t TopFn[T]) MergeAccumulators(a, b []T) []T {
	for _, v := range b {
		a = t.AddInput(a, v)
	}
	return a
}

// ExtractOutput returns the values, largest first.
func (t TopFn[T]) ExtractOutput(a []T) []T { return slices.Clone(a) }

// TopPerKey keeps the n largest values (by less) of each key per window, largest first.
func TopPerKey[K comparable, V any](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], n int, less func(a, b V) bool, opts ...Option) pipeline.PCollection[KV[K, []V]] {
	if less == nil || n < 1 {
		s.Errorf("TopPerKey: need n ≥ 1 and a less function (n=%d)", n)
		return pipeline.PCollection[KV[K, []V]]{}
	}
	return CombinePerKey(s, col, TopFn[V]{N: n, Less: less}, withDefaultName("TopPerKey", opts)...)
}

// Top keeps the n largest elements (by less) per window, largest first.
func Top[T any](s pipeline.Scope, col pipeline.PCollection[T], n int, less func(a, b T) bool, opts ...Option) pipeline.PCollection[[]T] {
	if less == nil || n < 1 {
		s.Errorf("Top: need n ≥ 1 and a less function (n=%d)", n)
		return pipeline.PCollection[[]T]{}
	}
	return Combine(s, col, TopFn[T]{N: n, Less: less}, withDefaultName("Top", opts)...)
}

// Distinct keeps one copy of each distinct element per window.
func Distinct[T comparable](s pipeline.Scope, col pipeline.PCollection[T], opts ...Option) pipeline.PCollection[T] {
	o := applyOptions("Distinct", opts)
	s = s.Scope(o.name)
	keyed := mapNamed(s, "KeyByElement", col, func(v T) KV[T, struct{}] { return KV[T, struct{}]{Key: v} })
	once := CombinePerKey(s, keyed, CombineFuncs[struct{}, struct{}, struct{}]{
		Add:   func(struct{}, struct{}) struct{} { return struct{}{} },
		Merge: func(struct{}, struct{}) struct{} { return struct{}{} },
	}, append(opts, Name("CombinePerKey"))...)
	return Keys(s, once)
}

// hashSeed seeds ApproxCountDistinctFn's default hash (per process).
var hashSeed = maphash.MakeSeed()

// HLL precision: 2^14 registers, a standard error of about 0.8%.
const hllP = 14

// sparseMax is the most distinct hashes a Sketch keeps before it switches to registers (8 KiB of hashes, half the
// registers' 16 KiB).
const sparseMax = 1024

// Sketch is the accumulator of ApproxCountDistinctFn: while it has seen at most 1024 distinct values it keeps
// their 64-bit hashes, sorted, and counts exactly (HyperLogLog++'s sparse mode); beyond, a HyperLogLog sketch.
type Sketch struct {
	// Hashes are the distinct hashes seen, sorted, while Registers is nil.
	Hashes []uint64
	// Registers are the HyperLogLog registers, once the sketch has outgrown Hashes.
	Registers []uint8
}

func (s Sketch) addHash(h uint64) {
	idx := h >> (64 - hllP)
	rank := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1)) + 1)
	if rank > s.Registers[idx] {
		s.Registers[idx] = rank
	}
}

// dense converts a sparse sketch to registers.
func (s Sketch) dense() Sketch {
	d := Sketch{Registers: make([]uint8, 1<<hllP)}
	for _, h := range s.Hashes {
		d.addHash(h)
	}
	return d
}

// ApproxCountDistinctFn estimates the number of distinct values: exactly up to 1024 of them, then with HyperLogLog
// (2^14 registers, ~0.8% standard error). Hash maps values to 64-bit hashes; it must be the same function on every
// worker (the default, maphash.Comparable, is per process: fine for one run).
type ApproxCountDistinctFn[T comparable] struct {
	Hash func(T) uint64
}

// CreateAccumulator returns an empty sketch.
func (ApproxCountDistinctFn[T]) CreateAccumulator() Sketch { return Sketch{} }

// AddInput adds v.
func (f ApproxCountDistinctFn[T]) AddInput(s Sketch, v T) Sketch {
	var h uint64
	if f.Hash != nil {
		h = f.Hash(v)
	} else {
		h = maphash.Comparable(hashSeed, v)
	}
	if s.Registers == nil {
		i, found := slices.BinarySearch(s.Hashes, h)
		if found {
			return s
		}
		if len(s.Hashes) < sparseMax {
			s.Hashes = slices.Insert(s.Hashes, i, h)
			return s
		}
		s = s.dense()
	}
	s.addHash(h)
	return s
}

// MergeAccumulators takes the union of the hashes while both sketches are small, else the register-wise maximum.
func (ApproxCountDistinctFn[T]) MergeAccumulators(a, b Sketch) Sketch {
	switch {
	case b.Registers == nil && len(b.Hashes) == 0:
		return a
	case a.Registers == nil && b.Registers == nil:
		u := make([]uint64, 0, len(a.Hashes)+len(b.Hashes))
		i, j := 0, 0
		for i < len(a.Hashes) && j < len(b.Hashes) {
			switch x, y := a.Hashes[i], b.Hashes[j]; {
			case x < y:
				u = append(u, x)
				i++
			case y < x:
				u = append(u, y)
				j++
			default:
				u = append(u, x)
				i++
				j++
			}
		}
		u = append(append(u, a.Hashes[i:]...), b.Hashes[j:]...)
		if len(u) <= sparseMax {
			return Sketch{Hashes: u}
		}
		return Sketch{Hashes: u}.dense()
	}
	if a.Registers == nil {
		a = a.dense()
	}
	if b.Registers == nil {
		for _, h := range b.Hashes {
			a.addHash(h)
		}
		return a
	}
	for i, r := range b.Registers {
		if r > a.Registers[i] {
			a.Registers[i] = r
		}
	}
	return a
}

// ExtractOutput returns the count: exact for a sparse sketch, else the HyperLogLog estimate.
func (ApproxCountDistinctFn[T]) ExtractOutput(s Sketch) int64 {
	if s.Registers == nil {
		return int64(len(s.Hashes))
	}
	m := float64(len(s.Registers))
	sum, zeros := 0.0, 0
	for _, r := range s.Registers {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros)) // linear counting for small cardinalities
	}
	return int64(math.Round(est))
}

// ApproxCountDistinctPerKey estimates the number of distinct values of each key per window.
func ApproxCountDistinctPerKey[K, V comparable](s pipeline.Scope, col pipeline.PCollection[KV[K, V]], opts ...Option) pipeline.PCollection[KV[K, int64]] {
	return CombinePerKey(s, col, ApproxCountDistinctFn[V]{}, withDefaultName("ApproxCountDistinctPerKey", opts)...)
}

// ApproxCountDistinct estimates the number of distinct elements per window.
func ApproxCountDistinct[T comparable](s pipeline.Scope, col pipeline.PCollection[T], opts ...Option) pipeline.PCollection[int64] {
	return Combine(s, col, ApproxCountDistinctFn[T]{}, withDefaultName("ApproxCountDistinct", opts)...)
}

func withDefaultName(name string, opts []Option) []Option {
	return append([]Option{Name(name)}, opts...)
}
