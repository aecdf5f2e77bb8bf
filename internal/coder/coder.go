// Package coder encodes values of any type to bytes and back, for state that leaves memory (spilled to disk).
// Common types take fast paths without reflection; other types use, in order of preference, their
// encoding.BinaryMarshaler, encoding/binary for fixed-size values, or encoding/gob.
package coder

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
)

// Coder appends the encoding of a T to a buffer and decodes it back.
type Coder[T any] struct {
	// Append appends v's encoding to dst.
	Append func(dst []byte, v T) ([]byte, error)
	// Decode decodes b entirely.
	Decode func(b []byte) (T, error)
}

// For returns the coder of T.
func For[T any]() Coder[T] {
	var zero T
	switch any(zero).(type) {
	case string:
		return Coder[T]{
			Append: func(dst []byte, v T) ([]byte, error) { return append(dst, any(v).(string)...), nil },
			Decode: func(b []byte) (T, error) { return any(string(b)).(T), nil },
		}
	case []byte:
		return Coder[T]{
			Append: func(dst []byte, v T) ([]byte, error) { return append(dst, any(v).([]byte)...), nil },
			Decode: func(b []byte) (T, error) { return any(bytes.Clone(b)).(T), nil },
		}
	case int64:
		return fixed64[T](func(v T) uint64 { return uint64(any(v).(int64)) }, func(u uint64) T { return any(int64(u)).(T) })
	case int:
		return fixed64[T](func(v T) uint64 { return uint64(any(v).(int)) }, func(u uint64) T { return any(int(u)).(T) })
	case uint64:
		return fixed64[T](func(v T) uint64 { return any(v).(uint64) }, func(u uint64) T { return any(u).(T) })
	case float64:
		return fixed64[T](func(v T) uint64 { return math.Float64bits(any(v).(float64)) }, func(u uint64) T { return any(math.Float64frombits(u)).(T) })
	case int32:
		return fixed64[T](func(v T) uint64 { return uint64(any(v).(int32)) }, func(u uint64) T { return any(int32(u)).(T) })
	case bool:
		return Coder[T]{
			Append: func(dst []byte, v T) ([]byte, error) {
				if any(v).(bool) {
					return append(dst, 1), nil
				}
				return append(dst, 0), nil
			},
			Decode: func(b []byte) (T, error) { return any(len(b) > 0 && b[0] == 1).(T), nil },
		}
	}
	if _, ok := any(&zero).(encoding.BinaryUnmarshaler); ok {
		if _, ok := any(zero).(encoding.BinaryMarshaler); ok {
			return Coder[T]{
				Append: func(dst []byte, v T) ([]byte, error) {
					b, err := any(v).(encoding.BinaryMarshaler).MarshalBinary()
					return append(dst, b...), err
				},
				Decode: func(b []byte) (T, error) {
					var v T
					err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(b)
					return v, err
				},
			}
		}
	}
	if binary.Size(zero) > 0 {
		return Coder[T]{
			Append: func(dst []byte, v T) ([]byte, error) { return binary.Append(dst, binary.LittleEndian, v) },
			Decode: func(b []byte) (T, error) {
				var v T
				_, err := binary.Decode(b, binary.LittleEndian, &v)
				return v, err
			},
		}
	}
	return Coder[T]{
		Append: func(dst []byte, v T) ([]byte, error) {
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
				return dst, fmt.Errorf("coder: gob encode %T: %w", v, err)
			}
			return append(dst, buf.Bytes()...), nil
		},
		Decode: func(b []byte) (T, error) {
			var v T
			if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
				return v, fmt.Errorf("coder: gob decode %T: %w", v, err)
			}
			return v, nil
		},
	}
}

func fixed64[T any](to func(T) uint64, from func(uint64) T) Coder[T] {
	return Coder[T]{
		Append: func(dst []byte, v T) ([]byte, error) { return binary.BigEndian.AppendUint64(dst, to(v)), nil },
		Decode: func(b []byte) (T, error) {
			if len(b) != 8 {
				var zero T
				return zero, errors.New("coder: want 8 bytes")
			}
			return from(binary.BigEndian.Uint64(b)), nil
		},
	}
}

// AppendLen appends v's encoding prefixed by its length (uvarint), for concatenating several values.
func AppendLen[T any](c Coder[T], dst []byte, v T) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, binary.MaxVarintLen64)...)
	body := len(dst)
	dst, err := c.Append(dst, v)
	if err != nil {
		return dst, err
	}
	n := len(dst) - body
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(n))
	copy(dst[start:], hdr[:h])
	copy(dst[start+h:], dst[body:])
	return dst[:start+h+n], nil
}

// ReadLen decodes a length-prefixed value from b and returns the rest.
func ReadLen[T any](c Coder[T], b []byte) (T, []byte, error) {
	n, h := binary.Uvarint(b)
	if h <= 0 || uint64(len(b)-h) < n {
		var zero T
		return zero, nil, errors.New("coder: truncated value")
	}
	v, err := c.Decode(b[h : h+int(n)])
	return v, b[h+int(n):], err
}
