package parquetio

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/kappaflow/kappa/pipeline"
)

// schemaOf returns T's Parquet schema, turning parquet-go's panics on unsupported types into errors.
func schemaOf[T any]() (s *parquet.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquetio: %s has no Parquet schema: %v", typeName[T](), r)
		}
	}()
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("parquetio: %s is not a struct; records must be structs with parquet tags", typeName[T]())
	}
	s = parquet.SchemaOf(new(T))
	if len(s.Columns()) == 0 {
		return nil, fmt.Errorf("parquetio: %s has no Parquet columns (no exported fields?)", typeName[T]())
	}
	return s, nil
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// describeType formats a column type as "INT64" or "BYTE_ARRAY (STRING)".
func describeType(t parquet.Type) string {
	k := t.Kind().String()
	if s := t.String(); s != k {
		return k + " (" + s + ")"
	}
	return k
}

// checkSchema verifies that every column of want (T's schema) can be read from a file with schema have: it
// exists unless T may leave it empty, has the same physical type, the same logical type when both declare one,
// and the same repetition depth. It returns the first offending column (dot path) and the mismatch. A column
// that is optional in the file where T's field cannot hold null passes: whether it holds nulls is a property of
// the data, checked row group by row group (nullGuards), and each null is an error or a dead letter.
func checkSchema(want, have *parquet.Schema) (string, error) {
	for _, path := range want.Columns() {
		col := strings.Join(path, ".")
		wl, _ := want.Lookup(path...)
		hl, ok := have.Lookup(path...)
		if !ok {
			if wl.MaxDefinitionLevel == 0 {
				return col, fmt.Errorf("%w: required column missing from the file", ErrSchemaMismatch)
			}
			continue // T's field is optional or repeated: it reads as null or empty
		}
		wt, ht := wl.Node.Type(), hl.Node.Type()
		if wt.Kind() != ht.Kind() ||
			wt.LogicalType() != nil && ht.LogicalType() != nil && wt.String() != ht.String() {
			return col, fmt.Errorf("%w: the file has %s, T has %s", ErrSchemaMismatch, describeType(ht), describeType(wt))
		}
		if wl.MaxRepetitionLevel != hl.MaxRepetitionLevel {
			return col, fmt.Errorf("%w: the column is repeated %d levels deep in the file, %d in T",
				ErrSchemaMismatch, hl.MaxRepetitionLevel, wl.MaxRepetitionLevel)
		}
	}
	return "", nil
}

// nullGuard is a column that is optional in the file at a level where T's field is not (a plain string where
// the file may hold null): its nulls would read as zero values.
type nullGuard struct {
	column string // dot path
	leaf   int    // the column's index in the file
	maxDef int    // the column's maximum definition level in the file
	// refuse[d] says that a value at definition level d < maxDef — null at the file's (d+1)-th optional level —
	// is a null T cannot hold. A null at a level where T is optional (a nil pointer to a struct) is fine.
	refuse []bool
}

// nullGuards returns the columns of want (T's schema) read from have (the file's) whose nulls T cannot hold.
// Repeated columns are left out: their levels mean lists, and checkSchema matched their repetition.
func nullGuards(want, have *parquet.Schema) []nullGuard {
	var out []nullGuard
	for _, path := range want.Columns() {
		hl, ok := have.Lookup(path...)
		if !ok || hl.MaxDefinitionLevel == 0 || hl.MaxRepetitionLevel > 0 {
			continue
		}
		wantOpt, ok1 := optionality(want, path)
		haveOpt, ok2 := optionality(have, path)
		if !ok1 || !ok2 {
			continue
		}
		g := nullGuard{column: strings.Join(path, "."), leaf: hl.ColumnIndex, maxDef: hl.MaxDefinitionLevel}
		refuses := false
		for p, opt := range haveOpt {
			if opt {
				g.refuse = append(g.refuse, !wantOpt[p])
				refuses = refuses || !wantOpt[p]
			}
		}
		if refuses && len(g.refuse) == g.maxDef {
			out = append(out, g)
		}
	}
	return out
}

// optionality returns, for each node along path, whether it is optional; ok is false when a node is missing or
// repeated.
func optionality(s *parquet.Schema, path []string) (opt []bool, ok bool) {
	var n parquet.Node = s
	opt = make([]bool, len(path))
	for i, name := range path {
		var next parquet.Node
		for _, f := range n.Fields() {
			if f.Name() == name {
				next = f
				break
			}
		}
		if next == nil || next.Repeated() {
			return nil, false
		}
		opt[i] = next.Optional()
		n = next
	}
	return opt, true
}

// mayHoldNulls reports whether a column chunk may hold nulls according to its statistics: unless they were
// written (a min or max value, or a null count) and count no null, the definition levels must be read.
func mayHoldNulls(st *format.Statistics) bool {
	if st.NullCount > 0 {
		return true
	}
	written := len(st.MinValue) > 0 || len(st.MaxValue) > 0 || len(st.Min) > 0 || len(st.Max) > 0
	return !written
}

// timestampUnit returns how many units of t's timestamp logical type make a millisecond (1, 1000, 1e6), or 0
// when t is not a timestamp.
func timestampUnit(t parquet.Type) int64 {
	lt := t.LogicalType()
	if lt == nil {
		return 0
	}
	ts, ok := lt.Value.(*format.TimestampType)
	if !ok {
		return 0
	}
	switch ts.Unit.Value.(type) {
	case *format.MicroSeconds:
		return 1000
	case *format.NanoSeconds:
		return 1_000_000
	}
	return 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// timeColumn resolves ReadConfig.TimeColumn against T: the column's leaf in T's schema and a getter reading a
// record's event time through reflection.
type timeColumn struct {
	path    []string
	column  string
	perMs   int64 // units per millisecond of int64 values in T
	get     func(p reflect.Value) (pipeline.Time, bool)
	isStats bool // the column's statistics can bound event time
}

func resolveTimeColumn[T any](schema *parquet.Schema, column string) (*timeColumn, error) {
	path := strings.Split(column, ".")
	leaf, ok := schema.Lookup(path...)
	if !ok {
		return nil, fmt.Errorf("parquetio: TimeColumn %q is not a column of %s (columns: %s)", column, typeName[T](), columnList(schema))
	}
	if leaf.MaxRepetitionLevel > 0 {
		return nil, fmt.Errorf("parquetio: TimeColumn %q is repeated; it must hold one value per record", column)
	}
	idx, ft, err := fieldIndex(reflect.TypeFor[T](), path)
	if err != nil {
		return nil, fmt.Errorf("parquetio: TimeColumn %q: %w", column, err)
	}
	tc := &timeColumn{path: path, column: column, perMs: max(timestampUnit(leaf.Node.Type()), 1)}
	timeType := reflect.TypeFor[time.Time]()
	base := ft
	ptr := false
	if base.Kind() == reflect.Pointer {
		base, ptr = base.Elem(), true
	}
	field := func(p reflect.Value) (reflect.Value, bool) {
		v, err := p.Elem().FieldByIndexErr(idx)
		if err != nil { // nil pointer on the way
			return reflect.Value{}, false
		}
		if ptr {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		return v, true
	}
	switch {
	case base == timeType:
		tc.get = func(p reflect.Value) (pipeline.Time, bool) {
			v, ok := field(p)
			if !ok {
				return pipeline.MinTime, false
			}
			return pipeline.TimeOf(*v.Addr().Interface().(*time.Time)), true
		}
	case base.Kind() == reflect.Int64 && base != reflect.TypeFor[time.Duration]():
		per := tc.perMs
		tc.get = func(p reflect.Value) (pipeline.Time, bool) {
			v, ok := field(p)
			if !ok {
				return pipeline.MinTime, false
			}
			return pipeline.Time(floorDiv(v.Int(), per)), true
		}
	default:
		return nil, fmt.Errorf("parquetio: TimeColumn %q is a %s; want time.Time, *time.Time, int64 or *int64", column, ft)
	}
	tc.isStats = leaf.Node.Type().Kind() == parquet.Int64
	return tc, nil
}

func columnList(s *parquet.Schema) string {
	cols := s.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = strings.Join(c, ".")
	}
	return strings.Join(names, ", ")
}

// fieldIndex finds the struct field holding the column at path, following parquet-go's naming: the tag name, or
// the Go field name when the tag has none.
func fieldIndex(t reflect.Type, path []string) ([]int, reflect.Type, error) {
	var idx []int
	for depth, name := range path {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, nil, fmt.Errorf("%s is not a struct field", strings.Join(path[:depth], "."))
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
			if tag == "-" {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			if tag == name {
				idx = append(idx, i)
				t = f.Type
				found = true
				break
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("no field for column %q", strings.Join(path[:depth+1], "."))
		}
	}
	return idx, t, nil
}

// statsRange returns the event-time range of a row group from the time column's min/max statistics, in
// milliseconds, using the file's timestamp unit (T's when the file declares none). ok is false without usable
// statistics.
func statsRange(rg parquet.RowGroup, file *parquet.Schema, tc *timeColumn) (lo, hi pipeline.Time, ok bool) {
	if tc == nil || !tc.isStats {
		return 0, 0, false
	}
	leaf, found := file.Lookup(tc.path...)
	if !found || leaf.Node.Type().Kind() != parquet.Int64 {
		return 0, 0, false
	}
	chunks := rg.ColumnChunks()
	if leaf.ColumnIndex >= len(chunks) {
		return 0, 0, false
	}
	cc, isFile := chunks[leaf.ColumnIndex].(*parquet.FileColumnChunk)
	if !isFile {
		return 0, 0, false
	}
	mn, mx, ok := cc.Bounds()
	if !ok || mn.IsNull() || mx.IsNull() || mn.Kind() != parquet.Int64 || mx.Kind() != parquet.Int64 {
		return 0, 0, false
	}
	per := timestampUnit(leaf.Node.Type())
	if per == 0 {
		per = tc.perMs
	}
	return pipeline.Time(floorDiv(mn.Int64(), per)), pipeline.Time(floorDiv(mx.Int64(), per)), true
}

// compressedSize is the row group's compressed size from the footer, summing its column chunks when the
// writer did not record the total.
func compressedSize(rg *format.RowGroup) int64 {
	if rg.TotalCompressedSize > 0 {
		return rg.TotalCompressedSize
	}
	var n int64
	for _, c := range rg.Columns {
		n += c.MetaData.TotalCompressedSize
	}
	return n
}
