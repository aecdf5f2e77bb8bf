package kafkaio

import (
	"errors"
	"fmt"
)

// Change is one record of a changelog topic (a compacted topic, a CDC stream) as a table update: the key, and
// the key's new value or its deletion. Read a changelog with a ReadConfig[Change[T]] whose Decode is
// DecodeChange, then join it with a stream (transforms.TableJoin) or build a side input from it.
type Change[T any] struct {
	// Key is the record key (never nil: a changelog record without a key is an error).
	Key []byte
	// Value is the decoded value; the zero value when Deleted.
	Value T
	// Deleted is true for a tombstone (a record whose value is null): the key is no longer in the table.
	Deleted bool
}

// ErrNoKey is the error of DecodeChange for a record without a key: a changelog table has no row for it.
var ErrNoKey = errors.New("changelog record has no key")

// DecodeChange returns a decoder of changelog records: the key is kept as is, a null value is a tombstone
// (Deleted, value not decoded), and any other value is decoded with value (DecodeJSON when nil). A record
// without a key, or whose value does not decode, fails with an error naming its topic, partition and offset
// (it goes to the dead-letter output of ReadWithDeadLetters, or fails the job).
func DecodeChange[T any](value func(Message) (T, error)) func(Message) (Change[T], error) {
	if value == nil {
		value = DecodeJSON[T]
	}
	return func(m Message) (Change[T], error) {
		if m.Key == nil {
			return Change[T]{}, fmt.Errorf("%s/%d@%d: %w", m.Topic, m.Partition, m.Offset, ErrNoKey)
		}
		if m.Value == nil {
			return Change[T]{Key: m.Key, Deleted: true}, nil
		}
		v, err := value(m)
		if err != nil {
			return Change[T]{}, fmt.Errorf("%s/%d@%d: changelog value of key %q: %w", m.Topic, m.Partition, m.Offset, m.Key, err)
		}
		return Change[T]{Key: m.Key, Value: v}, nil
	}
}
