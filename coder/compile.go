package coder

import (
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
	flat    map[*engine]bool
	mops    map[*engine]bool
	// det is cleared when a part of the type may encode equal values differently (floats: -0 and +0;
	// marshalers: unknown).
	det bool
}

func newCompiler(t reflect.Type, m mode) *compiler {
	return &compiler{top: t, mode: m, engines: map[reflect.Type]*engine{}, sizes: map[reflect.Type]int{},
		flat: map[*engine]bool{}, mops: map[*engine]bool{}, det: true}
}

var timeType = reflect.TypeFor[time.Time]()

func (c *compiler) refuse(part reflect.Type, path, reason string) error {
	return &TypeError{Type: c.top, Path: path, Part: part, Reason: reason, Key: c.mode == keyMode}
}

// build compiles the top type and finishes its engines.
func (c *compiler) build() (*engine, error) {
	e, err := c.compile(c.top, "", nil)
	if err != nil {
		return nil, err
	}
	for _, x := range c.engines {
		c.flatten(x)
	}
	for _, x := range c.engines {
		x.mops = c.hasMarshalers(x)
		x.scalars = scalarOps(x.ops)
	}
	return e, nil
}

// compile returns the engine of t. path is t's place in the top type and owner the innermost named struct
// around it (nil if none), both for errors.
func (c *compiler) compile(t reflect.Type, path string, owner reflect.Type) (*engine, error) {
	if e, ok := c.engines[t]; ok {
		return e, nil
	}
	if c.mode == keyMode && t == timeType {
		return nil, c.refuse(t, path, "time.Time holds a *time.Location, and == compares it (equal instants in "+
			"different locations differ, and so do times with and without a monotonic reading); key by "+
			"t.UnixNano() or another integer or string")
	}
	if t.Kind() == reflect.Struct && t.Name() != "" {
		owner = t
	}
	e := &engine{typ: t, size: t.Size()}
	c.engines[t] = e
	var err error
	switch {
	case c.mode == valueMode && hasMarshaler(t):
		err = c.marshaler(e, t, path)
	case t.Kind() == reflect.Struct:
		e.ops, err = c.structOps(t, path, owner)
	case t.Kind() == reflect.Array:
		err = c.array(e, t, path, owner)
	case t.Kind() == reflect.Slice:
		err = c.slice(e, t, path, owner)
	case t.Kind() == reflect.Pointer:
		err = c.pointer(e, t, path, owner)
	case t.Kind() == reflect.Map:
		err = c.mapping(e, t, path, owner)
	case t.Kind() == reflect.Interface:
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
	case t.Kind() == reflect.Func:
		err = c.refuse(t, path, "functions cannot be encoded")
	case t.Kind() == reflect.Chan:
		if c.mode == keyMode {
			err = c.refuse(t, path, "channels compare by identity; key by a value")
		} else {
			err = c.refuse(t, path, "channels cannot be encoded")
		}
	case t.Kind() == reflect.UnsafePointer:
		if c.mode == keyMode {
			err = c.refuse(t, path, "unsafe pointers compare by address; key by a value")
		} else {
			err = c.refuse(t, path, "unsafe pointers cannot be encoded")
		}
	default:
		if code, ok := c.scalar(t); ok {
			e.ops = []op{{code: code}}
		} else {
			err = c.refuse(t, path, "unsupported kind "+t.Kind().String())
		}
	}
	if err != nil {
		delete(c.engines, t)
		return nil, err
	}
	e.minSize = c.minSize(t)
	e.done = true
	return e, nil
}

func (c *compiler) scalar(t reflect.Type) (opcode, bool) {
	key := c.mode == keyMode
	switch t.Kind() {
	case reflect.Bool:
		return opBool, true
	case reflect.Int8, reflect.Uint8:
		return opByte, true
	case reflect.Int16:
		return opI16, true
	case reflect.Int32:
		return opI32, true
	case reflect.Int64:
		return opI64, true
	case reflect.Int:
		if t.Size() == 8 {
			return opI64, true
		}
		return opI32, true
	case reflect.Uint16:
		return opU16, true
	case reflect.Uint32:
		return opU32, true
	case reflect.Uint64:
		return opU64, true
	case reflect.Uint, reflect.Uintptr:
		if t.Size() == 8 {
			return opU64, true
		}
		return opU32, true
	case reflect.Float32:
		if key {
			return opKF32, true
		}
		c.det = false
		return opF32, true
	case reflect.Float64:
		if key {
			return opKF64, true
		}
		c.det = false
		return opF64, true
	case reflect.Complex64:
		if key {
			return opKC64, true
		}
		c.det = false
		return opC64, true
	case reflect.Complex128:
		if key {
			return opKC128, true
		}
		c.det = false
		return opC128, true
	case reflect.String:
		return opString, true
	}
	return 0, false
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

// appendOps appends sub's ops for a part at offset off and path path, or an opSub that build inlines when sub
// is still under construction.
func appendOps(ops []op, sub *engine, off uintptr, path string) []op {
	if !sub.done {
		return append(ops, op{code: opSub, off: off, eng: sub, path: path})
	}
	for _, o := range sub.ops {
		o.off += off
		o.path = joinPath(path, o.path)
		ops = append(ops, o)
	}
	return ops
}

// flatten replaces e's opSubs by the ops of their engines (parts by value do not nest in cycles).
func (c *compiler) flatten(e *engine) {
	if c.flat[e] {
		return
	}
	c.flat[e] = true
	var ops []op
	for i, o := range e.ops {
		if o.code != opSub {
			if ops != nil {
				ops = append(ops, o)
			}
			continue
		}
		if ops == nil {
			ops = append([]op{}, e.ops[:i]...)
		}
		c.flatten(o.eng)
		ops = appendOps(ops, o.eng, o.off, o.path)
	}
	if ops != nil {
		e.ops = ops
	}
}

// hasMarshalers reports whether e's ops hold marshalers directly (not behind a pointer, slice or map).
func (c *compiler) hasMarshalers(e *engine) bool {
	if m, ok := c.mops[e]; ok {
		return m
	}
	m := false
	for _, o := range e.ops {
		if o.code == opMarshal || (o.code == opArray && c.hasMarshalers(o.eng)) {
			m = true
			break
		}
	}
	c.mops[e] = m
	return m
}

func (c *compiler) array(e *engine, t reflect.Type, path string, owner reflect.Type) error {
	et, n := t.Elem(), t.Len()
	el, err := c.compile(et, path+"[]", owner)
	if err != nil {
		return err
	}
	switch {
	case n == 0:
		e.ops = []op{}
	case el.done && len(el.ops) == 1 && el.ops[0].code == opByte:
		e.ops = []op{{code: opRaw, n: n}}
	case el.done && n*len(el.ops) <= maxUnroll:
		e.ops = []op{}
		for j := 0; j < n; j++ {
			e.ops = appendOps(e.ops, el, uintptr(j)*el.size, fmt.Sprintf("[%d]", j))
		}
	default:
		e.ops = []op{{code: opArray, n: n, eng: el}}
	}
	return nil
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
	e.ops = []op{{code: opSlice, eng: el, x: &extra{alloc: allocator(t), min: c.minSize(et)}}}
	return nil
}

func (c *compiler) pointer(e *engine, t reflect.Type, path string, owner reflect.Type) error {
	if c.mode == keyMode {
		return c.refuse(t, path, "pointers compare by address, not by what they point to, so equal keys would not "+
			"have equal bytes; key by the pointed-to value")
	}
	el, err := c.compile(t.Elem(), path, owner)
	if err != nil {
		return err
	}
	e.ops = []op{{code: opPtr, eng: el, x: &extra{typ: t.Elem()}}}
	return nil
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
