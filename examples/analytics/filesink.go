package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// FileSink writes rows to files in Dir, one file per shard and epoch that has rows, as CSV with a header
// (Format "csv", the default) or JSON lines ("jsonl"). It follows the pipeline.Sink contract with atomic publish:
//
//   - Write buffers the encoded rows of the epoch;
//   - Prepare writes them to a hidden temporary file next to the final one, syncs and closes it, and returns the
//     two names as the commit token;
//   - Commit renames the temporary file to its final name, Prefix-<epoch>-<shard>-of-<shards>.<ext> (for example
//     pageviews-000000-00001-of-00004.csv). Renaming is atomic, so readers never see a partial file. Commit is
//     idempotent (a second call finds the file already in place), and a replayed epoch rewrites the same name, so
//     output is exactly-once.
type FileSink struct {
	// Dir is the output directory, created if missing.
	Dir string
	// Format is "csv" (default) or "jsonl".
	Format string
	// Prefix starts every file name (default "pageviews").
	Prefix string
}

// Validate checks the format.
func (f FileSink) Validate() error {
	switch f.Format {
	case "", "csv", "jsonl":
	default:
		return fmt.Errorf("file sink: format %q: want csv or jsonl", f.Format)
	}
	if f.Dir == "" {
		return errors.New("file sink: no directory")
	}
	return nil
}

func (f FileSink) ext() string {
	if f.Format == "jsonl" {
		return "jsonl"
	}
	return "csv"
}

func (f FileSink) prefix() string {
	if f.Prefix == "" {
		return "pageviews"
	}
	return f.Prefix
}

// Name returns "file://<dir>".
func (f FileSink) Name() string { return "file://" + f.Dir }

// Open creates the directory and returns the shard's writer.
func (f FileSink) Open(_ context.Context, shard pipeline.Shard) (pipeline.SinkWriter[Row], error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &fileWriter{sink: f, shard: shard}, nil
}

type fileWriter struct {
	sink  FileSink
	shard pipeline.Shard
	buf   bytes.Buffer
	rows  int
}

// fileToken is the commit token: the staged and the final file name, relative to Dir.
type fileToken struct {
	Staged string `json:"staged"`
	Final  string `json:"final"`
}

func (w *fileWriter) Write(_ context.Context, elems []pipeline.Element[Row]) error {
	if w.sink.ext() == "jsonl" {
		enc := json.NewEncoder(&w.buf)
		for _, e := range elems {
			if err := enc.Encode(e.Value); err != nil {
				return fmt.Errorf("encode %s: %w", e.Value.URL, err)
			}
		}
		w.rows += len(elems)
		return nil
	}
	cw := csv.NewWriter(&w.buf)
	if w.rows == 0 && len(elems) > 0 {
		_ = cw.Write([]string{"url", "minute", "views", "unique_users"})
	}
	for _, e := range elems {
		r := e.Value
		_ = cw.Write([]string{r.URL, r.Minute.UTC().Format(time.RFC3339), strconv.FormatInt(r.Views, 10), strconv.FormatInt(r.UniqueUsers, 10)})
	}
	cw.Flush()
	w.rows += len(elems)
	return cw.Error()
}

func (w *fileWriter) Prepare(_ context.Context, e pipeline.Epoch) ([]byte, error) {
	if w.rows == 0 {
		return nil, nil // nothing written this epoch: no file
	}
	final := fmt.Sprintf("%s-%06d-%05d-of-%05d.%s", w.sink.prefix(), e.ID, w.shard.Index, w.shard.Count, w.sink.ext())
	tok := fileToken{Staged: "." + final + ".tmp", Final: final}
	if err := writeSynced(filepath.Join(w.sink.Dir, tok.Staged), w.buf.Bytes()); err != nil {
		return nil, err
	}
	w.buf.Reset()
	w.rows = 0
	return json.Marshal(tok)
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (w *fileWriter) Commit(_ context.Context, token []byte) error {
	if len(token) == 0 {
		return nil
	}
	var tok fileToken
	if err := json.Unmarshal(token, &tok); err != nil {
		return fmt.Errorf("bad commit token %q: %w", token, err)
	}
	staged, final := filepath.Join(w.sink.Dir, tok.Staged), filepath.Join(w.sink.Dir, tok.Final)
	err := os.Rename(staged, final)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(final); serr == nil {
			return nil // committed before
		}
	}
	return err
}

// Close drops rows not yet prepared; staged files stay for Commit (after a restart, the runner commits them).
func (w *fileWriter) Close(context.Context) error {
	w.buf.Reset()
	w.rows = 0
	return nil
}
