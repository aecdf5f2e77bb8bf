// Command wordcount is the classic first pipeline: it counts the words of a text and prints them, most frequent
// first.
//
//	go run ./examples/wordcount                  # the opening of A Tale of Two Cities, embedded
//	go run ./examples/wordcount -input notes.txt -top 10
//	go run ./examples/wordcount -runner prism        # on Apache Beam's Prism runner (runners/beam)
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
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/kappaflow/kappa/io/foreach"
	"github.com/kappaflow/kappa/pipeline"
	"github.com/kappaflow/kappa/runners/beam"
	"github.com/kappaflow/kappa/runners/local"
	"github.com/kappaflow/kappa/transforms"
)

//go:embed tale.txt
var tale string

type options struct {
	input   string
	top     int
	workers int
	beam    *beam.Flags // -runner and Beam's options; nil or -runner local: runners/local
}

func main() {
	var o options
	flag.StringVar(&o.input, "input", "", "text file to count (default: an embedded passage)")
	flag.IntVar(&o.top, "top", 0, "print only the N most frequent words (default: all)")
	flag.IntVar(&o.workers, "workers", 0, "workers (default GOMAXPROCS)")
	o.beam = beam.AddFlags(flag.CommandLine)
	flag.Parse()
	if err := o.beam.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
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

	var r interface {
		Run(context.Context, *pipeline.Pipeline) error
	} = local.New(local.Config{Workers: o.workers, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if o.beam != nil && o.beam.Beam() {
		r = beam.New(o.beam.Config())
	}
	if err := r.Run(ctx, p); err != nil {
		return err
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
