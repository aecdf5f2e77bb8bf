package parquetio

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kappaflow/kappa/io/objstore"
)

// ErrorPolicy says what a source does with input it cannot read: an object that is not Parquet, a truncated
// file, a schema that does not match T, corrupt pages.
type ErrorPolicy int

const (
	// Fail stops the pipeline with a *FileError naming the object, row group and column (the default).
	Fail ErrorPolicy = iota
	// DeadLetter turns each unreadable file or row group into a *pipeline.RecordError in Batch.Failures and reads
	// on. The runner routes it to the dead-letter output of ReadWithDeadLetters, or stops the pipeline with it when
	// there is none.
	DeadLetter
)

// String returns "fail" or "dead-letter".
func (p ErrorPolicy) String() string {
	switch p {
	case Fail:
		return "fail"
	case DeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("ErrorPolicy(%d)", int(p))
}

// TimePartition maps one Hive partition folder key to event time: Key "dt" with Layout "2006-01-02" reads
// dt=2016-09-21 as that day; a following {Key: "hour", Layout: "15"} narrows it to the hour.
type TimePartition struct {
	// Key is the partition key, e.g. "dt".
	Key string
	// Layout is the time.Parse layout of its values, e.g. "2006-01-02", "15", "2006-01-02-15".
	Layout string
}

// ReadConfig configures a Parquet source of records of type T, a struct with parquet-go tags (see the package
// documentation for the supported field kinds). Only URL is required.
type ReadConfig[T any] struct {
	// URL names the input: a folder-like prefix ("s3://bucket/events/", "/data/events/", "file:///data/events/"),
	// one object, or a glob ("s3://bucket/events/dt=2016-09-*/**/*.parquet"; "*" stays within a folder, "**"
	// spans folders). A URL without a trailing "/" that is not an object is read as a folder. Required.
	URL string
	// S3 configures access to s3:// URLs: region, endpoint, path style, credentials. Default: the AWS chain.
	S3 objstore.Config

	// TimeColumn is the dot-separated path of the event-time column, e.g. "time" or "meta.ts". Its field in T
	// must be a time.Time, *time.Time, int64 or *int64; int64 values are in the unit of the column's
	// timestamp(...) tag, milliseconds without one. The column's row-group statistics drive pruning and the
	// source's watermark hints. Default "": no time column.
	TimeColumn string
	// EventTime computes a record's event time. Default: the TimeColumn value, else no event time
	// (pipeline.MinTime). When both are set, EventTime gives Batch.Times and TimeColumn is used only for pruning,
	// so the two must agree; the source then gives no watermark hints.
	EventTime func(T) time.Time

	// From and To bound the event times to read to [From, To); a zero value leaves that side open. Partition
	// folders (TimePartitions) and row groups (TimeColumn statistics) wholly outside the range are skipped
	// without being read, and records outside it are dropped (counted in Stats.RowsFiltered). Default: all.
	From, To time.Time
	// TimePartitions maps Hive partition folders to event time, outermost first, e.g.
	// {{"dt", "2006-01-02"}, {"hour", "15"}}, for pruning by From and To. A file is pruned by the leading keys its
	// path has (dt alone prunes by day). Default none.
	TimePartitions []TimePartition
	// TimeZone is the zone of partition values. Default UTC.
	TimeZone *time.Location
	// PartitionFields copy Hive partition values into records: for a file under region=eu/, the setter for
	// "region" is called with "eu" on each of its records. Files without the key leave the field alone. A setter
	// error fails the file like unreadable data. Default none.
	PartitionFields map[string]func(*T, string) error

	// OnError says what to do with unreadable input. Default Fail.
	OnError ErrorPolicy
	// AllowEmpty makes an input that lists no object, or none left after pruning, an empty input instead of an
	// ErrNoInput error. Default false.
	AllowEmpty bool
	// IncludeHidden reads objects with a name or folder (below the URL's folder) starting with "_" or "." too.
	// Default false: _SUCCESS markers, _staging/ folders, .crc files and the like are skipped, as Hadoop and
	// Spark do.
	IncludeHidden bool

	// ReadBufferSize is the number of bytes one read request fetches from a column chunk. Default 4 MiB for S3
	// (few large ranged GETs), 256 KiB for local files.
	ReadBufferSize int
	// ListPageSize is the number of keys per listing request. Default 1000.
	ListPageSize int
	// OpenConcurrency is the number of file footers read in parallel while listing splits. Default 8.
	OpenConcurrency int
	// MaxOpenFiles is the number of opened files (parsed footers) kept for reuse by split readers. Default 32.
	MaxOpenFiles int
	// ProgressInterval is how often a progress line (files, row groups, rows, bytes, rate, ETA) is logged while
	// reading. Default 10s; negative disables it.
	ProgressInterval time.Duration
	// Logger receives the listing summary, progress and completion lines. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports invalid settings.
func (c *ReadConfig[T]) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("parquetio: "+format, args...)) }
	if c.URL == "" {
		add("ReadConfig.URL is empty")
	} else if _, err := objstore.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("parquetio: ReadConfig.URL: %w", err))
	}
	if err := c.S3.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("parquetio: ReadConfig.S3: %w", err))
	}
	if c.OnError != Fail && c.OnError != DeadLetter {
		add("ReadConfig.OnError %v is not Fail or DeadLetter", c.OnError)
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		add("ReadConfig.From %s is not before To %s", c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
	}
	if (!c.From.IsZero() || !c.To.IsZero()) && c.TimeColumn == "" && c.EventTime == nil && len(c.TimePartitions) == 0 {
		add("ReadConfig.From/To need a TimeColumn, EventTime or TimePartitions")
	}
	seen := map[string]bool{}
	for i, p := range c.TimePartitions {
		switch {
		case p.Key == "" || strings.ContainsAny(p.Key, "/="):
			add("ReadConfig.TimePartitions[%d]: bad key %q", i, p.Key)
		case p.Layout == "" || strings.Contains(p.Layout, "/"):
			add("ReadConfig.TimePartitions[%d] (%s): bad layout %q", i, p.Key, p.Layout)
		case seen[p.Key]:
			add("ReadConfig.TimePartitions[%d]: key %q repeated", i, p.Key)
		}
		seen[p.Key] = true
	}
	if len(c.TimePartitions) > 0 && !layoutHasYear(joinLayouts(c.TimePartitions)) {
		add("ReadConfig.TimePartitions: the layouts %q name no year", joinLayouts(c.TimePartitions))
	}
	for _, k := range slices.Sorted(maps.Keys(c.PartitionFields)) {
		if c.PartitionFields[k] == nil {
			add("ReadConfig.PartitionFields[%q] is nil", k)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"ReadBufferSize", c.ReadBufferSize}, {"ListPageSize", c.ListPageSize},
		{"OpenConcurrency", c.OpenConcurrency}, {"MaxOpenFiles", c.MaxOpenFiles}} {
		if f.v < 0 {
			add("ReadConfig.%s %d is negative", f.name, f.v)
		}
	}
	return errors.Join(errs...)
}

func joinLayouts(ps []TimePartition) string {
	ls := make([]string, len(ps))
	for i, p := range ps {
		ls[i] = p.Layout
	}
	return strings.Join(ls, "|")
}

func layoutHasYear(layout string) bool {
	ref := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	s := ref.Format(layout)
	return strings.Contains(s, "2031") || strings.Contains(s, "31")
}

// partitionRange returns the event-time range [start, end) that a file's partition folders cover, using the
// leading TimePartitions keys present; ok is false when the path says nothing usable about time.
func partitionRange(tps []TimePartition, loc *time.Location, parts []objstore.Partition) (start, end time.Time, ok bool) {
	vals := map[string]string{}
	for _, p := range parts {
		vals[p.Key] = p.Value
	}
	var layouts, values []string
	for _, tp := range tps {
		v, ok := vals[tp.Key]
		if !ok {
			break
		}
		layouts, values = append(layouts, tp.Layout), append(values, v)
	}
	if len(layouts) == 0 {
		return time.Time{}, time.Time{}, false
	}
	return spanOf(strings.Join(layouts, "|"), strings.Join(values, "|"), loc)
}

// spanOf parses value with layout and returns the time span it names: from the parsed time to the next value of
// the finest unit the layout shows (dt=2016-09-21 is a day, hour=18 an hour). ok is false when the layout names
// no year or value does not parse.
func spanOf(layout, value string, loc *time.Location) (start, end time.Time, ok bool) {
	if !layoutHasYear(layout) {
		return time.Time{}, time.Time{}, false
	}
	start, err := time.ParseInLocation(layout, value, loc)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	steps := []func(time.Time) time.Time{
		func(t time.Time) time.Time { return t.Add(time.Millisecond) },
		func(t time.Time) time.Time { return t.Add(time.Second) },
		func(t time.Time) time.Time { return t.Add(time.Minute) },
		func(t time.Time) time.Time { return t.Add(time.Hour) },
		func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
		func(t time.Time) time.Time { return t.AddDate(0, 1, 0) },
		func(t time.Time) time.Time { return t.AddDate(1, 0, 0) },
	}
	formatted := start.Format(layout)
	for _, step := range steps {
		if e := step(start); e.Format(layout) != formatted {
			return start, e, true
		}
	}
	return time.Time{}, time.Time{}, false
}
