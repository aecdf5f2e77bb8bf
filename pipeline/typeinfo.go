package pipeline

import (
	"fmt"
	"strings"
)

// pusher is the runner's typed push interface (internal/exec.Pusher), declared here with the same method set so
// that this package need not import the executor.
type pusher[T any] interface {
	Push(e Element[T]) error
}

// typeInfo is what runners need to know about a collection's element type without reflection: its name and how
// to fan out or drop its elements. internal/exec.TypeInfo has the same method set.
type typeInfo interface {
	TypeName() string
	NewTee(outs []any) (any, error)
	NewDiscard() any
	newCoder() (any, error)
}

type typeOf[T any] struct{ name string }

func typeInfoOf[T any]() typeInfo { return typeOf[T]{name: TypeName[T]()} }

// TypeName returns the Go name of T as kappa prints it in graph dumps and errors: package-qualified without
// kappa's module path, and KV for pipeline.KV ("KV[string,int64]").
func TypeName[T any]() string {
	name := fmt.Sprintf("%T", *new(T))
	if name == "<nil>" { // interface types
		name = fmt.Sprintf("%T", new(T))[1:]
	}
	return CleanTypeName(name)
}

// CleanTypeName shortens a %T type name as TypeName does.
func CleanTypeName(name string) string {
	return strings.ReplaceAll(strings.ReplaceAll(name, "github.com/kappaflow/kappa/", ""), "pipeline.KV[", "KV[")
}

func (t typeOf[T]) TypeName() string { return t.name }

// NewTee returns a pusher of T that pushes every element to each of outs (all pushers of T).
func (t typeOf[T]) NewTee(outs []any) (any, error) {
	ps := make([]pusher[T], len(outs))
	for i, o := range outs {
		p, ok := o.(pusher[T])
		if !ok {
			return nil, fmt.Errorf("kappa: consumer %d of %s elements accepts %T", i, t.name, o)
		}
		ps[i] = p
	}
	switch len(ps) {
	case 0:
		return discard[T]{}, nil
	case 1:
		return ps[0], nil
	case 2:
		return &tee2[T]{a: ps[0], b: ps[1]}, nil
	}
	return &tee[T]{ps: ps}, nil
}

// NewDiscard returns a pusher of T that drops elements (an output nobody reads).
func (t typeOf[T]) NewDiscard() any { return discard[T]{} }

type discard[T any] struct{}

func (discard[T]) Push(Element[T]) error { return nil }

type tee2[T any] struct {
	a, b pusher[T]
	buf  []Element[T] // PushBatch's copy for a
}

func (t *tee2[T]) Push(e Element[T]) error {
	if err := t.a.Push(e); err != nil {
		return err
	}
	return t.b.Push(e)
}

type tee[T any] struct {
	ps  []pusher[T]
	buf []Element[T] // PushBatch's copies
}

func (t *tee[T]) Push(e Element[T]) error {
	for _, p := range t.ps {
		if err := p.Push(e); err != nil {
			return err
		}
	}
	return nil
}
