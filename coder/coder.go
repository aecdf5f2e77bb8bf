package coder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// FormatVersion is the version of the encoding that Of and KeyOf produce (described in the package
// documentation). Files that keep encoded values across runs (checkpoints, spilled state) record it with the
// Coder's Name; an incompatible change of the encoding increments it.
const FormatVersion = 1

// Coder encodes and decodes values of T.
type Coder[T any] struct {
	// Name describes the encoded type ("int64", "string", "struct main.Event{Key string; Value int64}"), for
	// errors and dumps.
	Name string
	// Append appends v's encoding to dst and returns the extended buffer.
	Append func(dst []byte, v T) ([]byte, error)
	// Decode decodes all of b: it returns an error if b holds more or fewer bytes than one value. The value does
	// not alias b.
	Decode func(b []byte) (T, error)
	// Deterministic reports that equal values (==, or element by element for slices and maps) always encode to
	// equal bytes.
	Deterministic bool

	// eng is the compiled engine of T when the coder comes from Of or KeyOf (nil for New): Slice uses it to
	// encode elements in the same form as Of[[]T].
	eng *engine
}

// Errors wrapped by the errors of this package, for errors.Is.
var (
	// ErrUnsupported: Of cannot encode the type (functions, channels, interfaces …).
	ErrUnsupported = errors.New("type cannot be encoded")
	// ErrNondeterministic: KeyOf cannot encode the key type so that bytes are equal exactly when keys are.
	ErrNondeterministic = errors.New("key type cannot be encoded deterministically")
	// ErrMalformed: the bytes given to Decode or ReadLen are not the encoding of one value.
	ErrMalformed = errors.New("malformed encoding")
)

// TypeError is the error of Of and KeyOf for a type they refuse.
type TypeError struct {
	// Type is the type asked for.
	Type reflect.Type
	// Path is the path from Type to the part that cannot be encoded: field names, "[]" for elements of slices
	// and arrays, "[key]" and "[value]" for maps; pointers add nothing. Empty for Type itself.
	Path string
	// Part is the type of that part.
	Part reflect.Type
	// Reason says why it cannot be encoded and what to do.
	Reason string
	// Key is set for KeyOf's refusals.
	Key bool
}

// Error describes the refusal: the type, the field path, the part's type and the reason.
func (e *TypeError) Error() string {
	what := "coder: " + e.Type.String()
	if e.Key {
		what = "coder: key type " + e.Type.String()
	}
	switch {
	case e.Path != "":
		return fmt.Sprintf("%s: field %s (%s): %s", what, e.Path, e.Part, e.Reason)
	case e.Part != e.Type:
		return fmt.Sprintf("%s: type %s: %s", what, e.Part, e.Reason)
	default:
		return what + ": " + e.Reason
	}
}

// Unwrap returns ErrNondeterministic for KeyOf's refusals, ErrUnsupported otherwise.
func (e *TypeError) Unwrap() error {
	if e.Key {
		return ErrNondeterministic
	}
	return ErrUnsupported
}

// New returns a coder from functions, for types that Of encodes differently from what is wanted. Nil functions
// give a coder whose calls return an error.
func New[T any](name string, append func([]byte, T) ([]byte, error), decode func([]byte) (T, error), deterministic bool) Coder[T] {
	if append == nil {
		append = func(dst []byte, _ T) ([]byte, error) {
			return dst, fmt.Errorf("coder %s: no Append function", name)
		}
	}
	if decode == nil {
		decode = func([]byte) (T, error) {
			var zero T
			return zero, fmt.Errorf("coder %s: no Decode function", name)
		}
	}
	return Coder[T]{Name: name, Append: append, Decode: decode, Deterministic: deterministic}
}

// Of returns the value coder of T (see the package documentation for the encoding). It returns a *TypeError,
// naming the type and the path of the field, when T holds a part that cannot be encoded: a function, a
// channel, an unsafe.Pointer or an interface. Coders are built once per type and cached; they are safe for
// concurrent use.
func Of[T any]() (Coder[T], error) { return get[T](valueMode) }

// KeyOf returns a coder for grouping keys of type T: its bytes are equal exactly when the keys are equal (==),
// so runners may group by bytes. Floats are canonicalised (-0 encodes as +0, every NaN as one NaN). It returns a
// *TypeError naming the type, the field path and the reason for key types that compare by something their bytes
// cannot carry: pointers, channels and unsafe pointers (by address), interfaces (by dynamic type), and types that
// contain them, such as time.Time (which holds a *time.Location). Methods (BinaryMarshaler) are not used: the
// key's fields are encoded, as == compares them.
func KeyOf[T comparable]() (Coder[T], error) { return get[T](keyMode) }

type mode uint8

const (
	valueMode mode = iota
	keyMode
)

type cacheKey struct {
	t reflect.Type
	m mode
}

type cached struct {
	c   any
	err error
}

var cache sync.Map // cacheKey → *cached

func get[T any](m mode) (Coder[T], error) {
	t := reflect.TypeFor[T]()
	k := cacheKey{t, m}
	if v, ok := cache.Load(k); ok {
		e := v.(*cached)
		if e.err != nil {
			return Coder[T]{}, e.err
		}
		return e.c.(Coder[T]), nil
	}
	c, err := build[T](t, m)
	v, _ := cache.LoadOrStore(k, &cached{c: c, err: err})
	e := v.(*cached)
	if e.err != nil {
		return Coder[T]{}, e.err
	}
	return e.c.(Coder[T]), nil
}

func build[T any](t reflect.Type, m mode) (Coder[T], error) {
	cp := newCompiler(t, m)
	e, err := cp.build()
	if err != nil {
		return Coder[T]{}, err
	}
	name := describe(t)
	if m == keyMode {
		name = "key " + name
	}
	c := Coder[T]{Name: name, Deterministic: m == keyMode || cp.det, eng: e}
	if !fastPath(&c, e) {
		generic(&c, e)
	}
	return c, nil
}

// generic sets c's functions to run the engine's ops on the value. Without marshalers the value stays on the
// caller's stack (encOps and decOps keep its address); with them it moves to the heap.
func generic[T any](c *Coder[T], e *engine) {
	name := c.Name
	ops := e.ops
	if e.mops {
		c.Append = func(dst []byte, v T) ([]byte, error) {
			dst, err := encOpsM(dst, unsafe.Pointer(&v), ops, 0)
			if err != nil {
				return dst, fmt.Errorf("coder %s: encode: %w", name, err)
			}
			return dst, nil
		}
		c.Decode = func(b []byte) (T, error) {
			var v T
			i, err := decOpsM(b, 0, unsafe.Pointer(&v), ops, 0)
			if err = decoded(name, b, i, err); err != nil {
				var zero T
				return zero, err
			}
			return v, nil
		}
		return
	}
	if e.scalars {
		c.Append = func(dst []byte, v T) ([]byte, error) { return encScalars(dst, unsafe.Pointer(&v), ops), nil }
	} else {
		c.Append = func(dst []byte, v T) ([]byte, error) {
			dst, err := encOps(dst, unsafe.Pointer(&v), ops, 0)
			if err != nil {
				return dst, fmt.Errorf("coder %s: encode: %w", name, err)
			}
			return dst, nil
		}
	}
	c.Decode = func(b []byte) (T, error) {
		var v T
		i, err := decOps(b, 0, unsafe.Pointer(&v), ops, 0)
		if err = decoded(name, b, i, err); err != nil {
			var zero T
			return zero, err
		}
		return v, nil
	}
}

// decoded returns the error of a decoding that stopped at b[i] with err.
func decoded(name string, b []byte, i int, err error) error {
	if err == nil && i != len(b) {
		err = malformed(i, "%d bytes left over after the value", len(b)-i)
	}
	if err != nil {
		return fmt.Errorf("coder %s: decode: %w", name, err)
	}
	return nil
}

// fastPath sets c's functions for scalar T without going through the engine, and reports whether it did.
func fastPath[T any](c *Coder[T], e *engine) bool {
	if len(e.ops) != 1 || e.ops[0].off != 0 {
		return false
	}
	name := c.Name
	fail := func(err error) error { return fmt.Errorf("coder %s: decode: %w", name, err) }
	switch e.ops[0].code {
	case opString:
		c.Append = func(dst []byte, v T) ([]byte, error) {
			s := *(*string)(unsafe.Pointer(&v))
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			return append(dst, s...), nil
		}
		c.Decode = func(b []byte) (T, error) {
			var v T
			n, i, err := readLen(b, 0)
			if err == nil && n != len(b)-i {
				err = malformed(i+n, "%d bytes left over after the value", len(b)-i-n)
			}
			if err != nil {
				return v, fail(err)
			}
			*(*string)(unsafe.Pointer(&v)) = string(b[i:])
			return v, nil
		}
	case opI64:
		c.Append = func(dst []byte, v T) ([]byte, error) {
			return binary.AppendVarint(dst, *(*int64)(unsafe.Pointer(&v))), nil
		}
		c.Decode = func(b []byte) (T, error) {
			var v T
			x, n := binary.Varint(b)
			if n <= 0 || n != len(b) {
				return v, fail(varintErr(b, 0, n))
			}
			*(*int64)(unsafe.Pointer(&v)) = x
			return v, nil
		}
	case opU64:
		c.Append = func(dst []byte, v T) ([]byte, error) {
			return binary.AppendUvarint(dst, *(*uint64)(unsafe.Pointer(&v))), nil
		}
		c.Decode = func(b []byte) (T, error) {
			var v T
			x, n := binary.Uvarint(b)
			if n <= 0 || n != len(b) {
				return v, fail(varintErr(b, 0, n))
			}
			*(*uint64)(unsafe.Pointer(&v)) = x
			return v, nil
		}
	case opF64:
		c.Append = func(dst []byte, v T) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(dst, *(*uint64)(unsafe.Pointer(&v))), nil
		}
		c.Decode = func(b []byte) (T, error) {
			var v T
			if len(b) < 8 {
				return v, fail(truncated(0))
			}
			if len(b) > 8 {
				return v, fail(malformed(8, "%d bytes left over after the value", len(b)-8))
			}
			*(*uint64)(unsafe.Pointer(&v)) = binary.LittleEndian.Uint64(b)
			return v, nil
		}
	default:
		return false
	}
	return true
}

// Slice returns a coder of slices whose elements are encoded by elem. With a coder from Of or KeyOf the bytes
// are those of Of[[]T] (a count, then the elements); with other coders each element is length-prefixed (as by
// AppendLen). Nil and empty slices are told apart.
func Slice[T any](elem Coder[T]) Coder[[]T] {
	c := Coder[[]T]{Name: "[]" + elem.Name, Deterministic: elem.Deterministic}
	name := c.Name
	if e := elem.eng; e != nil {
		size := e.typ.Size()
		c.Append = func(dst []byte, vs []T) ([]byte, error) {
			if vs == nil {
				return append(dst, 0), nil
			}
			dst = binary.AppendUvarint(dst, uint64(len(vs))+1)
			if e.minSize == 0 {
				return dst, nil // the elements encode to nothing
			}
			dst, err := encElems(dst, unsafe.Pointer(unsafe.SliceData(vs)), len(vs), e, 1)
			if err != nil {
				return dst, fmt.Errorf("coder %s: encode: %w", name, err)
			}
			return dst, nil
		}
		c.Decode = func(b []byte) ([]T, error) {
			n, i, err := readCount(b, 0, e.minSize, size)
			if err != nil {
				return nil, fmt.Errorf("coder %s: decode: %w", name, err)
			}
			var vs []T
			if n >= 0 {
				vs = make([]T, n)
				if e.minSize > 0 && n > 0 {
					if i, err = decElems(b, i, unsafe.Pointer(&vs[0]), n, e, 1); err != nil {
						return nil, fmt.Errorf("coder %s: decode: %w", name, err)
					}
				}
			}
			if i != len(b) {
				return nil, fmt.Errorf("coder %s: decode: %w", name, malformed(i, "%d bytes left over after the value", len(b)-i))
			}
			return vs, nil
		}
		return c
	}
	c.Append = func(dst []byte, vs []T) ([]byte, error) {
		if vs == nil {
			return append(dst, 0), nil
		}
		dst = binary.AppendUvarint(dst, uint64(len(vs))+1)
		for i, v := range vs {
			var err error
			if dst, err = AppendLen(elem, dst, v); err != nil {
				return dst, fmt.Errorf("coder %s: encode: [%d]: %w", name, i, err)
			}
		}
		return dst, nil
	}
	c.Decode = func(b []byte) ([]T, error) {
		n, i, err := readCount(b, 0, 1, 1)
		if err != nil {
			return nil, fmt.Errorf("coder %s: decode: %w", name, err)
		}
		var vs []T
		if n >= 0 {
			vs = make([]T, 0, n)
		}
		rest := b[i:]
		for j := 0; j < n; j++ {
			var v T
			if v, rest, err = ReadLen(elem, rest); err != nil {
				return nil, fmt.Errorf("coder %s: decode: [%d]: %w", name, j, err)
			}
			vs = append(vs, v)
		}
		if len(rest) != 0 {
			return nil, fmt.Errorf("coder %s: decode: %w", name, malformed(len(b)-len(rest), "%d bytes left over after the value", len(rest)))
		}
		return vs, nil
	}
	return c
}

// AppendLen appends v's encoding by c prefixed by its length (a uvarint), so that values can be concatenated
// and read back one by one with ReadLen.
func AppendLen[T any](c Coder[T], dst []byte, v T) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0)
	dst, err := c.Append(dst, v)
	if err != nil {
		return dst[:start], err
	}
	return setLen(dst, start), nil
}

// setLen writes the length of dst[start+1:] as a uvarint at dst[start], where one byte was reserved, moving the
// body when the length needs more.
func setLen(dst []byte, start int) []byte {
	n := len(dst) - start - 1
	if n < 0x80 {
		dst[start] = byte(n)
		return dst
	}
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(n))
	dst = append(dst, hdr[:h-1]...)
	copy(dst[start+h:], dst[start+1:start+1+n])
	copy(dst[start:], hdr[:h])
	return dst
}

// ReadLen decodes a value written by AppendLen at the start of b and returns the bytes after it.
func ReadLen[T any](c Coder[T], b []byte) (T, []byte, error) {
	var zero T
	n, i, err := readLen(b, 0)
	if err != nil {
		return zero, nil, fmt.Errorf("coder %s: %w", c.Name, err)
	}
	v, err := c.Decode(b[i : i+n : i+n])
	if err != nil {
		return zero, nil, err
	}
	return v, b[i+n:], nil
}
