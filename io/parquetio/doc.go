// Package parquetio reads and writes Parquet files of typed records, on local disk or S3, for kappa pipelines:
// the backfill half of "one pipeline, two speeds".
//
//	type PageView struct {
//		URL    string    `parquet:"url"`
//		At     time.Time `parquet:"at,timestamp(millisecond)"`
//		Region string    `parquet:"-"` // from the region=... folder
//	}
//
//	views := parquetio.Read(s, parquetio.ReadConfig[PageView]{
//		URL:        "s3://archive/views/",
//		TimeColumn: "at",
//		From:       time.Date(2016, 9, 21, 0, 0, 0, 0, time.UTC),
//		To:         time.Date(2016, 9, 22, 0, 0, 0, 0, time.UTC),
//		TimePartitions: []parquetio.TimePartition{{Key: "dt", Layout: "2006-01-02"}, {Key: "hour", Layout: "15"}},
//		PartitionFields: map[string]func(*PageView, string) error{
//			"region": func(v *PageView, s string) error { v.Region = s; return nil },
//		},
//	})
//	...
//	parquetio.Write(s, counts, parquetio.WriteConfig[Count]{URL: "s3://reports/per-minute/"})
//
// # Records
//
// Records are Go structs with parquet-go tags (github.com/parquet-go/parquet-go): signed and unsigned integers,
// float32/64, bool, string (also enum and json), []byte and fixed-size byte arrays (uuid), time.Time and int64
// timestamps in milli-, micro- or nanoseconds, int32 dates, time.Duration, pointers and the "optional" tag for
// nullable fields, nested and optional structs, slices (repeated or "list") of values and of structs, and
// maps. Fields tagged `parquet:"-"` are not stored; use them for values taken from partition folders. parquet-go
// v0.32.0 writes time.Time fields tagged "date" wrongly: use an int32 day number for dates.
//
// # Reading
//
// ReadConfig.URL is a folder ("s3://bucket/events/", "/data/events/", "file:///data/events/"), one object or a
// glob ("s3://bucket/events/dt=2016-09-*/**/*.parquet"). Objects whose name or folder below the URL starts with
// "_" or "." (_SUCCESS, _staging/, .crc) are skipped. A URL that matches nothing is an ErrNoInput error, not an
// empty success (ReadConfig.AllowEmpty changes that).
//
// A Source's splits are row groups, "s3://bucket/events/a.parquet#rg=2", sized by their compressed bytes; the
// runner reads them in parallel. A split reader decodes its row group with parquet-go's generic reader straight
// into Batch.Values, bounded by Limits.MaxRecords and Limits.MaxBytes, and its position ("row=N") resumes a
// restarted job in the middle of a row group.
//
// Listing reads every file's footer (one ranged GET for the last 64 KiB, a second for larger footers) and
// checks its schema against T; reading then fetches only the column chunks of T's columns, ReadBufferSize (4 MiB
// on S3) per request. An object is never loaded whole.
//
// # Event time and pruning
//
// TimeColumn (or EventTime) gives each record its event time in Batch.Times. From and To restrict a backfill to
// [From, To): files in Hive partition folders (TimePartitions) outside the range are never opened, row groups
// whose TimeColumn statistics lie outside it are never read, and records outside it are dropped. The source's
// watermark hints (Batch.Watermark) come from the same statistics: a row group holds nothing older than its
// minimum. Stats reports what was listed, pruned and read, and the source logs a progress line (files, row
// groups, rows, bytes, rates, ETA) every ProgressInterval.
//
// # Bad input
//
// An object that is not Parquet, a truncated file, a schema that does not fit T (a required column missing, a
// different physical or logical type, a different nesting) and corrupt pages are *FileError values naming the
// object, row group, row and column. With OnError Fail (the default) the first one stops the pipeline — at
// listing time for the first three, before any data is read. With DeadLetter (ReadWithDeadLetters) each becomes
// one *pipeline.RecordError on the dead-letter output and the rest of the input is read.
//
// Nullable columns: a column that is optional in the file reads into a pointer field (nil for null) or a field
// tagged "optional" (null reads as the zero value, on purpose). Read into a field that cannot hold null — most
// writers (Spark, pandas, DuckDB) mark every column optional, so this is allowed — each null that occurs is an
// ErrNull *FileError naming the object, row group, row and column: with Fail the run stops at the first, with
// DeadLetter each becomes a dead letter and its row is left out. A null is never read as a zero value by
// accident. The check costs nothing when the row group's statistics count no null in such columns; otherwise
// their definition levels are read once per row group.
//
// # Writing
//
// A Sink writes files per folder and pane. The folder comes from the element's window start (or, with
// PartitionByEventTime, its event time) through FolderLayout, e.g. "window_start=20160921T183000Z" or
// "dt=2016-09-21/hour=18"; files roll at MaxFileRows or MaxFileBytes and row groups are capped at RowGroupRows.
// Each shard's writer stages files under URL/_staging/; Prepare finishes them and returns a token; Commit moves
// them to deterministic names, URL/FOLDER/part-e<epoch>-s<shard>-p<pane>-<seq>.parquet. Commit is idempotent and
// works from a new writer after a crash, and a replayed epoch overwrites what it wrote before: output is exactly
// once when the runner commits tokens only after its checkpoint is durable. Once the sink's watermark passes a
// folder's end plus AllowedLateness on every shard, the folder gets a _SUCCESS marker (shards coordinate through
// small state objects under URL/_kappa/).
//
// On runners/beam the sink commits each Beam bundle in Beam's bundle finalization (it is a beam.FinalizedSink)
// when it writes no folder markers (SuccessMarker "-"); with markers, which need the epoch's watermark, the Beam
// runner refuses it and names the setting. Writers opened per bundle (pipeline.Shard.Bundles) name their files by
// writer instance, URL/FOLDER/part-w<instance>-b<bundle>-p<pane>-<seq>.parquet, and staged files of failed bundles
// are deleted after StagedTTL. docs/parquet.md has the details.
package parquetio
