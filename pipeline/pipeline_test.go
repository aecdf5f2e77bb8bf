package pipeline_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/transforms"
)

func TestScopes(t *testing.T) {
	p := pipeline.New()
	root := p.Root()
	tests := []struct {
		scope pipeline.Scope
		want  string
	}{
		{root, ""},
		{root.Scope("a"), "a"},
		{root.Scope("a").Scope("b"), "a/b"},
		{root.Scope("x/y"), "x_y"},
		{root.Scope("a").Scope("b/c").Scope("d"), "a/b_c/d"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.scope.Path())
		require.Same(t, p, tt.scope.Pipeline())
	}
}

func TestConstructionErrorsAreCollected(t *testing.T) {
	p := pipeline.New()
	require.NoError(t, p.Err())
	s := p.Root()
	s.AddError(nil) // ignored
	require.NoError(t, p.Err())
	s.AddError(fs.ErrNotExist)
	s.Scope("load").Errorf("reading %s: %w", "x.csv", fs.ErrPermission)
	s.Scope("a").Scope("b").AddError(errors.New("bad"))
	err := p.Err()
	require.EqualError(t, err, "file does not exist\nload: reading x.csv: permission denied\na/b: bad")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, err, fs.ErrPermission)
	// The zero Scope belongs to no pipeline: recording on it is a no-op, not a panic.
	require.NotPanics(t, func() { pipeline.Scope{}.Errorf("lost") })
}

type op string

func (o op) String() string { return string(o) }

func TestAddTransformAndOutput(t *testing.T) {
	p := pipeline.New()
	s := p.Root().Scope("s")
	src := pipeline.AddTransform(s, "Src", op("Source"))
	require.NotNil(t, src)
	a := pipeline.AddOutput[int](s, src)
	b := pipeline.AddOutput[string](s, src)
	require.True(t, a.Valid())
	require.Equal(t, "s/Src.out0", a.String())
	require.Equal(t, "s/Src.out1", b.String())
	require.Equal(t, "int", a.Collection().TypeName())
	require.True(t, a.Collection().Bounded(), "outputs of transforms without inputs are bounded")
	require.Nil(t, a.Windowing())

	a.Collection().SetBounded(false)
	a.Collection().SetWindowing("w")
	t1 := pipeline.AddTransform(s, "Step", op("X"), a)
	t2 := pipeline.AddTransform(s, "Step", op("X"), a, b)
	t3 := pipeline.AddTransform(s, "Step", op("X"), b)
	require.Equal(t, []string{"s/Step", "s/Step#2", "s/Step#3"}, []string{t1.Name(), t2.Name(), t3.Name()})
	o1 := pipeline.AddOutput[float64](s, t1)
	o3 := pipeline.AddOutput[error](s, t3)
	require.Equal(t, "w", o1.Windowing(), "outputs inherit the first input's windowing")
	require.False(t, o1.Collection().Bounded(), "an unbounded input makes the output unbounded")
	require.True(t, o3.Collection().Bounded())
	require.Equal(t, "error", o3.Collection().TypeName())

	require.Equal(t, []*pipeline.Transform{src, t1, t2, t3}, p.Transforms())
	require.Equal(t, 2, t2.ID())
	require.Equal(t, []*pipeline.Collection{a.Collection(), b.Collection()}, t2.Inputs())
	require.Equal(t, []*pipeline.Collection{o1.Collection()}, t1.Outputs())
	require.Equal(t, op("X"), t1.Op())
	require.Equal(t, []*pipeline.Transform{t1, t2}, a.Collection().Consumers())
	require.Same(t, src, a.Collection().Producer())
	require.Len(t, p.Collections(), 4)
	require.Equal(t, 3, o3.Collection().ID())
	require.NoError(t, p.Err())
}

func TestInvalidCollections(t *testing.T) {
	var zero pipeline.PCollection[int]
	require.False(t, zero.Valid())
	require.Nil(t, zero.Collection())
	require.Nil(t, zero.Windowing())
	require.Equal(t, "<invalid PCollection>", zero.String())

	p := pipeline.New()
	s := p.Root().Scope("s")
	require.Nil(t, pipeline.AddTransform(s, "Use", op("X"), zero))
	require.EqualError(t, p.Err(), "s: Use: input 0 is not a valid collection")
	// Further uses of invalid collections add nothing: the first error explains them.
	require.Nil(t, pipeline.AddTransform(s, "Again", op("X"), nil))
	require.False(t, pipeline.AddOutput[int](s, nil).Valid())
	require.EqualError(t, p.Err(), "s: Use: input 0 is not a valid collection")
	require.Empty(t, p.Transforms())
	// A zero Scope adds nothing.
	require.Nil(t, pipeline.AddTransform(pipeline.Scope{}, "X", op("X")))
}

func TestTypeNames(t *testing.T) {
	p := pipeline.New()
	s := p.Root()
	tests := []struct {
		col  pipeline.Input
		want string
	}{
		{pipelinetest.Create[int](s), "int"},
		{pipelinetest.Create[transforms.KV[string, []byte]](s), "KV[string,[]uint8]"},
		{pipelinetest.Create[*pipeline.RecordError](s), "*pipeline.RecordError"},
		{pipelinetest.Create[fmt.Stringer](s), "fmt.Stringer"},
		{pipelinetest.Create[any](s), "interface {}"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.col.Collection().TypeName())
	}
}
