package kinesisio

import (
	"encoding/json"
	"fmt"
)

// Raw is the decoder of []byte elements: the record's data.
func Raw(r Record) ([]byte, error) { return r.Data, nil }

// JSON decodes a record's data as JSON into a T.
func JSON[T any](r Record) (T, error) {
	var v T
	if err := json.Unmarshal(r.Data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("decode JSON into %T: %w", v, err)
	}
	return v, nil
}

// JSONEncoder returns an encoder for WriteConfig.Encoder that writes an element as JSON with the partition key
// key returns.
func JSONEncoder[T any](key func(T) string) func(T) (string, []byte, error) {
	return func(v T) (string, []byte, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", nil, fmt.Errorf("encode JSON: %w", err)
		}
		return key(v), b, nil
	}
}

// defaultDecoder is the decoder used when ReadConfig.Decoder is nil.
func defaultDecoder[T any]() func(Record) (T, error) {
	var zero T
	switch any(zero).(type) {
	case []byte:
		return func(r Record) (T, error) { return any(r.Data).(T), nil }
	case string:
		return func(r Record) (T, error) { return any(string(r.Data)).(T), nil }
	case Record:
		return func(r Record) (T, error) { return any(r).(T), nil }
	}
	return JSON[T]
}
