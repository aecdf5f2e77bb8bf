package schemareg

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProtoMessages(t *testing.T) {
	src := `
// comment with message Fake { }
syntax = "proto2";
package a.b;
import "google/protobuf/timestamp.proto";
option java_package = "x.y";
option (custom) = { name: "message Nope {" nested { x: 1 } };

/* block comment
   message AlsoFake {} */
message First {
  optional string message = 1 [(opt) = { a: "}" }];
  map<string, First.Inner> m = 2;
  oneof choice { string a = 3; int32 b = 4; }
  enum E { X = 0; }
  message Inner {
    message Deeper { optional int32 x = 1; }
  }
  extensions 100 to max;
  optional group Grouped = 5 { optional int32 g = 1; }
  message Last {}
}
enum Top { A = 0; }
service S { rpc Do(First) returns (First) { option deprecated = true; } }
extend First { optional int32 ext = 100; }
message Second { reserved 1 to 3; reserved "q"; }
`
	tree, err := protoMessages(src)
	require.NoError(t, err)
	require.Equal(t, "a.b", tree.pkg)
	for _, tc := range []struct {
		idx  []int
		name string
	}{
		{[]int{0}, "a.b.First"},
		{[]int{0, 0}, "a.b.First.Inner"},
		{[]int{0, 0, 0}, "a.b.First.Inner.Deeper"},
		{[]int{0, 1}, "a.b.First.Grouped"},
		{[]int{0, 2}, "a.b.First.Last"},
		{[]int{1}, "a.b.Second"},
	} {
		name, ok := tree.fullName(tc.idx)
		require.True(t, ok, "%v", tc.idx)
		require.Equal(t, tc.name, name)
		idx, ok := tree.index(tc.name)
		require.True(t, ok, tc.name)
		require.Equal(t, tc.idx, idx)
	}
	for _, idx := range [][]int{{2}, {0, 3}, {}, {-1}} {
		_, ok := tree.fullName(idx)
		require.False(t, ok, "%v", idx)
	}
	_, ok := tree.index("a.b.Missing")
	require.False(t, ok)
	_, ok = tree.index("other.First")
	require.False(t, ok)

	for _, bad := range []string{"message A {", "message A { string x = 1; ", `message A { string x = "1; }`, "/* open", "message {"} {
		_, err := protoMessages(bad)
		require.Error(t, err, bad)
	}
	// Without a package.
	tree, err = protoMessages(`syntax = "proto3"; message M {}`)
	require.NoError(t, err)
	name, ok := tree.fullName([]int{0})
	require.True(t, ok)
	require.Equal(t, "M", name)
}
