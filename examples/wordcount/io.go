package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kappaflow/kappa/pipeline"
)

// lineSource is a bounded source over the lines of a text, in contiguous splits: the smallest implementation of
// the pipeline.Source contract. Lines have no event time.
type lineSource struct {
	lines  []string
	splits int
}

func newLineSource(text string, splits int) *lineSource {
	return &lineSource{lines: strings.Split(strings.TrimRight(text, "\n"), "\n"), splits: splits}
}

func (l *lineSource) Name() string  { return "lines" }
func (l *lineSource) Bounded() bool { return true }

func (l *lineSource) Splits(context.Context) ([]pipeline.Split, error) {
	n := max(min(l.splits, len(l.lines)), 1)
	out := make([]pipeline.Split, n)
	for i := range out {
		out[i] = pipeline.Split{ID: fmt.Sprintf("%d/%d", i, n)}
	}
	return out, nil
}

func (l *lineSource) Open(_ context.Context, sp pipeline.Split, pos []byte) (pipeline.SplitReader[string], error) {
	var i, n int
	if _, err := fmt.Sscanf(sp.ID, "%d/%d", &i, &n); err != nil || n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("lines: bad split %q", sp.ID)
	}
	r := &lineReader{lines: l.lines[i*len(l.lines)/n : (i+1)*len(l.lines)/n]}
	if len(pos) == 8 {
		r.next = int(binary.BigEndian.Uint64(pos))
	}
	return r, nil
}

type lineReader struct {
	lines []string
	next  int
	pos   [8]byte
}

func (r *lineReader) ReadBatch(_ context.Context, b *pipeline.Batch[string], lim pipeline.Limits) error {
	for r.next < len(r.lines) && b.Len() < lim.MaxRecords {
		b.Add(r.lines[r.next], pipeline.MinTime)
		b.Bytes += int64(len(r.lines[r.next]) + 1)
		r.next++
	}
	if r.next >= len(r.lines) {
		return pipeline.ErrEndOfInput
	}
	return nil
}

func (r *lineReader) Position() []byte {
	binary.BigEndian.PutUint64(r.pos[:], uint64(r.next))
	return r.pos[:]
}

func (r *lineReader) Close() error { return nil }
