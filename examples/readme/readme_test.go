package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The pipeline at the top of README.md is this program's, so the README never shows code that does not compile.
func TestReadmeShowsThisProgram(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(src), "// README START\n")
	require.True(t, ok)
	body, _, ok := strings.Cut(after, "\t// README END")
	require.True(t, ok)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	require.Contains(t, string(readme), "```go\n"+strings.Join(lines, "\n")+"\n```")
}
