package kafkaio

import (
	"encoding/json"
	"fmt"
	"time"
)

// Message is one Kafka record as decoders see it and encoders produce it.
//
// On reads every field is set. kafkaio never reuses the Key, Value and header slices, so a decoder may keep them
// in the value it returns. On writes, Topic (empty: the sink's topic), Partition (only with the Manual
// partitioning), Key, Value, Headers and Time (zero: the element's event time) are used; Offset is ignored.
type Message struct {
	// Topic is the record's topic.
	Topic string
	// Partition is the record's partition.
	Partition int32
	// Offset is the record's offset in its partition.
	Offset int64
	// Key is the record key; nil when the record has none.
	Key []byte
	// Value is the record value; nil for a tombstone.
	Value []byte
	// Headers are the record headers, in order.
	Headers []Header
	// Time is the record timestamp (create time or log-append time, as the topic is configured), in ms.
	Time time.Time
}

// Header is one record header.
type Header struct {
	// Key is the header name; Kafka allows duplicates.
	Key string
	// Value is the header value; nil and empty are both possible.
	Value []byte
}

// DecodeBytes is the decoder of ReadConfig[[]byte]: the record value, not copied.
func DecodeBytes(m Message) ([]byte, error) { return m.Value, nil }

// DecodeString is the decoder of ReadConfig[string]: the record value as a string.
func DecodeString(m Message) (string, error) { return string(m.Value), nil }

// DecodeMessage is the decoder of ReadConfig[Message]: the whole record.
func DecodeMessage(m Message) (Message, error) { return m, nil }

// DecodeJSON decodes the record value as JSON into a T. It is the default decoder for every T without a decoder
// of its own.
func DecodeJSON[T any](m Message) (T, error) {
	var v T
	if err := json.Unmarshal(m.Value, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("decode JSON value: %w", err)
	}
	return v, nil
}

// EncodeBytes is the encoder of WriteConfig[[]byte]: the value, without a key.
func EncodeBytes(v []byte) (Message, error) { return Message{Value: v}, nil }

// EncodeString is the encoder of WriteConfig[string]: the value, without a key.
func EncodeString(v string) (Message, error) { return Message{Value: []byte(v)}, nil }

// EncodeMessage is the encoder of WriteConfig[Message]: the message as it is.
func EncodeMessage(m Message) (Message, error) { return m, nil }

// EncodeJSON encodes v as a JSON value without a key. It is the default encoder for every T without an encoder of
// its own.
func EncodeJSON[T any](v T) (Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Message{}, fmt.Errorf("encode JSON value: %w", err)
	}
	return Message{Value: b}, nil
}

// defaultDecoder returns the decoder used when ReadConfig.Decode is nil.
func defaultDecoder[T any]() func(Message) (T, error) {
	var f any
	switch any(*new(T)).(type) {
	case []byte:
		f = DecodeBytes
	case string:
		f = DecodeString
	case Message:
		f = DecodeMessage
	default:
		return DecodeJSON[T]
	}
	return f.(func(Message) (T, error))
}

// defaultEncoder returns the encoder used when WriteConfig.Encode is nil.
func defaultEncoder[T any]() func(T) (Message, error) {
	var f any
	switch any(*new(T)).(type) {
	case []byte:
		f = EncodeBytes
	case string:
		f = EncodeString
	case Message:
		f = EncodeMessage
	default:
		return EncodeJSON[T]
	}
	return f.(func(T) (Message, error))
}
