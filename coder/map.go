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

// mapping builds the engine of a map type: count+1 (0 for nil), then the entries, each key then value, sorted by
// the key's bytes (then the value's), so that equal maps encode to equal bytes whatever their iteration order.
// Maps are read and built through reflect's map iteration and assignment (per entry, not per field).
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
	kmin, vmin := c.minSize(kt), c.minSize(vt)
	e.enc = func(dst []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if *(*unsafe.Pointer)(p) == nil {
			return append(dst, 0), nil
		}
		if depth >= maxDepth {
			return dst, errDepth
		}
		m := reflect.NewAt(t, p).Elem()
		n := m.Len()
		dst = binary.AppendUvarint(dst, uint64(n)+1)
		if n == 0 {
			return dst, nil
		}
		k, v := reflect.New(kt).Elem(), reflect.New(vt).Elem()
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
			if dst, err = ke.enc(dst, kp, depth+1); err != nil {
				return dst, atPath(err, "[key]")
			}
			vs := len(dst)
			if dst, err = ve.enc(dst, vp, depth+1); err != nil {
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
	e.dec = func(b []byte, i int, p unsafe.Pointer, depth int) (int, error) {
		n, j, err := readCount(b, i, kmin+vmin, 1)
		if err != nil {
			return i, err
		}
		dst := reflect.NewAt(t, p).Elem()
		if n < 0 {
			dst.SetZero()
			return j, nil
		}
		if kmin == 0 && n > 1 {
			return i, malformed(i, "%d entries in a map whose key type has a single value", n)
		}
		if depth >= maxDepth {
			return i, malformed(i, "nested more than %d deep", maxDepth)
		}
		m := reflect.MakeMapWithSize(t, n)
		k, v := reflect.New(kt).Elem(), reflect.New(vt).Elem()
		kp, vp := k.Addr().UnsafePointer(), v.Addr().UnsafePointer()
		for range n {
			k.SetZero()
			v.SetZero()
			at := j
			if j, err = ke.dec(b, j, kp, depth+1); err != nil {
				return j, atPath(err, "[key]")
			}
			if j, err = ve.dec(b, j, vp, depth+1); err != nil {
				return j, atPath(err, "[value]")
			}
			before := m.Len()
			m.SetMapIndex(k, v)
			if m.Len() == before {
				return at, malformed(at, "duplicate map key")
			}
		}
		dst.Set(m)
		return j, nil
	}
	return nil
}
