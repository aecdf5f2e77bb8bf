package pipeline

import (
	"errors"
	"fmt"
	"strings"
)

// Pipeline is a graph of transforms over typed collections. Build it with the functions of the transforms,
// windowing and io packages on its Scopes, then run it with a runner. Construction errors are collected, not
// panicked: Err returns them and every runner refuses to run a pipeline that has any.
type Pipeline struct {
	transforms  []*Transform
	collections []*Collection
	names       map[string]int
	errs        []error
}

// New returns an empty pipeline.
func New() *Pipeline { return &Pipeline{names: map[string]int{}} }

// Root returns the pipeline's root scope.
func (p *Pipeline) Root() Scope { return Scope{p: p} }

// Err returns the construction errors, joined, or nil.
func (p *Pipeline) Err() error { return errors.Join(p.errs...) }

// Transforms returns the transforms in the order they were added (a topological order).
func (p *Pipeline) Transforms() []*Transform { return p.transforms }

// Collections returns the collections in the order they were added.
func (p *Pipeline) Collections() []*Collection { return p.collections }

// Scope is a named part of a pipeline. Transforms applied in a scope are named by its path, which appears in graph
// dumps, metrics, logs and errors ("sessionize/window/combine").
type Scope struct {
	p    *Pipeline
	path string
}

// Scope returns a child scope.
func (s Scope) Scope(name string) Scope {
	name = strings.ReplaceAll(name, "/", "_")
	if s.path == "" {
		return Scope{p: s.p, path: name}
	}
	return Scope{p: s.p, path: s.path + "/" + name}
}

// Path returns the scope's path; the root scope's is empty.
func (s Scope) Path() string { return s.path }

// Pipeline returns the pipeline the scope belongs to.
func (s Scope) Pipeline() *Pipeline { return s.p }

// AddError records a construction error, prefixed with the scope path. Transform authors call it instead of
// panicking; Pipeline.Err and runners return it.
func (s Scope) AddError(err error) {
	if s.p == nil || err == nil {
		return
	}
	if s.path != "" {
		err = fmt.Errorf("%s: %w", s.path, err)
	}
	s.p.errs = append(s.p.errs, err)
}

// Errorf records a construction error formatted like fmt.Errorf.
func (s Scope) Errorf(format string, args ...any) { s.AddError(fmt.Errorf(format, args...)) }

// Transform is a node of the graph: an operator applied to input collections, producing output collections.
// Transform authors create them with AddTransform; runners read them.
type Transform struct {
	id      int
	name    string
	op      any
	inputs  []*Collection
	outputs []*Collection
}

// ID is the transform's index in Pipeline.Transforms.
func (t *Transform) ID() int { return t.id }

// Name is the transform's full path, unique in the pipeline.
func (t *Transform) Name() string { return t.name }

// Op is the operator, opaque to the pipeline; runners know how to execute the operators of kappa's packages.
func (t *Transform) Op() any { return t.op }

// Inputs are the collections the transform consumes.
func (t *Transform) Inputs() []*Collection { return t.inputs }

// Outputs are the collections the transform produces.
func (t *Transform) Outputs() []*Collection { return t.outputs }

// Collection is the untyped view of a PCollection, for runners and transform authors.
type Collection struct {
	id        int
	producer  *Transform
	index     int
	typ       typeInfo
	windowing any
	bounded   bool
	consumers []*Transform
	coder     coderCell
}

// ID is the collection's index in Pipeline.Collections.
func (c *Collection) ID() int { return c.id }

// Producer is the transform that produces the collection.
func (c *Collection) Producer() *Transform { return c.producer }

// Consumers are the transforms that read the collection.
func (c *Collection) Consumers() []*Transform { return c.consumers }

// Type returns the runner-facing type information of the element type (see internal/exec.TypeInfo).
func (c *Collection) Type() any { return c.typ }

// TypeName is the Go name of the element type.
func (c *Collection) TypeName() string { return c.typ.TypeName() }

// Windowing returns the collection's windowing strategy, as set by the windowing package (nil: global window,
// default trigger).
func (c *Collection) Windowing() any { return c.windowing }

// SetWindowing sets the windowing strategy; only transform authors call it, while building.
func (c *Collection) SetWindowing(w any) { c.windowing = w }

// Bounded reports whether the collection is finite.
func (c *Collection) Bounded() bool { return c.bounded }

// SetBounded marks the collection as finite or not; only transform authors call it, while building.
func (c *Collection) SetBounded(b bool) { c.bounded = b }

// String names the collection by its producer, e.g. "wordcount/Split.out0".
func (c *Collection) String() string {
	return fmt.Sprintf("%s.out%d", c.producer.name, c.index)
}

// Input is any typed collection: PCollection[T] for some T.
type Input interface {
	// Collection returns the untyped collection, or nil for a zero PCollection.
	Collection() *Collection
}

// PCollection is a typed collection of elements of type T: the output of a transform and the input of others.
// It is a small handle, passed by value. The zero PCollection is invalid; transforms given one record an error.
type PCollection[T any] struct {
	c *Collection
}

// Collection returns the untyped collection.
func (c PCollection[T]) Collection() *Collection { return c.c }

// Valid reports whether the collection was built without error.
func (c PCollection[T]) Valid() bool { return c.c != nil }

// String names the collection.
func (c PCollection[T]) String() string {
	if c.c == nil {
		return "<invalid PCollection>"
	}
	return c.c.String()
}

// Windowing returns the collection's windowing strategy (see Collection.Windowing).
func (c PCollection[T]) Windowing() any {
	if c.c == nil {
		return nil
	}
	return c.c.windowing
}

// AddTransform adds a transform named name (made unique in its scope) applying op to inputs. It is the building
// block for transform and connector authors; pipeline users call the typed functions of transforms, windowing and
// the io packages instead. It returns nil, and records an error, if an input is invalid; an invalid input caused
// by an earlier error records nothing more.
func AddTransform(s Scope, name string, op any, inputs ...Input) *Transform {
	if s.p == nil {
		return nil
	}
	ins := make([]*Collection, 0, len(inputs))
	for i, in := range inputs {
		var c *Collection
		if in != nil {
			c = in.Collection()
		}
		if c == nil {
			if len(s.p.errs) == 0 {
				s.Errorf("%s: input %d is not a valid collection", name, i)
			}
			return nil
		}
		ins = append(ins, c)
	}
	full := name
	if s.path != "" {
		full = s.path + "/" + name
	}
	if n := s.p.names[full]; n > 0 {
		s.p.names[full] = n + 1
		full = fmt.Sprintf("%s#%d", full, n+1)
	} else {
		s.p.names[full] = 1
	}
	t := &Transform{id: len(s.p.transforms), name: full, op: op, inputs: ins}
	for _, c := range ins {
		c.consumers = append(c.consumers, t)
	}
	s.p.transforms = append(s.p.transforms, t)
	return t
}

// AddOutput adds an output collection of type T to t, inheriting the windowing of t's first input and bounded
// when all inputs are. It returns an invalid collection when t is nil.
func AddOutput[T any](s Scope, t *Transform) PCollection[T] {
	if t == nil || s.p == nil {
		return PCollection[T]{}
	}
	c := &Collection{id: len(s.p.collections), producer: t, index: len(t.outputs), typ: typeInfoOf[T](), bounded: true}
	if len(t.inputs) > 0 {
		c.windowing = t.inputs[0].windowing
		for _, in := range t.inputs {
			c.bounded = c.bounded && in.bounded
		}
	}
	t.outputs = append(t.outputs, c)
	s.p.collections = append(s.p.collections, c)
	return PCollection[T]{c: c}
}
