package pipeline_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
)

func TestTime(t *testing.T) {
	at := time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC)
	require.Equal(t, pipeline.Time(1709251199999), pipeline.TimeOf(at), "truncates to the millisecond")
	require.Equal(t, at.Truncate(time.Millisecond), pipeline.TimeOf(at).Std())
	require.Equal(t, time.UTC, pipeline.Time(0).Std().Location())

	adds := []struct {
		t    pipeline.Time
		d    time.Duration
		want pipeline.Time
	}{
		{0, time.Second, 1000},
		{1000, -1500 * time.Millisecond, -500},
		{5, 999 * time.Microsecond, 5},
		{pipeline.MaxTime - 10, time.Second, pipeline.MaxTime},
		{pipeline.MaxTime, time.Millisecond, pipeline.MaxTime},
		{pipeline.MinTime + 10, -time.Second, pipeline.MinTime},
		{pipeline.MinTime, -time.Hour, pipeline.MinTime},
		{pipeline.MinTime, time.Millisecond, pipeline.MinTime + 1},
	}
	for _, a := range adds {
		require.Equal(t, a.want, a.t.Add(a.d), "%d + %v", a.t, a.d)
	}

	strs := []struct {
		t    pipeline.Time
		want string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{1709251199999, "2024-02-29T23:59:59.999Z"},
		{pipeline.MinTime, "-inf"},
		{pipeline.MaxTime, "+inf"},
	}
	for _, s := range strs {
		require.Equal(t, s.want, s.t.String())
	}
}

func TestWindow(t *testing.T) {
	w := pipeline.Window{Start: 1000, End: 2000}
	require.Equal(t, pipeline.Time(1999), w.MaxTimestamp())
	require.True(t, w.Contains(1000))
	require.True(t, w.Contains(1999))
	require.False(t, w.Contains(2000))
	require.False(t, w.Contains(999))
	require.False(t, w.IsGlobal())
	require.Equal(t, "[1970-01-01T00:00:01.000Z, 1970-01-01T00:00:02.000Z)", w.String())

	g := pipeline.GlobalWindow
	require.True(t, g.IsGlobal())
	require.Equal(t, "[global]", g.String())
	require.Equal(t, pipeline.MaxTime-1, g.MaxTimestamp())
	require.True(t, g.Contains(pipeline.MinTime))
	require.Equal(t, pipeline.MinTime, pipeline.Window{Start: pipeline.MinTime, End: pipeline.MinTime}.MaxTimestamp())
}

func TestPaneAndTiming(t *testing.T) {
	timings := map[pipeline.Timing]string{pipeline.Unknown: "unknown", pipeline.Early: "early", pipeline.OnTime: "on-time", pipeline.Late: "late"}
	for tm, want := range timings {
		require.Equal(t, want, tm.String())
	}
	panes := []struct {
		p    pipeline.Pane
		want string
	}{
		{pipeline.Pane{Timing: pipeline.Early, Index: 0, NonSpeculativeIndex: -1, First: true}, "early#0"},
		{pipeline.Pane{Timing: pipeline.OnTime, Index: 1, Last: true}, "on-time#1(last)"},
		{pipeline.Pane{Timing: pipeline.Late, Index: 3, NonSpeculativeIndex: 2}, "late#3"},
		{pipeline.NoFiringPane, "unknown#0(last)"},
	}
	for _, p := range panes {
		require.Equal(t, p.want, p.p.String())
	}
	require.True(t, pipeline.NoFiringPane.First)
}

func TestBatch(t *testing.T) {
	var b pipeline.Batch[string]
	b.Add("a", 1)
	b.Add("b", 2)
	b.Bytes = 10
	b.Watermark = 5
	b.Fail(&pipeline.RecordError{Location: "row 3", Err: io.ErrUnexpectedEOF})
	require.Equal(t, 2, b.Len())
	require.Equal(t, []string{"a", "b"}, b.Values)
	require.Equal(t, []pipeline.Time{1, 2}, b.Times)
	require.Len(t, b.Failures, 1)
	vals := b.Values
	b.Reset()
	require.Zero(t, b.Len())
	require.Empty(t, b.Times)
	require.Empty(t, b.Failures)
	require.Zero(t, b.Bytes)
	require.Equal(t, pipeline.MinTime, b.Watermark)
	require.Equal(t, []string{"", ""}, vals[:2], "Reset drops references to the records")
	require.Equal(t, 2, cap(b.Values[:cap(b.Values)]), "Reset keeps the capacity")
}

func TestRecordError(t *testing.T) {
	cause := errors.New("bad varint")
	tests := []struct {
		err  *pipeline.RecordError
		want string
	}{
		{&pipeline.RecordError{Source: "kafka://h:9092/t", Location: "partition 3 offset 17", Err: cause}, "kafka://h:9092/t partition 3 offset 17: bad varint"},
		{&pipeline.RecordError{Source: "s3://b/p/", Err: cause}, "s3://b/p/: bad varint"},
		{&pipeline.RecordError{Location: "row 2", Err: cause}, "row 2: bad varint"},
		{&pipeline.RecordError{Transform: "parse/TryMap", Value: 3, Err: cause}, "parse/TryMap: bad varint"},
		{&pipeline.RecordError{Transform: "parse/TryMap", Source: "memory", Location: "row 2", Err: cause}, "parse/TryMap: memory row 2: bad varint"},
	}
	for _, tt := range tests {
		require.EqualError(t, tt.err, tt.want)
		require.ErrorIs(t, tt.err, cause)
		var re *pipeline.RecordError
		require.ErrorAs(t, errors.Join(io.EOF, tt.err), &re)
	}
}

func TestBoundedOutOfOrderness(t *testing.T) {
	tests := []struct {
		name     string
		bound    time.Duration
		observed []pipeline.Time
		want     pipeline.Time
	}{
		{"nothing seen", time.Second, nil, pipeline.MinTime},
		{"in order", 0, []pipeline.Time{10, 20, 30}, 29},
		{"max wins", 0, []pipeline.Time{30, 10}, 29},
		{"bound", 5 * time.Second, []pipeline.Time{10_000}, 4_999},
		{"records without time", 0, []pipeline.Time{pipeline.MinTime}, pipeline.MinTime},
	}
	for _, tt := range tests {
		b := &pipeline.BoundedOutOfOrderness{Bound: tt.bound}
		for _, o := range tt.observed {
			b.Observe(o)
		}
		require.Equal(t, tt.want, b.Watermark(time.Now()), tt.name)
	}
}
