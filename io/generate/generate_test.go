package generate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/io/generate"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// square is element i = i*i at event time i seconds.
func square(i int64) (int64, pipeline.Time) { return i * i, pipeline.Time(i * 1000) }

// readAll reads split sp of src to its end (or n batches for unbounded ones) with batches of max records.
func readAll(t *testing.T, src *generate.Source[int64], sp pipeline.Split, pos []byte, max, batches int) (vals []int64, times []pipeline.Time, wms []pipeline.Time, last []byte) {
	t.Helper()
	r, err := src.Open(context.Background(), sp, pos)
	require.NoError(t, err)
	defer r.Close()
	var b pipeline.Batch[int64]
	for i := 0; batches == 0 || i < batches; i++ {
		b.Reset()
		err := r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: max, MaxWait: 10 * time.Millisecond})
		require.LessOrEqual(t, b.Len(), max)
		require.Len(t, b.Times, b.Len())
		vals = append(vals, b.Values...)
		times = append(times, b.Times...)
		wms = append(wms, b.Watermark)
		if errors.Is(err, pipeline.ErrEndOfInput) {
			break
		}
		require.NoError(t, err)
	}
	return vals, times, wms, append([]byte(nil), r.Position()...)
}

func TestSplitsDealIndicesAndResumeFromPositions(t *testing.T) {
	src, err := generate.NewSource(generate.Config[int64]{Func: square, Count: 103, Splits: 4, RecordBytes: 8})
	require.NoError(t, err)
	require.True(t, src.Bounded())
	require.Equal(t, "generate(n=103)", src.Name())
	splits, err := src.Splits(context.Background())
	require.NoError(t, err)
	require.Len(t, splits, 4)
	require.Equal(t, "0/4", splits[0].ID)
	require.Equal(t, int64(26*8), splits[0].Size) // 0, 4, …, 100
	require.Equal(t, int64(25*8), splits[3].Size) // 3, 7, …, 99
	seen := map[int64]int{}
	for _, sp := range splits {
		// Read 2 batches of 7, stop, resume from the position with a new source instance.
		vals, times, _, pos := readAll(t, src, sp, nil, 7, 2)
		src2, err := generate.NewSource(generate.Config[int64]{Func: square, Count: 103, Splits: 4})
		require.NoError(t, err)
		rest, restTimes, _, _ := readAll(t, src2, sp, pos, 7, 0)
		vals, times = append(vals, rest...), append(times, restTimes...)
		for k, v := range vals {
			seen[v]++
			require.Equal(t, v, (int64(times[k])/1000)*(int64(times[k])/1000), "value and time of one index")
		}
	}
	require.Len(t, seen, 103)
	for i := int64(0); i < 103; i++ {
		require.Equal(t, 1, seen[i*i], "index %d generated once", i)
	}
}

func TestEndOfInputRepeatsAndEmptyGenerator(t *testing.T) {
	src, err := generate.NewSource(generate.Config[int64]{Func: square, Count: 2, Splits: 1})
	require.NoError(t, err)
	r, err := src.Open(context.Background(), pipeline.Split{ID: "0/1"}, nil)
	require.NoError(t, err)
	var b pipeline.Batch[int64]
	require.ErrorIs(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10}), pipeline.ErrEndOfInput)
	require.Equal(t, []int64{0, 1}, b.Values)
	b.Reset()
	require.ErrorIs(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10}), pipeline.ErrEndOfInput)
	require.Zero(t, b.Len())

	empty, err := generate.NewSource(generate.Config[int64]{Func: square})
	require.NoError(t, err)
	r, err = empty.Open(context.Background(), pipeline.Split{ID: "2/4"}, nil)
	require.NoError(t, err)
	require.ErrorIs(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 10}), pipeline.ErrEndOfInput)
}

func TestWatermarkIsTheOutOfOrdernessPromise(t *testing.T) {
	// Element i at i seconds minus up to 1.5 s of disorder: the promise holds with a bound of 1.5 s.
	disordered := func(i int64) (int64, pipeline.Time) {
		return i, pipeline.Time(i*1000 - (i%3)*500)
	}
	src, err := generate.NewSource(generate.Config[int64]{Func: disordered, Count: 1000, Splits: 3, OutOfOrderness: 1500 * time.Millisecond})
	require.NoError(t, err)
	for j := range 3 {
		sp := pipeline.Split{ID: []string{"0/3", "1/3", "2/3"}[j]}
		_, times, wms, _ := readAll(t, src, sp, nil, 10, 0)
		// No element read after a batch is older than the watermark that batch stated.
		for bi, wm := range wms {
			require.NotEqual(t, pipeline.MinTime, wm)
			for _, tm := range times[min((bi+1)*10, len(times)):] {
				require.GreaterOrEqual(t, tm, wm, "split %s batch %d", sp.ID, bi)
			}
		}
	}
	none, err := generate.NewSource(generate.Config[int64]{Func: disordered, Count: 10, Splits: 1, OutOfOrderness: -1})
	require.NoError(t, err)
	_, _, wms, _ := readAll(t, none, pipeline.Split{ID: "0/1"}, nil, 4, 0)
	for _, wm := range wms {
		require.Equal(t, pipeline.MinTime, wm, "no promise, no watermark")
	}
}

func TestRateLimit(t *testing.T) {
	const rate = 400.0
	src, err := generate.NewSource(generate.Config[int64]{Func: square, Unbounded: true, Splits: 2, Rate: rate})
	require.NoError(t, err)
	require.False(t, src.Bounded())
	r, err := src.Open(context.Background(), pipeline.Split{ID: "1/2"}, nil)
	require.NoError(t, err)
	start := time.Now()
	n := 0
	var b pipeline.Batch[int64]
	for time.Since(start) < 500*time.Millisecond {
		b.Reset()
		t0 := time.Now()
		require.NoError(t, r.ReadBatch(context.Background(), &b, pipeline.Limits{MaxRecords: 1000, MaxWait: 50 * time.Millisecond}))
		require.Less(t, time.Since(t0), 200*time.Millisecond, "a read waits at most about MaxWait")
		n += b.Len()
	}
	// The split gets rate/2 = 200 per second: about 100 in 0.5 s.
	require.InDelta(t, 100, n, 25)

	// A cancelled context ends a wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.Reset()
	t0 := time.Now()
	require.NoError(t, r.ReadBatch(ctx, &b, pipeline.Limits{MaxRecords: 1000, MaxWait: time.Second}))
	require.Less(t, time.Since(t0), 100*time.Millisecond)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  generate.Config[int64]
		want string
	}{
		{"no func", generate.Config[int64]{Count: 1}, "Func is nil"},
		{"negative count", generate.Config[int64]{Func: square, Count: -5}, "Count -5 is negative"},
		{"count and unbounded", generate.Config[int64]{Func: square, Count: 5, Unbounded: true}, "an unbounded generator has no count"},
		{"negative splits", generate.Config[int64]{Func: square, Splits: -1}, "Splits -1 is negative"},
		{"negative rate", generate.Config[int64]{Func: square, Rate: -3}, "Rate -3"},
		{"negative bytes", generate.Config[int64]{Func: square, RecordBytes: -1}, "RecordBytes -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := generate.NewSource(tc.cfg)
			require.ErrorContains(t, err, tc.want)
			p := pipeline.New()
			generate.Read(p.Root(), tc.cfg)
			require.ErrorContains(t, p.Err(), tc.want)
		})
	}
	src, err := generate.NewSource(generate.Config[int64]{Func: square, Count: 10, Splits: 2})
	require.NoError(t, err)
	_, err = src.Open(context.Background(), pipeline.Split{ID: "0/3"}, nil)
	require.ErrorContains(t, err, `split "0/3" is not one of 2 splits`)
	_, err = src.Open(context.Background(), pipeline.Split{ID: "0/2"}, []byte{0, 0, 0, 0, 0, 0, 0, 3})
	require.ErrorContains(t, err, "position 3 is not an index of the split")
}

// countPerMinute generates n elements (value 1, event time i × 100 ms, up to 2 s out of order) and counts them
// per fixed minute in the given mode.
func countPerMinute(t *testing.T, mode local.Mode, n int64) (map[int64]int64, local.Stats) {
	t.Helper()
	p := pipeline.New()
	s := p.Root()
	events := generate.Read(s, generate.Config[int64]{Count: n, Splits: 3, OutOfOrderness: 2 * time.Second,
		Func: func(i int64) (int64, pipeline.Time) { return 1, pipeline.Time(i*100 - (i%20)*100) }})
	perMinute := windowing.Into(s, events, windowing.Fixed{Size: time.Minute})
	counts := transforms.SumPerKey(s, transforms.KeyBy(s, perMinute, func(int64) string { return "all" }))
	rows := transforms.MapWindowed(s, counts, func(kv transforms.KV[string, int64], w pipeline.Window) transforms.KV[int64, int64] {
		return transforms.KV[int64, int64]{Key: int64(w.Start), Value: kv.Value}
	})
	res := pipelinetest.Collect(s, rows)
	r := local.New(local.Config{Mode: mode, Workers: 2, BatchRecords: 100})
	require.NoError(t, r.Run(context.Background(), p))
	got := map[int64]int64{}
	for _, kv := range res.Values() {
		got[kv.Key] += kv.Value
	}
	return got, r.Stats()
}

func TestBatchFiresWindowsAsGenerationMovesOn(t *testing.T) {
	const n = 60000 // 100 minutes of event time
	batch, st := countPerMinute(t, local.Batch, n)
	stream, _ := countPerMinute(t, local.Stream, n)
	require.Equal(t, batch, stream, "same answers in batch and stream mode")
	var total int64
	for _, c := range batch {
		total += c
	}
	require.Equal(t, int64(n), total)
	require.Empty(t, st.Late, "the promise holds: nothing late")
	// The guarantee lets batch mode fire windows as it goes: state holds a few windows, not 100.
	require.Less(t, st.MaxStateEntries, int64(20))
}
