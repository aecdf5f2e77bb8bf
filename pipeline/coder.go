package pipeline

import (
	"fmt"
	"sync"

	"github.com/kappaflow/kappa/coder"
)

// Collections have coders: runners whose engine moves elements between processes (runners/beam) encode the
// elements that cross a stage boundary with them. The coder of a collection is coder.Of of its element type,
// built on first use, unless the transform that made the collection set another (SetCoder): GroupByKey's
// KV[K, iter.Seq[V]] output, for instance, materialises the sequence.

// coderCell holds a collection's coder, built lazily.
type coderCell struct {
	once sync.Once
	set  any
	c    any
	err  error
}

// Coder returns the coder of the collection's elements, a coder.Coder[T] for the element type T, or an error
// naming the type that cannot be encoded.
func (c *Collection) Coder() (any, error) {
	c.coder.once.Do(func() {
		if c.coder.set != nil {
			c.coder.c = c.coder.set
			return
		}
		c.coder.c, c.coder.err = c.typ.newCoder()
		if c.coder.err != nil {
			c.coder.err = fmt.Errorf("%s (%s): %w", c, c.typ.TypeName(), c.coder.err)
		}
	})
	return c.coder.c, c.coder.err
}

// SetCoder sets the coder of the collection's elements, a coder.Coder[T] for the element type T; only transform
// authors call it, while building, for element types that coder.Of cannot encode as they should.
func (c *Collection) SetCoder(cd any) { c.coder.set = cd }

// CoderOf returns the coder of a typed collection.
func CoderOf[T any](col PCollection[T]) (coder.Coder[T], error) {
	if col.c == nil {
		return coder.Coder[T]{}, fmt.Errorf("kappa: coder of an invalid collection")
	}
	cd, err := col.c.Coder()
	if err != nil {
		return coder.Coder[T]{}, err
	}
	typed, ok := cd.(coder.Coder[T])
	if !ok {
		return coder.Coder[T]{}, fmt.Errorf("kappa: %s: coder is a %T, not a coder of %s", col.c, cd, TypeName[T]())
	}
	return typed, nil
}

func (t typeOf[T]) newCoder() (any, error) {
	c, err := coder.Of[T]()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// NewEncoder returns a pusher of T that encodes each value with cd (a coder.Coder[T]) and calls emit with a nil
// key (internal/exec.Codec).
func (t typeOf[T]) NewEncoder(cd any, emit func(key []byte, e Element[[]byte]) error) (any, error) {
	c, ok := cd.(coder.Coder[T])
	if !ok {
		return nil, fmt.Errorf("kappa: coder %T does not encode %s", cd, t.name)
	}
	return &encoder[T]{c: c, emit: emit}, nil
}

// NewDecoder returns a function decoding values with cd (a coder.Coder[T]) and pushing them into out, a pusher of
// T (internal/exec.Codec).
func (t typeOf[T]) NewDecoder(cd any, out any) (func(e Element[[]byte]) error, error) {
	c, ok := cd.(coder.Coder[T])
	if !ok {
		return nil, fmt.Errorf("kappa: coder %T does not decode %s", cd, t.name)
	}
	p, ok := out.(pusher[T])
	if !ok {
		return nil, fmt.Errorf("kappa: consumer of %s elements accepts %T", t.name, out)
	}
	return func(e Element[[]byte]) error {
		v, err := c.Decode(e.Value)
		if err != nil {
			return fmt.Errorf("kappa: decode %s: %w", t.name, err)
		}
		return p.Push(Element[T]{Value: v, Time: e.Time, Window: e.Window, Pane: e.Pane})
	}, nil
}

type encoder[T any] struct {
	c    coder.Coder[T]
	emit func(key []byte, e Element[[]byte]) error
	buf  []byte
}

func (en *encoder[T]) Push(e Element[T]) error {
	b, err := en.c.Append(en.buf[:0], e.Value)
	if err != nil {
		return fmt.Errorf("kappa: encode %s: %w", TypeName[T](), err)
	}
	en.buf = b
	return en.emit(nil, Element[[]byte]{Value: b, Time: e.Time, Window: e.Window, Pane: e.Pane})
}
