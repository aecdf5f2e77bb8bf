package pgio

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// column is one column of the rows the sink writes.
type column struct {
	name     string
	index    []int        // field path (struct mapping)
	typ      reflect.Type // field type (struct mapping)
	key, add bool
	nullable bool   // pointer, slice or map field: nil is NULL (struct mapping)
	pgType   string // for CreateTable (struct mapping)
}

// mapping turns values of T into rows.
type mapping[T any] struct {
	cols   []column
	keys   []int // indices of the key columns in cols
	adds   []int // indices of the Add columns
	others []int // neither key nor Add
	row    func(v *T, dst []any) ([]any, error)
}

// newMapping builds the row mapping of cfg: the struct mapping of T, or Columns and Row, with the key and Add
// columns of the tags or of cfg.Key and cfg.Add.
func newMapping[T any](cfg *Config[T]) (*mapping[T], error) {
	m := &mapping[T]{}
	if cfg.Row != nil {
		for _, c := range cfg.Columns {
			m.cols = append(m.cols, column{name: c})
		}
		fn, n := cfg.Row, len(cfg.Columns)
		m.row = func(v *T, dst []any) ([]any, error) {
			vals, err := fn(*v)
			if err != nil {
				return dst, err
			}
			if len(vals) != n {
				return dst, fmt.Errorf("Config.Row returned %d values for %d columns", len(vals), n)
			}
			return append(dst, vals...), nil
		}
	} else {
		if err := m.structColumns(); err != nil {
			return nil, err
		}
	}
	byName := map[string]int{}
	for i, c := range m.cols {
		if _, dup := byName[c.name]; dup {
			return nil, fmt.Errorf("pgio: column %q is mapped twice", c.name)
		}
		byName[c.name] = i
	}
	mark := func(list []string, what string, set func(*column)) error {
		for _, name := range list {
			i, ok := byName[name]
			if !ok {
				return fmt.Errorf("pgio: Config.%s names column %q, which is not mapped (columns: %s)", what, name, strings.Join(m.names(), ", "))
			}
			set(&m.cols[i])
		}
		return nil
	}
	if len(cfg.Key) > 0 {
		for i := range m.cols {
			m.cols[i].key = false
		}
		if err := mark(cfg.Key, "Key", func(c *column) { c.key = true }); err != nil {
			return nil, err
		}
	}
	if len(cfg.Add) > 0 {
		for i := range m.cols {
			m.cols[i].add = false
		}
		if err := mark(cfg.Add, "Add", func(c *column) { c.add = true }); err != nil {
			return nil, err
		}
	}
	if cfg.Mode != Add {
		for i := range m.cols {
			m.cols[i].add = false // tags say which columns Mode Add adds; Replace replaces them all
		}
	}
	for i, c := range m.cols {
		switch {
		case c.key && c.add:
			return nil, fmt.Errorf("pgio: column %q is both a key and an Add column", c.name)
		case c.key:
			m.keys = append(m.keys, i)
			if c.typ != nil && c.typ.Kind() == reflect.Pointer {
				return nil, fmt.Errorf("pgio: key column %q comes from a pointer field (%s): key columns cannot be NULL", c.name, c.typ)
			}
		case c.add:
			m.adds = append(m.adds, i)
			if c.typ != nil && !isNumeric(c.typ) {
				return nil, fmt.Errorf("pgio: Add column %q has type %s; Add columns must be integers or floats", c.name, c.typ)
			}
		default:
			m.others = append(m.others, i)
		}
	}
	if len(m.keys) == 0 {
		return nil, fmt.Errorf("pgio: no key columns: tag the key fields `pg:\",key\"` or set Config.Key")
	}
	if cfg.Mode == Add && len(m.adds) == 0 {
		return nil, fmt.Errorf("pgio: Mode Add but no Add columns: tag the summed fields `pg:\",add\"` or set Config.Add")
	}
	return m, nil
}

func (m *mapping[T]) names() []string {
	out := make([]string, len(m.cols))
	for i, c := range m.cols {
		out[i] = c.name
	}
	return out
}

// structColumns maps the exported fields of struct T (embedded structs flattened) to columns.
func (m *mapping[T]) structColumns() error {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("pgio: %s is not a struct: map it with Config.Columns and Config.Row", t)
	}
	for _, f := range reflect.VisibleFields(t) {
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			continue // its fields are visible too
		}
		if !f.IsExported() {
			continue
		}
		tag, hasTag := f.Tag.Lookup("pg")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = snakeCase(f.Name)
		}
		c := column{name: name, index: f.Index, typ: f.Type}
		for _, o := range strings.Split(opts, ",") {
			switch strings.TrimSpace(o) {
			case "":
			case "key":
				c.key = true
			case "add":
				c.add = true
			default:
				if hasTag {
					return fmt.Errorf("pgio: field %s.%s: unknown pg tag option %q (want key or add)", t, f.Name, o)
				}
			}
		}
		if len(f.Index) > 1 {
			// Promoted through embedded structs: refuse embedded pointers, which may be nil.
			pt := t
			for _, i := range f.Index[:len(f.Index)-1] {
				pt = pt.Field(i).Type
				if pt.Kind() == reflect.Pointer {
					return fmt.Errorf("pgio: field %s.%s is promoted through an embedded pointer; embed the struct by value or use Config.Row", t, f.Name)
				}
			}
		}
		ft := f.Type
		switch ft.Kind() {
		case reflect.Pointer:
			c.nullable = true
			ft = ft.Elem()
		case reflect.Slice, reflect.Map:
			c.nullable = true // nil is NULL
		}
		c.pgType = pgTypeOf(ft)
		m.cols = append(m.cols, c)
	}
	if len(m.cols) == 0 {
		return fmt.Errorf("pgio: %s has no exported fields to map", t)
	}
	cols := m.cols
	m.row = func(v *T, dst []any) ([]any, error) {
		rv := reflect.ValueOf(v).Elem()
		for i := range cols {
			dst = append(dst, rv.FieldByIndex(cols[i].index).Interface())
		}
		return dst, nil
	}
	return nil
}

// snakeCase turns a Go field name into a column name: UserID → user_id, WindowStart → window_start.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
				(i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pgTypeOf is the column type CreateTable uses for a Go type, or "" when it has none.
func pgTypeOf(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Time]():
		return "timestamptz"
	case reflect.TypeFor[time.Duration]():
		return "interval"
	case reflect.TypeFor[json.RawMessage]():
		return "jsonb"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int8, reflect.Int16, reflect.Uint8:
		return "smallint"
	case reflect.Int32, reflect.Uint16:
		return "integer"
	case reflect.Int, reflect.Int64, reflect.Uint32:
		return "bigint"
	case reflect.Uint, reflect.Uint64:
		return "numeric(20)"
	case reflect.Float32:
		return "real"
	case reflect.Float64:
		return "double precision"
	case reflect.String:
		return "text"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytea"
		}
		return "jsonb"
	case reflect.Map, reflect.Struct, reflect.Array:
		return "jsonb"
	}
	return ""
}

func isNumeric(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// appendKey appends an unambiguous encoding of the key columns of row to dst, for finding rows of the same key
// within an epoch. ok is false when a key value is NULL.
func (m *mapping[T]) appendKey(dst []byte, row []any) ([]byte, bool) {
	for _, i := range m.keys {
		var ok bool
		if dst, ok = appendValue(dst, row[i]); !ok {
			return dst, false
		}
	}
	return dst, true
}

func appendValue(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return dst, false
	case string:
		dst = append(dst, 's')
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		return append(dst, x...), true
	case []byte:
		if x == nil {
			return dst, false
		}
		dst = append(dst, 'b')
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		return append(dst, x...), true
	case int64:
		return binary.AppendVarint(append(dst, 'i'), x), true
	case int:
		return binary.AppendVarint(append(dst, 'i'), int64(x)), true
	case int32:
		return binary.AppendVarint(append(dst, 'i'), int64(x)), true
	case int16:
		return binary.AppendVarint(append(dst, 'i'), int64(x)), true
	case int8:
		return binary.AppendVarint(append(dst, 'i'), int64(x)), true
	case uint64:
		return binary.AppendUvarint(append(dst, 'u'), x), true
	case uint32:
		return binary.AppendUvarint(append(dst, 'u'), uint64(x)), true
	case uint16:
		return binary.AppendUvarint(append(dst, 'u'), uint64(x)), true
	case uint8:
		return binary.AppendUvarint(append(dst, 'u'), uint64(x)), true
	case uint:
		return binary.AppendUvarint(append(dst, 'u'), uint64(x)), true
	case bool:
		if x {
			return append(dst, 't'), true
		}
		return append(dst, 'f'), true
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 'd'), math.Float64bits(x+0)), true // +0: -0 as 0
	case float32:
		return binary.BigEndian.AppendUint64(append(dst, 'd'), math.Float64bits(float64(x)+0)), true
	case time.Time:
		return binary.AppendVarint(append(dst, 'T'), x.UnixNano()), true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return dst, false
		}
		return appendValue(dst, rv.Elem().Interface())
	}
	switch rv.Kind() {
	case reflect.String:
		return appendValue(dst, rv.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendValue(dst, rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return appendValue(dst, rv.Uint())
	case reflect.Float32, reflect.Float64:
		return appendValue(dst, rv.Float())
	case reflect.Bool:
		return appendValue(dst, rv.Bool())
	}
	s := fmt.Sprintf("%T:%#v", v, v)
	dst = append(dst, 'x')
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...), true
}

// formatKey describes the key of a row for error messages: (user=ann, minute=2024-05-01 12:00:00 +0000 UTC).
func (m *mapping[T]) formatKey(row []any) string {
	parts := make([]string, 0, len(m.keys))
	for _, i := range m.keys {
		v := "?"
		if i < len(row) {
			v = formatValue(row[i])
		}
		parts = append(parts, m.cols[i].name+"="+v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func formatValue(v any) string {
	if v == nil {
		return "NULL"
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL"
		}
		v = rv.Elem().Interface()
	}
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		if len(x) > 32 {
			return fmt.Sprintf("%x…", x[:32])
		}
		return fmt.Sprintf("%x", x)
	}
	s := fmt.Sprint(v)
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

// addValues returns a+b for two values of an Add column.
func addValues(a, b any) (any, error) {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return x + y, nil
		}
	case int:
		if y, ok := b.(int); ok {
			return x + y, nil
		}
	case int32:
		if y, ok := b.(int32); ok {
			return x + y, nil
		}
	case int16:
		if y, ok := b.(int16); ok {
			return x + y, nil
		}
	case int8:
		if y, ok := b.(int8); ok {
			return x + y, nil
		}
	case uint64:
		if y, ok := b.(uint64); ok {
			return x + y, nil
		}
	case uint32:
		if y, ok := b.(uint32); ok {
			return x + y, nil
		}
	case uint16:
		if y, ok := b.(uint16); ok {
			return x + y, nil
		}
	case uint8:
		if y, ok := b.(uint8); ok {
			return x + y, nil
		}
	case uint:
		if y, ok := b.(uint); ok {
			return x + y, nil
		}
	case float64:
		if y, ok := b.(float64); ok {
			return x + y, nil
		}
	case float32:
		if y, ok := b.(float32); ok {
			return x + y, nil
		}
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.IsValid() && rb.IsValid() && ra.Type() == rb.Type() {
		out := reflect.New(ra.Type()).Elem()
		switch ra.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			out.SetInt(ra.Int() + rb.Int())
			return out.Interface(), nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			out.SetUint(ra.Uint() + rb.Uint())
			return out.Interface(), nil
		case reflect.Float32, reflect.Float64:
			out.SetFloat(ra.Float() + rb.Float())
			return out.Interface(), nil
		}
	}
	return nil, fmt.Errorf("cannot add %T and %T (Add columns must hold integers or floats of one type)", a, b)
}

// sqlNames returns the quoted names of the columns at idx (all columns when idx is nil), joined by ", ".
func (m *mapping[T]) sqlNames(idx []int, prefix string) string {
	var parts []string
	if idx == nil {
		for _, c := range m.cols {
			parts = append(parts, prefix+quoteIdent(c.name))
		}
	} else {
		for _, i := range idx {
			parts = append(parts, prefix+quoteIdent(m.cols[i].name))
		}
	}
	return strings.Join(parts, ", ")
}

func (m *mapping[T]) keyNames() []string {
	out := make([]string, len(m.keys))
	for j, i := range m.keys {
		out[j] = m.cols[i].name
	}
	slices.Sort(out)
	return out
}
