package beam_test

import (
	"context"
	"flag"
	"os"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	apache "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/kappaflow/kappa/internal/w1"
	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

// W1 (../shared/bench/WORKLOAD.md) on Prism, two ways in the same run: kappa's pipeline through runners/beam, and
// the same W1 written by hand as a typed Beam Go pipeline (a generator DoFn per split, WindowInto, CombinePerKey
// with a registered sum, a checksum DoFn). Both must give W1's checksum.
//
//	go test -run '^$' -bench BenchmarkW1OnPrism -benchtime 1x ./runners/beam/   # KAPPA_W1_N=10000000 for 1e7

const w1Parts = 4

func w1N() int64 {
	if s := os.Getenv("KAPPA_W1_N"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return 1_000_000
}

var typedChecksum atomic.Uint64

// w1SplitsFn emits the split numbers.
type w1SplitsFn struct{ Parts int }

func (f *w1SplitsFn) ProcessElement(_ []byte, emit func(int64)) {
	for j := range f.Parts {
		emit(int64(j))
	}
}

// w1GenFn generates the events of split j: j, j+Parts, j+2·Parts, …
type w1GenFn struct {
	N     int64
	Parts int64
}

func (f *w1GenFn) ProcessElement(j int64, emit func(apache.EventTime, string, int64)) {
	for i := j; i < f.N; i += f.Parts {
		e := w1.Gen(i)
		emit(mtime.Time(e.Time), e.Key, e.Value)
	}
}

func w1Sum(a, b int64) int64 { return a + b }

// w1ChecksumFn adds each row's term to the checksum.
type w1ChecksumFn struct{}

func (w1ChecksumFn) ProcessElement(w apache.Window, key string, sum int64) {
	iw := w.(window.IntervalWindow)
	typedChecksum.Add(w1.RowHash(key, int64(iw.Start), sum))
}

func init() {
	register.DoFn2x0[[]byte, func(int64)](&w1SplitsFn{})
	register.DoFn2x0[int64, func(apache.EventTime, string, int64)](&w1GenFn{})
	register.DoFn3x0[apache.Window, string, int64](&w1ChecksumFn{})
	register.Emitter1[int64]()
	register.Emitter3[apache.EventTime, string, int64]()
	register.Function2x1(w1Sum)
	apache.RegisterType(reflect.TypeOf((*w1SplitsFn)(nil)).Elem())
}

func kappaW1(n int64, sum *atomic.Uint64) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	events := pipeline.Read(s, pipeline.Source[w1.Event](w1.Source{N: n, Parts: w1Parts}))
	timed := windowing.WithEventTime(s, events, func(e w1.Event) pipeline.Time { return pipeline.Time(e.Time) })
	win := windowing.Into(s, timed, windowing.Fixed{Size: time.Minute})
	kv := transforms.Map(s, win, func(e w1.Event) transforms.KV[string, int64] { return transforms.Pair(e.Key, e.Value) })
	sums := transforms.SumPerKey(s, kv)
	foreach.WriteElements(s, sums, func(_ context.Context, e pipeline.Element[transforms.KV[string, int64]]) error {
		sum.Add(w1.RowHash(e.Value.Key, int64(e.Window.Start), e.Value.Value))
		return nil
	})
	return p
}

func BenchmarkW1OnPrism(b *testing.B) {
	n := w1N()
	want, _ := w1.PlainLoop(n, false)
	b.Run("kappa", func(b *testing.B) {
		for b.Loop() {
			var sum atomic.Uint64
			if err := beam.New(beam.Config{}).Run(context.Background(), kappaW1(n, &sum)); err != nil {
				b.Fatal(err)
			}
			if got := sum.Load(); got != want {
				b.Fatalf("checksum %s, want W1's %s", w1.FormatChecksum(got), w1.FormatChecksum(want))
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("typed-beam", func(b *testing.B) {
		for b.Loop() {
			typedChecksum.Store(0)
			p, s := apache.NewPipelineWithRoot()
			splits := apache.ParDo(s, &w1SplitsFn{Parts: w1Parts}, apache.Impulse(s))
			keyed := apache.ParDo(s, &w1GenFn{N: n, Parts: w1Parts}, apache.Reshuffle(s, splits))
			win := apache.WindowInto(s, window.NewFixedWindows(time.Minute), keyed)
			sums := apache.CombinePerKey(s, w1Sum, win)
			apache.ParDo0(s, &w1ChecksumFn{}, sums)
			_ = flag.Set("environment_type", "LOOPBACK") // workers in this process, as runners/beam's Prism runs
			if _, err := prism.Execute(context.Background(), p); err != nil {
				b.Fatal(err)
			}
			if got := typedChecksum.Load(); got != want {
				b.Fatalf("checksum %s, want W1's %s", w1.FormatChecksum(got), w1.FormatChecksum(want))
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// sideW1 is W1's events enriched with side inputs: each event reads its minute's event count (an AsSingleton of a
// per-minute Count) and its key's label from a global lookup table of W1's 1000 keys (AsMap), then events are
// counted per label and minute. check receives one count per label and minute.
func sideW1(n int64, check *atomic.Int64) *pipeline.Pipeline {
	p := pipeline.New()
	s := p.Root()
	events := pipeline.Read(s, pipeline.Source[w1.Event](w1.Source{N: n, Parts: w1Parts}))
	timed := windowing.WithEventTime(s, events, func(e w1.Event) pipeline.Time { return pipeline.Time(e.Time) })
	win := windowing.Into(s, timed, windowing.Fixed{Size: time.Minute})
	perMinute := transforms.AsSingleton(s, transforms.CountAll(s, win))
	var labels []transforms.KV[string, string]
	for k := range uint64(1000) {
		labels = append(labels, transforms.Pair(w1.Key(k), "group-"+strconv.Itoa(int(k%10))))
	}
	label := transforms.AsMap(s, pipelinetest.Create(s, labels...))
	enriched := transforms.MapWithSide(s, win, func(e w1.Event, side transforms.Side) string {
		l, _ := label.Lookup(side, e.Key)
		if c, _ := perMinute.Get(side); c <= 0 {
			return "no-count"
		}
		return l
	}, perMinute, label)
	foreach.WriteElements(s, transforms.Count(s, enriched), func(_ context.Context, e pipeline.Element[transforms.KV[string, int64]]) error {
		check.Add(e.Value.Value)
		return nil
	})
	return p
}

// Side inputs on Prism against runners/local: W1's events read an AsSingleton and an AsMap each.
//
//	go test -run '^$' -bench BenchmarkSideInputsOnPrism -benchtime 1x ./runners/beam/   # KAPPA_W1_N for n
func BenchmarkSideInputsOnPrism(b *testing.B) {
	n := w1N()
	for _, r := range []struct {
		name string
		run  func(context.Context, *pipeline.Pipeline) error
	}{
		{"prism", beam.New(beam.Config{}).Run},
		{"local", local.New(local.Config{Workers: 2}).Run},
	} {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				var total atomic.Int64
				if err := r.run(context.Background(), sideW1(n, &total)); err != nil {
					b.Fatal(err)
				}
				if got := total.Load(); got != n {
					b.Fatalf("counted %d events, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
