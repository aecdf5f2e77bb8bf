// Command wordcount is the classic first pipeline: it counts the words of a text and prints them, most frequent
// first.
//
//	go run ./examples/wordcount                  # the opening of A Tale of Two Cities, embedded
//	go run ./examples/wordcount -input notes.txt -top 10
//	go run ./examples/wordcount -runner prism        # on Apache Beam's Prism runner (runners/beam)
//
// The job flags (-workers, -mode, -log-level, -metrics …), signals and exit codes are those of every kappa job
// binary (package jobcli).
//
// The pipeline is CountWords: lines → words (FlatMap) → counts per word (Count, a combiner: every worker counts
// its share of the lines before the counts are shuffled by word).
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/jobcli"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

//go:embed tale.txt
var tale string

type options struct {
	input string
	top   int
	job   jobcli.Flags // -workers, -mode, -log-level … and the signals of every kappa job (jobcli)
	beam  *beam.Flags  // -runner and Beam's options; nil or -runner local: runners/local
}

func main() {
	var o options
	flag.StringVar(&o.input, "input", "", "text file to count (default: an embedded passage)")
	flag.IntVar(&o.top, "top", 0, "print only the N most frequent words (default: all)")
	job := jobcli.Register(flag.CommandLine, jobcli.Flags{LogLevel: "warn"})
	o.beam = beam.AddFlags(flag.CommandLine)
	err := jobcli.Parse(flag.CommandLine, os.Args[1:], job)
	if err == nil {
		if err = o.beam.Validate(); err != nil {
			err = jobcli.UsageError{Err: err}
		}
	}
	if err == nil {
		o.job = *job
		err = run(context.Background(), o, os.Stdout)
	}
	jobcli.Exit("wordcount", err)
}

// CountWords counts the words of lines: lower-cased runs of letters, digits and apostrophes.
func CountWords(s pipeline.Scope, lines pipeline.PCollection[string]) pipeline.PCollection[transforms.KV[string, int64]] {
	s = s.Scope("CountWords")
	words := transforms.FlatMap(s, lines, splitWords)
	return transforms.Count(s, words)
}

func splitWords(line string) []string {
	return strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
}

func run(ctx context.Context, o options, out io.Writer) error {
	text := tale
	if o.input != "" {
		b, err := os.ReadFile(o.input)
		if err != nil {
			return err
		}
		text = string(b)
	}
	p := pipeline.New()
	s := p.Root()
	lines := pipeline.Read[string](s, newLineSource(text, 4), pipeline.ReadName("ReadLines"))
	var mu sync.Mutex
	var words []transforms.KV[string, int64]
	foreach.Write(s, CountWords(s, lines), func(_ context.Context, c transforms.KV[string, int64]) error {
		mu.Lock() // shards write concurrently
		defer mu.Unlock()
		words = append(words, c)
		return nil
	})

	if o.beam != nil && o.beam.Beam() {
		if err := beam.New(o.beam.Config()).Run(ctx, p); err != nil {
			return err
		}
	} else {
		if o.job.LogLevel == "" { // options from code
			o.job.LogLevel = "warn"
		}
		cfg, err := o.job.Config(ctx)
		if err != nil {
			return err
		}
		if err := o.job.Run(ctx, local.New(cfg), p); err != nil {
			return err
		}
	}
	slices.SortFunc(words, func(a, b transforms.KV[string, int64]) int {
		if a.Value != b.Value {
			return int(b.Value - a.Value)
		}
		return strings.Compare(a.Key, b.Key)
	})
	if o.top > 0 && o.top < len(words) {
		words = words[:o.top]
	}
	for _, w := range words {
		fmt.Fprintf(out, "%-14s %d\n", w.Key, w.Value)
	}
	return nil
}
