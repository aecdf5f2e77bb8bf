package parquetio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/pipeline"
)

// defaultBatch is the number of records read per batch when Limits.MaxRecords is 0.
const defaultBatch = 4096

// Open opens a reader for split at pos ("row=N": N rows of the row group were read), or at the row group's
// start when pos is nil.
func (s *Source[T]) Open(ctx context.Context, split pipeline.Split, pos []byte) (pipeline.SplitReader[T], error) {
	si, err := s.lookup(ctx, split.ID)
	if err != nil {
		return nil, err
	}
	r := &splitReader[T]{src: s, si: si}
	if si.failure != nil {
		r.fail = recordError(s.cfg.URL, si.failure)
		if string(pos) == "done" {
			r.done = true
		}
		return r, nil
	}
	if pos != nil {
		v, ok := strings.CutPrefix(string(pos), "row=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil || n < 0 || n > si.rows {
			return nil, fmt.Errorf("parquetio: %s: bad position %q for row group %d of %d rows", si.file.url, pos, si.rg, si.rows)
		}
		r.row = n
	}
	if r.row == si.rows {
		r.done = true
		return r, nil
	}
	if err := r.open(ctx); err != nil {
		var fe *FileError
		if errors.As(err, &fe) && s.cfg.OnError == DeadLetter {
			r.fail = recordError(s.cfg.URL, fe)
			return r, nil
		}
		return nil, err
	}
	return r, nil
}

type splitReader[T any] struct {
	src  *Source[T]
	si   *splitInfo
	base objstore.Reader
	io   *splitIO
	f    *parquet.File
	rg   parquet.RowGroup
	r    *parquet.GenericReader[T]
	row  int64
	done bool
	fail *pipeline.RecordError // reported by the next ReadBatch, which then ends the split
	pos  []byte
	// nulls are the rows of the row group holding nulls that T cannot hold, by row (nil for files whose optional
	// columns all map to optional fields, or whose statistics count no null); ni is the next one to report.
	nulls []nullAt
	ni    int
}

// nullAt is a null that T cannot hold: row of the row group, column.
type nullAt struct {
	row    int64
	column string
}

// open opens the object, parses the footer from the cached tail (fetching it if evicted) and positions a
// generic row-group reader at r.row.
func (r *splitReader[T]) open(ctx context.Context) error {
	s, fi := r.src, r.si.file
	base, err := objstore.OpenObject(ctx, s.store, fi.obj)
	if err != nil {
		return fmt.Errorf("parquetio: %s: %w", fi.url, err)
	}
	tail := s.tails.get(fi.obj.Key)
	if tail == nil {
		var read int64
		var ferr *FileError
		tail, read, ferr, err = readTail(base, fi.url)
		s.bytesRead.Add(read)
		if ferr != nil || err != nil {
			base.Close()
			if ferr != nil {
				return ferr
			}
			return err
		}
		s.tails.put(fi.obj.Key, tail)
	}
	r.base = base
	r.io = &splitIO{r: base, tail: tail, count: &s.bytesRead}
	f, ferr := s.openParquet(r.io, fi)
	if ferr != nil {
		base.Close()
		return ferr
	}
	if r.si.rg >= len(f.RowGroups()) {
		base.Close()
		return r.errAt(-1, fmt.Errorf("%w: the file has %d row groups now; it changed since it was listed", ErrCorrupt, len(f.RowGroups())))
	}
	r.f, r.rg = f, f.RowGroups()[r.si.rg]
	gr, err := newRowGroupReader[T](r.rg)
	if err != nil {
		base.Close()
		return r.errAt(-1, fmt.Errorf("%w: %w", ErrSchemaMismatch, err))
	}
	r.r = gr
	if fe := r.findNulls(); fe != nil {
		r.Close()
		return fe
	}
	if r.row > 0 {
		if err := gr.SeekToRow(r.row); err != nil {
			r.Close()
			return r.dataError(r.row, err)
		}
	}
	return nil
}

// findNulls lists the rows of the row group holding a null in a column T cannot hold null in. It reads the
// definition levels of such columns only when their statistics do not rule nulls out, so files whose optional
// columns hold no null (as most writers mark every column optional) cost nothing more.
func (r *splitReader[T]) findNulls() *FileError {
	guards := nullGuards(r.src.schema, r.f.Schema())
	if len(guards) == 0 {
		return nil
	}
	meta := r.f.Metadata().RowGroups[r.si.rg].Columns
	chunks := r.rg.ColumnChunks()
	for _, g := range guards {
		if g.leaf >= len(chunks) || g.leaf >= len(meta) || !mayHoldNulls(&meta[g.leaf].MetaData.Statistics) {
			continue
		}
		n := len(r.nulls)
		var err error
		if r.nulls, err = appendNullRows(r.nulls, chunks[g.leaf], g); err != nil {
			fe := r.errAt(-1, fmt.Errorf("%w: reading the definition levels: %w", ErrCorrupt, err))
			fe.Column = g.column
			return fe
		}
		if n > 0 && len(r.nulls) > n { // a second column with nulls: keep them in row order
			slices.SortStableFunc(r.nulls, func(a, b nullAt) int { return cmp.Compare(a.row, b.row) })
		}
	}
	r.ni, _ = slices.BinarySearchFunc(r.nulls, r.row, func(a nullAt, row int64) int { return cmp.Compare(a.row, row) })
	return nil
}

// appendNullRows appends the rows of the column chunk whose definition level marks a null g refuses.
func appendNullRows(dst []nullAt, cc parquet.ColumnChunk, g nullGuard) (out []nullAt, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = dst, fmt.Errorf("decoding panicked: %v", p)
		}
	}()
	pages := cc.Pages()
	defer pages.Close()
	var row int64
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		defs := p.DefinitionLevels()
		if len(defs) == 0 { // no nulls in this page
			row += p.NumRows()
		}
		for i, d := range defs {
			if int(d) < g.maxDef && g.refuse[d] {
				dst = append(dst, nullAt{row: row + int64(i), column: g.column})
			}
		}
		row += int64(len(defs))
		parquet.Release(p)
	}
}

// dropNulls removes from the k records read at vals (rows from..from+k of the row group) those holding a null T
// cannot hold, and returns one FileError per such null.
func (r *splitReader[T]) dropNulls(vals []T, from int64) (kept int, errs []*FileError) {
	j := 0
	for i := range vals {
		row := from + int64(i)
		if r.ni < len(r.nulls) && r.nulls[r.ni].row == row {
			for r.ni < len(r.nulls) && r.nulls[r.ni].row == row {
				fe := r.errAt(row, ErrNull)
				fe.Column = r.nulls[r.ni].column
				errs = append(errs, fe)
				r.ni++
			}
			continue
		}
		vals[j] = vals[i]
		j++
	}
	clear(vals[j:])
	return j, errs
}

func newRowGroupReader[T any](rg parquet.RowGroup) (r *parquet.GenericReader[T], err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%v", p)
		}
	}()
	return parquet.NewGenericRowGroupReader[T](rg), nil
}

func readRows[T any](r *parquet.GenericReader[T], rows []T) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoding panicked: %v", ErrCorrupt, p)
		}
	}()
	return r.Read(rows)
}

func (r *splitReader[T]) errAt(row int64, err error) *FileError {
	return &FileError{URL: r.si.file.url, RowGroup: r.si.rg, Row: row, Err: err}
}

// dataError describes a failure to decode the row group at row, finding the column by reading each column
// chunk's pages on their own.
func (r *splitReader[T]) dataError(row int64, cause error) *FileError {
	fe := r.errAt(row, fmt.Errorf("%w: %w", ErrCorrupt, cause))
	if errors.Is(cause, ErrCorrupt) {
		fe.Err = cause
	}
	if r.rg == nil {
		return fe
	}
	cols := r.f.Schema().Columns()
	for _, cc := range r.rg.ColumnChunks() {
		if badPages(cc) {
			if i := cc.Column(); i < len(cols) {
				fe.Column = strings.Join(cols[i], ".")
			}
			break
		}
	}
	return fe
}

func badPages(cc parquet.ColumnChunk) (bad bool) {
	defer func() {
		if recover() != nil {
			bad = true
		}
	}()
	pages := cc.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if err != nil {
			return !errors.Is(err, io.EOF)
		}
		parquet.Release(p)
	}
}

// ReadBatch appends up to lim.MaxRecords records (4096 when 0), fewer when lim.MaxBytes at the row group's
// compressed bytes per row allows fewer, and returns pipeline.ErrEndOfInput with the row group's last records.
func (r *splitReader[T]) ReadBatch(ctx context.Context, b *pipeline.Batch[T], lim pipeline.Limits) error {
	if r.done {
		return pipeline.ErrEndOfInput
	}
	if r.fail != nil {
		b.Fail(r.fail)
		r.fail = nil
		r.finish(true)
		return pipeline.ErrEndOfInput
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s, si := r.src, r.si
	r.io.r = objstore.WithContext(r.base, ctx)
	n := si.rows - r.row
	if lim.MaxRecords > 0 {
		n = min(n, int64(lim.MaxRecords))
	} else {
		n = min(n, defaultBatch)
	}
	if lim.MaxBytes > 0 && si.bytes > 0 {
		perRow := max(si.bytes/max(si.rows, 1), 1)
		n = min(n, max(lim.MaxBytes/perRow, 1))
	}
	start := len(b.Values)
	b.Values = slices.Grow(b.Values, int(n))[:start+int(n)]
	k, err := readRows(r.r, b.Values[start:])
	clear(b.Values[start+k:])
	b.Values = b.Values[:start+k]
	var fe *FileError
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		fe = r.dataError(r.row+int64(k), err)
	case err != nil && r.row+int64(k) < si.rows:
		fe = r.errAt(r.row+int64(k), fmt.Errorf("%w: the row group ends after %d rows; its footer says %d", ErrCorrupt, r.row+int64(k), si.rows))
	}
	// Nulls T cannot hold: the rows are left out, and each null is an error (Fail) or a dead letter.
	var nulls []*FileError
	if r.ni < len(r.nulls) && r.nulls[r.ni].row < r.row+int64(k) {
		var kept int
		kept, nulls = r.dropNulls(b.Values[start:start+k], r.row)
		b.Values = b.Values[:start+kept]
		if s.cfg.OnError == Fail {
			return nulls[0]
		}
	}
	// Event times, partition fields and the time range, for the k new records.
	if serr := r.complete(b, start); serr != nil && fe == nil {
		fe = serr
		clear(b.Values[start:])
		b.Values, b.Times = b.Values[:start], b.Times[:start]
	}
	r.row += int64(k)
	s.rowsRead.Add(int64(k))
	b.Bytes += int64(k) * si.bytes / max(si.rows, 1)
	if s.hints && si.hasStats {
		b.Watermark = max(si.lo, s.from)
	}
	for _, ne := range nulls {
		b.Fail(recordError(s.cfg.URL, ne))
	}
	if fe != nil {
		if s.cfg.OnError == Fail {
			return fe
		}
		b.Fail(recordError(s.cfg.URL, fe))
		r.finish(true)
		return pipeline.ErrEndOfInput
	}
	s.progress()
	if r.row >= si.rows {
		b.Watermark = pipeline.MaxTime // nothing follows on this split
		r.finish(false)
		return pipeline.ErrEndOfInput
	}
	return nil
}

// finish ends the split. A failed split's position moves to its end so that a restart does not report the
// failure again.
func (r *splitReader[T]) finish(failed bool) {
	r.done = true
	if failed {
		r.row = r.si.rows
	}
	if r.si.failure == nil {
		r.src.rowGroupDone(r.si)
	}
	r.src.progress()
}

// complete fills Batch.Times for the records from start on, applies the partition setters and drops records
// outside [From, To).
func (r *splitReader[T]) complete(b *pipeline.Batch[T], start int) *FileError {
	s := r.src
	vals := b.Values[start:]
	switch {
	case s.cfg.EventTime != nil:
		for i := range vals {
			b.Times = append(b.Times, pipeline.TimeOf(s.cfg.EventTime(vals[i])))
		}
	case s.tc != nil:
		for i := range vals {
			t, _ := s.tc.get(reflect.ValueOf(&vals[i]))
			b.Times = append(b.Times, t)
		}
	default:
		for range vals {
			b.Times = append(b.Times, pipeline.MinTime)
		}
	}
	if len(s.setters) > 0 {
		for _, p := range r.si.file.parts {
			set := s.setters[p.Key]
			if set == nil {
				continue
			}
			for i := range vals {
				if err := set(&vals[i], p.Value); err != nil {
					fe := r.errAt(r.row+int64(i), fmt.Errorf("partition %s=%s: %w", p.Key, p.Value, err))
					return fe
				}
			}
		}
	}
	if s.filter {
		j := start
		for i := start; i < len(b.Values); i++ {
			if t := b.Times[i]; t >= s.from && t < s.to {
				b.Values[j], b.Times[j] = b.Values[i], b.Times[i]
				j++
			}
		}
		s.rowsFiltered.Add(int64(len(b.Values) - j))
		clear(b.Values[j:])
		b.Values, b.Times = b.Values[:j], b.Times[:j]
	}
	return nil
}

// Position returns "row=N", N being the rows of the row group read so far, or "done" for a failed split whose
// failure was reported.
func (r *splitReader[T]) Position() []byte {
	if r.si.failure != nil {
		if r.done {
			return []byte("done")
		}
		return nil
	}
	r.pos = strconv.AppendInt(append(r.pos[:0], "row="...), r.row, 10)
	return r.pos
}

// Close releases the reader and its file handle.
func (r *splitReader[T]) Close() error {
	var err error
	if r.r != nil {
		err = r.r.Close()
		r.r = nil
	}
	if r.base != nil {
		if cerr := r.base.Close(); err == nil {
			err = cerr
		}
		r.base = nil
	}
	if err != nil {
		return fmt.Errorf("parquetio: close %s row group %d: %w", r.si.file.url, r.si.rg, err)
	}
	return nil
}
