package coder

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unsafe"
)

// compiler builds the engines of one top-level type, once: reflection runs here, not per value.
type compiler struct {
	top     reflect.Type
	mode    mode
	engines map[reflect.Type]*engine
	sizes   map[reflect.Type]int
	// det is cleared when a part of the type may encode equal values differently (floats: -0 and +0;
	// marshalers: unknown).
	det bool
	// callsOut is set when the type has parts encoded by user methods.
	callsOut bool
}

func newCompiler(t reflect.Type, m mode) *compiler {
	return &compiler{top: t, mode: m, engines: map[reflect.Type]*engine{}, sizes: map[reflect.Type]int{}, det: true}
}

var timeType = reflect.TypeFor[time.Time]()

func (c *compiler) refuse(part reflect.Type, path, reason string) error {
	return &TypeError{Type: c.top, Path: path, Part: part, Reason: reason, Key: c.mode == keyMode}
}

// compile returns the engine of t. path is t's place in the top type and owner the innermost named struct
// around it (nil if none), both for errors.
func (c *compiler) compile(t reflect.Type, path string, owner reflect.Type) (*engine, error) {
	if e, ok := c.engines[t]; ok {
		return e, nil
	}
	if c.mode == keyMode {
		if t == timeType {
			return nil, c.refuse(t, path, "time.Time holds a *time.Location, and == compares it (equal instants in "+
				"different locations differ, and so do times with and without a monotonic reading); key by "+
				"t.UnixNano() or another integer or string")
		}
	} else if e, err := c.marshaler(t, path); e != nil || err != nil {
		return e, err
	}
	if t.Kind() == reflect.Struct && t.Name() != "" {
		owner = t
	}
	e := &engine{typ: t}
	c.engines[t] = e
	var err error
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		e.ops = []op{{code: c.scalar(t)}}
	case reflect.Struct:
		e.ops, err = c.structOps(t, path, owner)
	case reflect.Array:
		err = c.array(e, t, path, owner)
	case reflect.Slice:
		err = c.slice(e, t, path, owner)
	case reflect.Pointer:
		err = c.pointer(e, t, path, owner)
	case reflect.Map:
		err = c.mapping(e, t, path, owner)
	case reflect.Interface:
		if c.mode == keyMode {
			err = c.refuse(t, path, "interfaces compare by dynamic type and value, which bytes cannot carry without a "+
				"coder per dynamic type; key by a concrete type")
		} else if owner == nil {
			err = c.refuse(t, path, "interface types need a coder: give the collection a coder made with coder.New, or "+
				"use a concrete type")
		} else {
			err = c.refuse(t, path, fmt.Sprintf("interface types need a coder: implement encoding.BinaryMarshaler and "+
				"encoding.BinaryUnmarshaler (pointer receiver) on %s, or use a concrete type", owner))
		}
	case reflect.Func:
		err = c.refuse(t, path, "functions cannot be encoded")
	case reflect.Chan:
		if c.mode == keyMode {
			err = c.refuse(t, path, "channels compare by identity; key by a value")
		} else {
			err = c.refuse(t, path, "channels cannot be encoded")
		}
	case reflect.UnsafePointer:
		if c.mode == keyMode {
			err = c.refuse(t, path, "unsafe pointers compare by address; key by a value")
		} else {
			err = c.refuse(t, path, "unsafe pointers cannot be encoded")
		}
	default:
		err = c.refuse(t, path, "unsupported kind "+t.Kind().String())
	}
	if err != nil {
		delete(c.engines, t)
		return nil, err
	}
	e.minSize = c.minSize(t)
	if ops := e.ops; ops != nil {
		e.enc = func(dst []byte, p unsafe.Pointer, depth int) ([]byte, error) { return encOps(dst, p, ops, depth) }
		e.dec = func(b []byte, i int, p unsafe.Pointer, depth int) (int, error) { return decOps(b, i, p, ops, depth) }
	}
	e.done = true
	return e, nil
}

func (c *compiler) scalar(t reflect.Type) opcode {
	key := c.mode == keyMode
	switch t.Kind() {
	case reflect.Bool:
		return opBool
	case reflect.Int8, reflect.Uint8:
		return opByte
	case reflect.Int16:
		return opI16
	case reflect.Int32:
		return opI32
	case reflect.Int64:
		return opI64
	case reflect.Int:
		if t.Size() == 8 {
			return opI64
		}
		return opI32
	case reflect.Uint16:
		return opU16
	case reflect.Uint32:
		return opU32
	case reflect.Uint64:
		return opU64
	case reflect.Uint, reflect.Uintptr:
		if t.Size() == 8 {
			return opU64
		}
		return opU32
	case reflect.Float32:
		if key {
			return opKF32
		}
		c.det = false
		return opF32
	case reflect.Float64:
		if key {
			return opKF64
		}
		c.det = false
		return opF64
	case reflect.Complex64:
		if key {
			return opKC64
		}
		c.det = false
		return opC64
	case reflect.Complex128:
		if key {
			return opKC128
		}
		c.det = false
		return opC128
	}
	return opString
}

// structOps returns the ops of a struct: its fields in order, nested structs and small arrays inlined.
func (c *compiler) structOps(t reflect.Type, path string, owner reflect.Type) ([]op, error) {
	ops := []op{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		sub, err := c.compile(f.Type, joinPath(path, f.Name), owner)
		if err != nil {
			return nil, err
		}
		ops = appendOps(ops, sub, f.Offset, f.Name)
	}
	return ops, nil
}

// maxUnroll bounds the ops an array is unrolled into.
const maxUnroll = 16

// appendOps appends sub's ops (or a call to sub) for a part at offset off and path path.
func appendOps(ops []op, sub *engine, off uintptr, path string) []op {
	if sub.done && sub.ops != nil {
		for _, o := range sub.ops {
			o.off += off
			o.path = joinPath(path, o.path)
			ops = append(ops, o)
		}
		return ops
	}
	return append(ops, op{code: opSub, off: off, eng: sub, path: path})
}

func (c *compiler) array(e *engine, t reflect.Type, path string, owner reflect.Type) error {
	et, n := t.Elem(), t.Len()
	el, err := c.compile(et, path+"[]", owner)
	if err != nil {
		return err
	}
	size := et.Size()
	switch {
	case n == 0:
		e.ops = []op{}
		return nil
	case el.done && len(el.ops) == 1 && el.ops[0].code == opByte:
		e.ops = []op{{code: opRaw, n: n}}
		return nil
	case el.done && el.ops != nil && n*len(el.ops) <= maxUnroll:
		e.ops = []op{}
		for j := 0; j < n; j++ {
			e.ops = appendOps(e.ops, el, uintptr(j)*size, fmt.Sprintf("[%d]", j))
		}
		return nil
	}
	e.enc = func(dst []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		for j := 0; j < n; j++ {
			var err error
			if dst, err = el.enc(dst, unsafe.Add(p, uintptr(j)*size), depth); err != nil {
				return dst, atPath(err, fmt.Sprintf("[%d]", j))
			}
		}
		return dst, nil
	}
	e.dec = func(b []byte, i int, p unsafe.Pointer, depth int) (int, error) {
		for j := 0; j < n; j++ {
			var err error
			if i, err = el.dec(b, i, unsafe.Add(p, uintptr(j)*size), depth); err != nil {
				return i, atPath(err, fmt.Sprintf("[%d]", j))
			}
		}
		return i, nil
	}
	return nil
}

// sliceHeader is the memory layout of a slice.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

func (c *compiler) slice(e *engine, t reflect.Type, path string, owner reflect.Type) error {
	et := t.Elem()
	if et.Kind() == reflect.Uint8 && (c.mode == keyMode || !hasMarshaler(et)) {
		e.ops = []op{{code: opBytes}}
		return nil
	}
	if c.mode == keyMode {
		return c.refuse(t, path, "slices are not comparable")
	}
	el, err := c.compile(et, path+"[]", owner)
	if err != nil {
		return err
	}
	size := et.Size()
	elMin := c.minSize(et)
	alloc := allocator(t)
	e.enc = func(dst []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		h := (*sliceHeader)(p)
		if h.data == nil {
			return append(dst, 0), nil
		}
		if depth >= maxDepth {
			return dst, errDepth
		}
		dst = binary.AppendUvarint(dst, uint64(h.len)+1)
		if elMin == 0 {
			return dst, nil // the elements encode to nothing
		}
		return encElems(dst, h.data, h.len, el, depth+1)
	}
	e.dec = func(b []byte, i int, p unsafe.Pointer, depth int) (int, error) {
		n, j, err := readCount(b, i, elMin, size)
		if err != nil {
			return i, err
		}
		if n < 0 {
			*(*sliceHeader)(p) = sliceHeader{}
			return j, nil
		}
		if depth >= maxDepth {
			return i, malformed(i, "nested more than %d deep", maxDepth)
		}
		data := alloc(n)
		if elMin > 0 {
			if j, err = decElems(b, j, data, n, el, depth+1); err != nil {
				return j, err
			}
		}
		*(*sliceHeader)(p) = sliceHeader{data: data, len: n, cap: n}
		return j, nil
	}
	return nil
}

// encElems encodes n elements at data with their engine; the common scalar elements take a loop of their own.
func encElems(dst []byte, data unsafe.Pointer, n int, el *engine, depth int) ([]byte, error) {
	size := el.typ.Size()
	ops := el.ops
	if ops == nil {
		for j := 0; j < n; j++ {
			var err error
			if dst, err = el.enc(dst, unsafe.Add(data, uintptr(j)*size), depth); err != nil {
				return dst, atPath(err, fmt.Sprintf("[%d]", j))
			}
		}
		return dst, nil
	}
	if len(ops) == 1 && ops[0].off == 0 {
		switch ops[0].code {
		case opI64:
			for _, v := range unsafe.Slice((*int64)(data), n) {
				dst = binary.AppendVarint(dst, v)
			}
			return dst, nil
		case opU64:
			for _, v := range unsafe.Slice((*uint64)(data), n) {
				dst = binary.AppendUvarint(dst, v)
			}
			return dst, nil
		case opF64:
			for _, v := range unsafe.Slice((*uint64)(data), n) {
				dst = binary.LittleEndian.AppendUint64(dst, v)
			}
			return dst, nil
		case opString:
			for _, v := range unsafe.Slice((*string)(data), n) {
				dst = binary.AppendUvarint(dst, uint64(len(v)))
				dst = append(dst, v...)
			}
			return dst, nil
		}
	}
	for j := 0; j < n; j++ {
		var err error
		if dst, err = encOps(dst, unsafe.Add(data, uintptr(j)*size), ops, depth); err != nil {
			return dst, atPath(err, fmt.Sprintf("[%d]", j))
		}
	}
	return dst, nil
}

// decElems decodes n elements into data, as encElems encoded them.
func decElems(b []byte, i int, data unsafe.Pointer, n int, el *engine, depth int) (int, error) {
	size := el.typ.Size()
	ops := el.ops
	for j := 0; j < n; j++ {
		var err error
		if ops != nil {
			i, err = decOps(b, i, unsafe.Add(data, uintptr(j)*size), ops, depth)
		} else {
			i, err = el.dec(b, i, unsafe.Add(data, uintptr(j)*size), depth)
		}
		if err != nil {
			return i, atPath(err, fmt.Sprintf("[%d]", j))
		}
	}
	return i, nil
}

// allocator returns a function allocating the backing array of n elements of slice type t. Arrays whose
// elements have the memory layout of a Go type known here (no pointers; a string; a pointer-shaped word; a
// slice header) are allocated as such, in one allocation and without reflection; others with
// reflect.MakeSlice.
func allocator(t reflect.Type) func(n int) unsafe.Pointer {
	et := t.Elem()
	size := et.Size()
	switch {
	case !hasPointers(et) && et.Align() <= 8:
		return func(n int) unsafe.Pointer {
			return unsafe.Pointer(unsafe.SliceData(make([]uint64, (uintptr(n)*size+7)/8)))
		}
	case et.Kind() == reflect.String:
		return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]string, n))) }
	case et.Kind() == reflect.Pointer || et.Kind() == reflect.Map:
		return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([]unsafe.Pointer, n))) }
	case et.Kind() == reflect.Slice:
		return func(n int) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(make([][]byte, n))) }
	}
	return func(n int) unsafe.Pointer { return reflect.MakeSlice(t, n, n).UnsafePointer() }
}

// hasPointers reports whether values of t hold pointers (blank fields included: their memory is typed too).
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.String, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan,
		reflect.UnsafePointer:
		return true
	}
	return false
}

func (c *compiler) pointer(e *engine, t reflect.Type, path string, owner reflect.Type) error {
	if c.mode == keyMode {
		return c.refuse(t, path, "pointers compare by address, not by what they point to, so equal keys would not "+
			"have equal bytes; key by the pointed-to value")
	}
	et := t.Elem()
	el, err := c.compile(et, path, owner)
	if err != nil {
		return err
	}
	e.enc = func(dst []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return append(dst, 0), nil
		}
		if depth >= maxDepth {
			return dst, errDepth
		}
		return el.enc(append(dst, 1), q, depth+1)
	}
	e.dec = func(b []byte, i int, p unsafe.Pointer, depth int) (int, error) {
		if i >= len(b) {
			return i, truncated(i)
		}
		switch b[i] {
		case 0:
			*(*unsafe.Pointer)(p) = nil
			return i + 1, nil
		case 1:
		default:
			return i, malformed(i, "pointer flag %d is neither 0 (nil) nor 1", b[i])
		}
		if depth >= maxDepth {
			return i, malformed(i, "nested more than %d deep", maxDepth)
		}
		q := reflect.New(et).UnsafePointer()
		j, err := el.dec(b, i+1, q, depth+1)
		if err != nil {
			return j, err
		}
		*(*unsafe.Pointer)(p) = q
		return j, nil
	}
	return nil
}

// minSize returns the fewest bytes a value of t encodes to (capped), without compiling t, so that it is known
// for types whose engines are under construction.
func (c *compiler) minSize(t reflect.Type) int {
	if n, ok := c.sizes[t]; ok {
		return n
	}
	n := 0
	switch t.Kind() {
	case reflect.Float32:
		n = 4
	case reflect.Float64, reflect.Complex64:
		n = 8
	case reflect.Complex128:
		n = 16
	case reflect.Array:
		if t.Len() > 0 {
			n = min(t.Len()*c.minSize(t.Elem()), 1<<30)
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.Name != "_" {
				n = min(n+c.minSize(f.Type), 1<<30)
			}
		}
	case reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
	default:
		n = 1
	}
	if c.mode == valueMode && hasMarshaler(t) {
		n = 1
	}
	c.sizes[t] = n
	return n
}

// describe names t for Coder.Name: named structs with their fields.
func describe(t reflect.Type) string {
	if t.Kind() != reflect.Struct || t.Name() == "" {
		return t.String()
	}
	var sb strings.Builder
	sb.WriteString("struct ")
	sb.WriteString(t.String())
	sb.WriteByte('{')
	n := 0
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		if n > 0 {
			sb.WriteString("; ")
		}
		n++
		if !f.Anonymous {
			sb.WriteString(f.Name)
			sb.WriteByte(' ')
		}
		sb.WriteString(f.Type.String())
	}
	sb.WriteByte('}')
	return sb.String()
}
