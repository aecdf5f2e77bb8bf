package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/pipelinetest"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

func TestCountWords(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []transforms.KV[string, int64]
	}{
		{"empty", nil, nil},
		{"blank lines", []string{"", "  ", "--"}, nil},
		{"case and punctuation", []string{"The cat; the DOG.", "it's the cat's"}, []transforms.KV[string, int64]{
			transforms.Pair("the", int64(3)), transforms.Pair("cat", int64(1)), transforms.Pair("dog", int64(1)),
			transforms.Pair("it's", int64(1)), transforms.Pair("cat's", int64(1))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cfg := range []local.Config{{Workers: 1}, {Workers: 3}, {Workers: 2, Mode: local.Stream, BatchRecords: 1}} {
				p := pipeline.New()
				s := p.Root()
				pipelinetest.Equals(s, CountWords(s, pipelinetest.Create(s, tt.lines...)), tt.want...)
				pipelinetest.Run(t, p, cfg)
			}
		})
	}
}

func TestWordCountFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	require.NoError(t, os.WriteFile(path, []byte("b a c\nA b\n\na\n"), 0o644))
	for _, workers := range []int{1, 2, 4} {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), options{input: path, job: jobcli.Flags{Workers: workers}}, &out))
		require.Equal(t, "a              3\nb              2\nc              1\n", out.String())
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), options{input: path, top: 1}, &out))
	require.Equal(t, "a              3\n", out.String())
	require.ErrorContains(t, run(context.Background(), options{input: filepath.Join(t.TempDir(), "missing.txt")}, &out), "missing.txt: no such file or directory")
}

// The embedded passage's counts equal those of a plain loop, most frequent first, ties by word.
func TestWordCountEmbedded(t *testing.T) {
	plain := map[string]int{}
	for _, line := range strings.Split(tale, "\n") {
		for _, w := range splitWords(line) {
			plain[w]++
		}
	}
	type wc struct {
		w string
		n int
	}
	var want []wc
	for w, n := range plain {
		want = append(want, wc{w, n})
	}
	slices.SortFunc(want, func(a, b wc) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.w, b.w)
	})
	var b strings.Builder
	for _, x := range want {
		fmt.Fprintf(&b, "%-14s %d\n", x.w, x.n)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), options{job: jobcli.Flags{Workers: 2}}, &out))
	require.Equal(t, b.String(), out.String())
	require.True(t, strings.HasPrefix(out.String(), "the            14\nof             12\nwas            11\nit             10\nwe             4\n"), out.String())
	require.Len(t, want, 58)
}

// -runner prism runs the same pipeline on Apache Beam's Prism runner (runners/beam) and prints the same counts.
func TestWordCountOnPrismEqualsLocal(t *testing.T) {
	var local, prism bytes.Buffer
	require.NoError(t, run(context.Background(), options{job: jobcli.Flags{Workers: 2}}, &local))
	f := beam.AddFlags(flag.NewFlagSet("wordcount", flag.ContinueOnError))
	f.Runner = "prism"
	require.NoError(t, run(context.Background(), options{beam: f}, &prism))
	require.NotEmpty(t, local.String())
	require.Equal(t, local.String(), prism.String())
}
