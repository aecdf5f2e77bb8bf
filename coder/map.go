package coder

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"slices"
	"sync"
	"unsafe"
)

// span is one encoded map entry: key at [k, v), value at [v, end).
type span struct{ k, v, end int }

type mapScratch struct {
	buf   []byte
	spans []span
}

var mapScratches = sync.Pool{New: func() any { return new(mapScratch) }}

// mapping compiles a map type: count+1 (0 for nil), then the entries, each key then value, sorted by the key's
// bytes (then the value's), so that equal maps encode to equal bytes whatever their iteration order. Maps are
// read and built through reflect's map iteration and assignment (per entry, not per field).
func (c *compiler) mapping(e *engine, t reflect.Type, path string, owner reflect.Type) error {
	if c.mode == keyMode {
		return c.refuse(t, path, "maps are not comparable")
	}
	kt, vt := t.Key(), t.Elem()
	ke, err := c.compile(kt, path+"[key]", owner)
	if err != nil {
		return err
	}
	ve, err := c.compile(vt, path+"[value]", owner)
	if err != nil {
		return err
	}
	kmin := c.minSize(kt)
	e.ops = []op{{code: opMap, x: &extra{typ: t, key: ke, val: ve, kmin: kmin, min: kmin + c.minSize(vt),
		etyp: efaceType(reflect.Zero(t).Interface())}}}
	return nil
}

// encMap encodes the (non-nil) map whose pointer is mp.
func encMap(dst []byte, mp unsafe.Pointer, x *extra, depth int) ([]byte, error) {
	// The map as a reflect.Value made from the map pointer itself (maps are pointer-shaped).
	m := reflect.ValueOf(packEface(x.etyp, mp))
	n := m.Len()
	dst = binary.AppendUvarint(dst, uint64(n)+1)
	if n == 0 {
		return dst, nil
	}
	k, v := reflect.New(x.typ.Key()).Elem(), reflect.New(x.typ.Elem()).Elem()
	kp, vp := k.Addr().UnsafePointer(), v.Addr().UnsafePointer()
	sc := mapScratches.Get().(*mapScratch)
	defer mapScratches.Put(sc)
	spans := sc.spans[:0]
	start := len(dst)
	it := m.MapRange()
	for it.Next() {
		k.SetIterKey(it)
		v.SetIterValue(it)
		ks := len(dst)
		var err error
		if dst, err = encValue(dst, kp, x.key, depth); err != nil {
			return dst, atPath(err, "[key]")
		}
		vs := len(dst)
		if dst, err = encValue(dst, vp, x.val, depth); err != nil {
			return dst, atPath(err, "[value]")
		}
		spans = append(spans, span{ks - start, vs - start, len(dst) - start})
	}
	body := dst[start:]
	slices.SortFunc(spans, func(a, b span) int {
		if c := bytes.Compare(body[a.k:a.v], body[b.k:b.v]); c != 0 {
			return c
		}
		return bytes.Compare(body[a.v:a.end], body[b.v:b.end])
	})
	sc.buf = append(sc.buf[:0], body...)
	w := start
	for _, s := range spans {
		w += copy(dst[w:], sc.buf[s.k:s.end])
	}
	sc.spans = spans
	return dst, nil
}

// decMap decodes a map at b[i:] and returns its pointer (nil for a nil map).
func decMap(b []byte, i int, x *extra, depth int) (unsafe.Pointer, int, error) {
	n, j, err := readCount(b, i, x.min, 1)
	if err != nil {
		return nil, i, err
	}
	if n < 0 {
		return nil, j, nil
	}
	if x.kmin == 0 && n > 1 {
		return nil, i, malformed(i, "%d entries in a map whose key type has a single value", n)
	}
	if depth > maxDepth {
		return nil, i, malformed(i, "nested more than %d deep", maxDepth)
	}
	m := reflect.MakeMapWithSize(x.typ, n)
	k, v := reflect.New(x.typ.Key()).Elem(), reflect.New(x.typ.Elem()).Elem()
	kp, vp := k.Addr().UnsafePointer(), v.Addr().UnsafePointer()
	for range n {
		k.SetZero()
		v.SetZero()
		at := j
		if j, err = decValue(b, j, kp, x.key, depth); err != nil {
			return nil, j, atPath(err, "[key]")
		}
		if j, err = decValue(b, j, vp, x.val, depth); err != nil {
			return nil, j, atPath(err, "[value]")
		}
		before := m.Len()
		m.SetMapIndex(k, v)
		if m.Len() == before {
			return nil, at, malformed(at, "duplicate map key")
		}
	}
	return m.UnsafePointer(), j, nil
}

// eface is the memory layout of an empty interface value: its type and its data word (the value itself for
// pointer-shaped types such as maps).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// efaceType returns the type word of x.
func efaceType(x any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&x)).typ }

// packEface returns the interface value of type word typ holding the pointer-shaped value data.
func packEface(typ, data unsafe.Pointer) (x any) {
	*(*eface)(unsafe.Pointer(&x)) = eface{typ: typ, data: data}
	return x
}
