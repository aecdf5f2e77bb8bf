package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
	"github.com/kappaflow/kappa/windowing"
)

var quiet = slog.New(slog.DiscardHandler)

// lineSource reads "n" lines of text per split, parsing each as an int; lines that do not parse are failures. Its
// hooks inject errors.
type lineSource struct {
	splits    [][]string
	splitsErr error
	openErr   error
	readErr   error
	badTimes  bool
}

func (l *lineSource) Name() string  { return "lines" }
func (l *lineSource) Bounded() bool { return true }

func (l *lineSource) Splits(context.Context) ([]pipeline.Split, error) {
	if l.splitsErr != nil {
		return nil, l.splitsErr
	}
	out := make([]pipeline.Split, len(l.splits))
	for i := range out {
		out[i] = pipeline.Split{ID: strconv.Itoa(i)}
	}
	return out, nil
}

func (l *lineSource) Open(_ context.Context, sp pipeline.Split, _ []byte) (pipeline.SplitReader[int], error) {
	if l.openErr != nil {
		return nil, l.openErr
	}
	i, _ := strconv.Atoi(sp.ID)
	return &lineReader{src: l, lines: l.splits[i]}, nil
}

type lineReader struct {
	src   *lineSource
	lines []string
	next  int
}

func (r *lineReader) ReadBatch(_ context.Context, b *pipeline.Batch[int], lim pipeline.Limits) error {
	if r.src.readErr != nil {
		return r.src.readErr
	}
	for r.next < len(r.lines) && b.Len() < lim.MaxRecords {
		line := r.lines[r.next]
		r.next++
		v, err := strconv.Atoi(line)
		if err != nil {
			b.Fail(&pipeline.RecordError{Location: fmt.Sprintf("line %d", r.next), Raw: []byte(line), Err: err})
			continue
		}
		b.Add(v, pipeline.Time(v))
	}
	if r.src.badTimes {
		b.Times = b.Times[:0]
	}
	if r.next >= len(r.lines) {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *lineReader) Position() []byte { return []byte(strconv.Itoa(r.next)) }
func (r *lineReader) Close() error     { return nil }

func run(t *testing.T, cfg local.Config, p *pipeline.Pipeline) error {
	t.Helper()
	cfg.Logger = quiet
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return local.New(cfg).Run(ctx, p)
}

func TestReadWithDeadLetters(t *testing.T) {
	for _, workers := range []int{1, 3} {
		p := pipeline.New()
		s := p.Root()
		src := &lineSource{splits: [][]string{{"1", "x", "3"}, {"4"}, {"", "6"}}}
		vals, bad := pipeline.ReadWithDeadLetters[int](s, src, pipeline.ReadName("ReadLines"))
		pipelinetest.Equals(s, vals, 1, 3, 4, 6)
		pipelinetest.Equals(s, transforms.Map(s, bad, func(e *pipeline.RecordError) string {
			return fmt.Sprintf("%s|%q", e, e.Raw)
		}),
			`lines line 2: strconv.Atoi: parsing "x": invalid syntax|"x"`,
			`lines line 1: strconv.Atoi: parsing "": invalid syntax|""`)
		require.Equal(t, "ReadLines: Read(lines)  out: ReadLines.out0 (int) ReadLines.out1 (*pipeline.RecordError)", firstGraphLine(p))
		require.NoError(t, run(t, local.Config{Workers: workers}, p))
		require.NoError(t, pipelinetest.Verify(p))
	}
}

func firstGraphLine(p *pipeline.Pipeline) string {
	s := p.String()
	for i := range s {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

func TestReadErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		src  *lineSource
		want string
	}{
		{"undecodable record without dead letters", &lineSource{splits: [][]string{{"1", "two", "3"}}},
			`lines line 2: strconv.Atoi: parsing "two": invalid syntax`},
		{"listing splits fails", &lineSource{splitsErr: boom}, "lines: list splits: boom"},
		{"opening a split fails", &lineSource{splits: [][]string{{"1"}}, openErr: boom}, "lines: open split 0: boom"},
		{"reading fails", &lineSource{splits: [][]string{{"1"}}, readErr: boom}, "lines: split 0: boom"},
		{"times do not match values", &lineSource{splits: [][]string{{"1", "2"}}, badTimes: true}, "lines: split 0: batch has 2 values but 0 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			pipelinetest.Collect(s, pipeline.Read[int](s, tt.src))
			err := run(t, local.Config{Workers: 2}, p)
			require.EqualError(t, err, tt.want)
		})
	}
	t.Run("the record error is typed", func(t *testing.T) {
		p := pipeline.New()
		s := p.Root()
		pipelinetest.Collect(s, pipeline.Read[int](s, &lineSource{splits: [][]string{{"z"}}}))
		err := run(t, local.Config{Workers: 1}, p)
		var re *pipeline.RecordError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "lines", re.Source)
		require.Equal(t, "line 1", re.Location)
		require.Equal(t, []byte("z"), re.Raw)
		require.ErrorIs(t, err, strconv.ErrSyntax)
	})
}

func TestReadWriteConstructionErrors(t *testing.T) {
	p := pipeline.New()
	s := p.Root().Scope("io")
	require.False(t, pipeline.Read[int](s, nil).Valid())
	vals, bad := pipeline.ReadWithDeadLetters[int](s, nil, pipeline.ReadName("Events"))
	require.False(t, vals.Valid())
	require.False(t, bad.Valid())
	pipeline.Write[int](s, pipelinetest.Create(s, 1), nil)
	pipeline.Write(s, pipeline.PCollection[int]{}, pipeline.Sink[int](&recordingSink{}))
	require.EqualError(t, p.Err(), "io: Read: nil source\nio: Events: nil source\nio: Write: nil sink")
}

// The read options reach the runner: the out-of-orderness bound decides what is late in stream mode, and a custom
// watermark estimator replaces the default.
func TestReadWatermarkOptions(t *testing.T) {
	times := []pipelinetest.Timed[int]{{Value: 5, Time: 5}, {Value: 25, Time: 25}, {Value: 8, Time: 8}, {Value: 40, Time: 40}}
	tests := []struct {
		name     string
		opts     []pipeline.ReadOption
		want     []string
		wantLate int64
	}{
		{"in order expected: 8 is late", nil, []string{"[0,10):1", "[20,30):1", "[40,50):1"}, 1},
		{"20 ms out of order allowed", []pipeline.ReadOption{pipeline.OutOfOrderness(20 * time.Millisecond)}, []string{"[0,10):2", "[20,30):1", "[40,50):1"}, 0},
		{"watermark from a custom estimator", []pipeline.ReadOption{pipeline.WithWatermark(func() pipeline.WatermarkEstimator { return &lagging{} })},
			[]string{"[0,10):2", "[20,30):1", "[40,50):1"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			in := pipeline.Read(s, pipelinetest.Source(times, 1), tt.opts...)
			counts := transforms.CountAll(s, windowing.Into(s, in, windowing.Fixed{Size: 10 * time.Millisecond}))
			desc := transforms.ParDo(s, counts, transforms.DoFunc[int64, string](
				func(_ context.Context, e pipeline.Element[int64], emit transforms.Emitter[string]) error {
					emit.Emit(fmt.Sprintf("[%d,%d):%d", e.Window.Start, e.Window.End, e.Value))
					return nil
				}))
			pipelinetest.Equals(s, desc, tt.want...)
			r := local.New(local.Config{Workers: 1, Mode: local.Stream, BatchRecords: 1, Logger: quiet})
			require.NoError(t, r.Run(context.Background(), p))
			require.NoError(t, pipelinetest.Verify(p))
			require.Equal(t, tt.wantLate, r.Stats().Late["CountAll/CombinePerKey"])
		})
	}
}

// lagging is a watermark estimator that never advances: every window waits for the end of the input.
type lagging struct{}

func (*lagging) Observe(pipeline.Time)             {}
func (*lagging) Watermark(time.Time) pipeline.Time { return pipeline.MinTime }

// recordingSink keeps what its writers committed, per shard, and can fail at any step.
type recordingSink struct {
	mu                                       sync.Mutex
	openErr, writeErr, prepareErr, commitErr error
	closeErr                                 error
	committed                                map[int][]string
	epochs                                   []pipeline.Epoch
	opened, closed                           int
}

func (r *recordingSink) Name() string { return "rec" }

func (r *recordingSink) Open(_ context.Context, sh pipeline.Shard) (pipeline.SinkWriter[int], error) {
	if r.openErr != nil {
		return nil, r.openErr
	}
	r.mu.Lock()
	r.opened++
	r.mu.Unlock()
	return &recordingWriter{r: r, shard: sh}, nil
}

type recordingWriter struct {
	r      *recordingSink
	shard  pipeline.Shard
	buf    []string
	staged map[string][]string
}

func (w *recordingWriter) Write(_ context.Context, elems []pipeline.Element[int]) error {
	if w.r.writeErr != nil {
		return w.r.writeErr
	}
	for _, e := range elems {
		w.buf = append(w.buf, fmt.Sprintf("%d@%s", e.Value, e.Window))
	}
	return nil
}

func (w *recordingWriter) Prepare(_ context.Context, e pipeline.Epoch) ([]byte, error) {
	if w.r.prepareErr != nil {
		return nil, w.r.prepareErr
	}
	tok := fmt.Sprintf("%d/%d", w.shard.Index, e.ID)
	if w.staged == nil {
		w.staged = map[string][]string{}
	}
	w.staged[tok] = w.buf
	w.buf = nil
	w.r.mu.Lock()
	w.r.epochs = append(w.r.epochs, e)
	w.r.mu.Unlock()
	return []byte(tok), nil
}

func (w *recordingWriter) Commit(_ context.Context, tok []byte) error {
	if w.r.commitErr != nil {
		return w.r.commitErr
	}
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if w.r.committed == nil {
		w.r.committed = map[int][]string{}
	}
	w.r.committed[w.shard.Index] = append(w.r.committed[w.shard.Index], w.staged[string(tok)]...)
	delete(w.staged, string(tok))
	return nil
}

func (w *recordingWriter) Close(context.Context) error {
	w.r.mu.Lock()
	w.r.closed++
	w.r.mu.Unlock()
	return w.r.closeErr
}

func TestWrite(t *testing.T) {
	sink := &recordingSink{}
	p := pipeline.New()
	s := p.Root()
	in := pipelinetest.CreateTimed(s, pipelinetest.AtMillis(1, 1), pipelinetest.AtMillis(2, 2), pipelinetest.AtMillis(3, 1500))
	pipeline.Write(s.Scope("out"), windowing.Into(s, in, windowing.Fixed{Size: time.Second}), pipeline.Sink[int](sink))
	require.Contains(t, p.String(), "out/Write: Write(rec)  in: WindowInto.out0\n")
	require.NoError(t, run(t, local.Config{Workers: 3}, p))
	var all []string
	for _, vs := range sink.committed {
		all = append(all, vs...)
	}
	require.ElementsMatch(t, []string{
		"1@[1970-01-01T00:00:00.000Z, 1970-01-01T00:00:01.000Z)",
		"2@[1970-01-01T00:00:00.000Z, 1970-01-01T00:00:01.000Z)",
		"3@[1970-01-01T00:00:01.000Z, 1970-01-01T00:00:02.000Z)",
	}, all)
	require.Equal(t, 3, sink.opened, "one writer per worker")
	require.Equal(t, 3, sink.closed)
	require.Len(t, sink.epochs, 3, "a batch run has one epoch, prepared by every writer")
	for _, e := range sink.epochs {
		require.Equal(t, pipeline.Epoch{ID: 0, Watermark: pipeline.MaxTime, Final: true}, e)
	}
}

func TestWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		sink *recordingSink
		want string
	}{
		{"open", &recordingSink{openErr: boom}, "kappa: out/Write: rec: open shard 0: boom"},
		{"write", &recordingSink{writeErr: boom}, "out/Write: rec: write: boom"},
		{"prepare", &recordingSink{prepareErr: boom}, "out/Write: rec: prepare epoch 0: boom"},
		{"commit", &recordingSink{commitErr: boom}, "out/Write: rec: commit: boom"},
		{"close", &recordingSink{closeErr: boom}, "out/Write: close: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pipeline.New()
			s := p.Root()
			pipeline.Write(s.Scope("out"), pipelinetest.Create(s, 1, 2, 3), pipeline.Sink[int](tt.sink))
			err := run(t, local.Config{Workers: 1}, p)
			require.EqualError(t, err, tt.want)
			require.ErrorIs(t, err, boom)
		})
	}
}
