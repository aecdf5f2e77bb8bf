package parquetio

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/pipeline"
)

// Codec is a Parquet compression codec for written files.
type Codec int

const (
	// Zstd compresses with Zstandard (the default): the smallest files at a good speed.
	Zstd Codec = iota
	// Snappy compresses with Snappy: faster, larger files.
	Snappy
	// Uncompressed writes pages as they are.
	Uncompressed
)

// String returns "zstd", "snappy" or "none".
func (c Codec) String() string {
	switch c {
	case Zstd:
		return "zstd"
	case Snappy:
		return "snappy"
	case Uncompressed:
		return "none"
	}
	return fmt.Sprintf("Codec(%d)", int(c))
}

func (c Codec) option() parquet.WriterOption {
	switch c {
	case Snappy:
		return parquet.Compression(&parquet.Snappy)
	case Uncompressed:
		return parquet.Compression(&parquet.Uncompressed)
	}
	return parquet.Compression(&parquet.Zstd)
}

// writeChunk is how many rows are written between two checks of a file's size.
const writeChunk = 1024

// DefaultFolderLayout names the folder of a window: window_start=20160921T183000Z.
const DefaultFolderLayout = "window_start=20060102T150405Z"

// WriteConfig configures a Parquet sink of records of type T (a struct with parquet-go tags). Only URL is
// required.
type WriteConfig[T any] struct {
	// URL is the output folder: "s3://bucket/out/", "/data/out/", "file:///data/out/". Required.
	URL string
	// S3 configures access to s3:// URLs. Default: the AWS chain.
	S3 objstore.Config

	// FolderLayout is the time.Format layout of the output folder of an element, applied to its window's start
	// (or its event time, see PartitionByEventTime) in UTC; it may hold several levels, e.g.
	// "dt=2006-01-02/hour=15". Elements of the global window go to the URL's folder itself unless
	// PartitionByEventTime is set. Default DefaultFolderLayout (one folder per window start).
	FolderLayout string
	// PartitionByEventTime picks folders by each element's event time instead of its window: the layout of a
	// raw event archive (dt=.../hour=...). Default false.
	PartitionByEventTime bool
	// AllowedLateness is how long after its end a folder may still receive elements. A folder is final, and
	// gets its marker, once the sink's watermark passes the end of every window written to it (and of its own
	// time span) plus AllowedLateness, or at the job's final epoch. Match it to the windowing's allowed lateness.
	// Default 0.
	AllowedLateness time.Duration
	// SuccessMarker is the name of the empty object written into a folder once it is final. Default "_SUCCESS";
	// "-" writes no markers.
	SuccessMarker string
	// JobID names this job's coordination state (under URL/_kappa/JOB/), so that two jobs writing to one output
	// do not mix their markers. Default "default". Delete URL/_kappa/ to rerun a job from scratch.
	JobID string

	// Codec is the compression codec. Default Zstd.
	Codec Codec
	// RowGroupRows caps the rows of a row group, which bounds the memory of a file being written. Default
	// 1048576.
	RowGroupRows int64
	// MaxFileRows rolls to a new file after this many rows. Default 0: no row limit.
	MaxFileRows int64
	// MaxFileBytes rolls to a new file once a file's estimated size passes it. Default 256 MiB.
	MaxFileBytes int64
	// MaxOpenFiles is the number of files one shard writes at once (one per folder and pane); opening one more
	// finishes the least recently written. Default 16.
	MaxOpenFiles int
	// SortFunc, when set, sorts the rows of each row group (rows are buffered per row group, so memory grows
	// with RowGroupRows). Default: rows stay in arrival order.
	SortFunc func(a, b T) int
	// Logger receives a line per commit. Default slog.Default().
	Logger *slog.Logger

	// StagedTTL applies on runners/beam (writers opened per bundle, pipeline.Shard.Bundles): staged files older
	// than this that no commit published belong to bundles that failed (Beam retried them elsewhere) and are
	// deleted by later commits. It must exceed the longest wait of a prepared bundle for its finalization.
	// Default 24h.
	StagedTTL time.Duration
}

// Validate reports invalid settings.
func (c *WriteConfig[T]) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("parquetio: "+format, args...)) }
	if c.URL == "" {
		add("WriteConfig.URL is empty")
	} else if loc, err := objstore.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("parquetio: WriteConfig.URL: %w", err))
	} else if objstore.HasMeta(loc.Key) {
		add("WriteConfig.URL %q holds glob characters", c.URL)
	}
	if err := c.S3.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("parquetio: WriteConfig.S3: %w", err))
	}
	if c.Codec < Zstd || c.Codec > Uncompressed {
		add("WriteConfig.Codec %v is unknown", c.Codec)
	}
	if l := c.FolderLayout; l != "" {
		ref := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		if f := ref.Format(l); strings.HasPrefix(f, "/") || strings.HasSuffix(f, "/") || strings.Contains(f, "//") {
			add("WriteConfig.FolderLayout %q must not start or end with / or hold //", l)
		} else if !layoutHasYear(l) {
			add("WriteConfig.FolderLayout %q names no year", l)
		}
	}
	if strings.ContainsAny(c.SuccessMarker, "/") {
		add("WriteConfig.SuccessMarker %q holds a /", c.SuccessMarker)
	}
	if strings.ContainsAny(c.JobID, "/") {
		add("WriteConfig.JobID %q holds a /", c.JobID)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"RowGroupRows", c.RowGroupRows}, {"MaxFileRows", c.MaxFileRows}, {"MaxFileBytes", c.MaxFileBytes},
		{"MaxOpenFiles", int64(c.MaxOpenFiles)}, {"AllowedLateness", int64(c.AllowedLateness)},
		{"StagedTTL", int64(c.StagedTTL)}} {
		if f.v < 0 {
			add("WriteConfig.%s %d is negative", f.name, f.v)
		}
	}
	return errors.Join(errs...)
}

// Sink writes records of type T as Parquet files, exactly once per epoch: each shard's writer stages files
// under URL/_staging/, Prepare finishes them and returns a token naming them, and Commit moves them to their
// final, deterministic names:
//
//	URL/FOLDER/part-e<epoch>-s<shard>-p<pane>-<seq>.parquet
//
// so that committing twice, or replaying an epoch after a crash, replaces files instead of duplicating them.
// Folders get a _SUCCESS marker once final. It implements pipeline.Sink[T]; Write adds one to a pipeline.
type Sink[T any] struct {
	cfg    WriteConfig[T]
	schema *parquet.Schema

	mu    sync.Mutex
	store objstore.Store
	root  string // key prefix of URL, "" or ending in "/"
}

var _ pipeline.Sink[struct{}] = (*Sink[struct{}])(nil)

// NewSink validates cfg and returns a sink. It does no I/O.
func NewSink[T any](cfg WriteConfig[T]) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	schema, err := schemaOf[T]()
	if err != nil {
		return nil, err
	}
	if cfg.FolderLayout == "" {
		cfg.FolderLayout = DefaultFolderLayout
	}
	if cfg.SuccessMarker == "" {
		cfg.SuccessMarker = "_SUCCESS"
	}
	if cfg.JobID == "" {
		cfg.JobID = "default"
	}
	if cfg.RowGroupRows == 0 {
		cfg.RowGroupRows = 1 << 20
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = 256 << 20
	}
	if cfg.MaxOpenFiles == 0 {
		cfg.MaxOpenFiles = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StagedTTL == 0 {
		cfg.StagedTTL = 24 * time.Hour
	}
	return &Sink[T]{cfg: cfg, schema: schema}, nil
}

// CommitsOnBundleFinalization reports whether the sink keeps its exactly-once guarantee on runners/beam by
// committing in Beam's bundle finalization (beam.FinalizedSink): true when it writes no folder markers
// (SuccessMarker "-"), the only part of the sink that needs the epoch's watermark and Final flag. A writer opened
// per bundle (pipeline.Shard.Bundles) stages the bundle's files under names unique to the writer, and Commit
// renames them to final names unique to the writer and bundle.
func (s *Sink[T]) CommitsOnBundleFinalization() bool { return s.cfg.SuccessMarker == "-" }

// NotFinalizedBecause says why the sink does not commit in bundle finalization as configured (beam's
// FinalizationRefusal), or returns "".
func (s *Sink[T]) NotFinalizedBecause() string {
	if s.CommitsOnBundleFinalization() {
		return ""
	}
	return fmt.Sprintf("parquetio writes %q folder markers once kappa's epoch watermark passes a folder's end (or at the "+
		"final epoch), which Beam bundles do not carry: set WriteConfig.SuccessMarker to \"-\" (no markers) to commit "+
		"each bundle's files exactly once in Beam's bundle finalization", s.cfg.SuccessMarker)
}

// Name returns the configured URL.
func (s *Sink[T]) Name() string { return s.cfg.URL }

func (s *Sink[T]) open(ctx context.Context) (objstore.Store, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		store, key, err := objstore.Open(ctx, s.cfg.URL, s.cfg.S3)
		if err != nil {
			return nil, "", fmt.Errorf("parquetio: %s: %w", s.cfg.URL, err)
		}
		if key != "" && !strings.HasSuffix(key, "/") {
			key += "/"
		}
		s.store, s.root = store, key
	}
	return s.store, s.root, nil
}

// Open opens the writer of one shard.
func (s *Sink[T]) Open(ctx context.Context, shard pipeline.Shard) (pipeline.SinkWriter[T], error) {
	if shard.Count < 1 || shard.Index < 0 || shard.Index >= shard.Count {
		return nil, fmt.Errorf("parquetio: %s: bad shard %d of %d", s.cfg.URL, shard.Index, shard.Count)
	}
	store, root, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	var id [6]byte
	rand.Read(id[:])
	w := &writer[T]{
		sink: s, shard: shard, store: store, root: root, instance: hex.EncodeToString(id[:]),
		open: map[fileSetKey]*outFile[T]{}, pending: map[string]pipeline.Time{}, bundles: shard.Bundles,
	}
	w.stagingDir = fmt.Sprintf("%s_staging/%s/shard-%04d/", root, s.cfg.JobID, shard.Index)
	if w.bundles {
		// Shard indexes of bundle writers are unique in one process only: their files are named by instance.
		w.stagingDir = fmt.Sprintf("%s_staging/%s/bundles/", root, s.cfg.JobID)
	}
	return w, nil
}

// fileSetKey identifies the files of one folder and pane.
type fileSetKey struct {
	folder string
	pane   int64
}

// outFile is a file being written.
type outFile[T any] struct {
	key     fileSetKey
	staged  string
	ow      objstore.Writer
	pw      *parquet.GenericWriter[T]
	rows    int64
	sortBuf []T
	lastUse uint64
}

// stagedFile is a finished file of the current epoch, not yet prepared.
type stagedFile struct {
	key    fileSetKey
	staged string
	rows   int64
}

type writer[T any] struct {
	sink       *Sink[T]
	ctx        callContext // the context of the call in progress, for files that span calls
	shard      pipeline.Shard
	store      objstore.Store
	root       string
	instance   string // unique per writer: staged names of different writer instances never collide
	stagingDir string
	open       map[fileSetKey]*outFile[T]
	finished   []stagedFile
	nextFile   int
	clock      uint64
	pending    map[string]pipeline.Time // folder -> time after which it is final (marker not yet confirmed)
	buf        []T
	memo       folderMemo
	// bundles: the runner prepares and commits per bundle (runners/beam; pipeline.Shard.Bundles).
	bundles bool
	// swept is when this writer last deleted abandoned staged files of bundles.
	swept time.Time
}

// token is what Prepare returns and Commit reads.
type token struct {
	Version   int             `json:"v"`
	Job       string          `json:"job"`
	Shard     int             `json:"shard"`
	Shards    int             `json:"shards"`
	Epoch     uint64          `json:"epoch"`
	Watermark pipeline.Time   `json:"watermark"`
	Files     []tokenFile     `json:"files"`
	Folders   []pendingFolder `json:"folders,omitempty"`
	// Bundle: prepared per runner bundle (pipeline.Shard.Bundles); Commit publishes the files and writes no markers.
	Bundle bool `json:"bundle,omitempty"`
}

type tokenFile struct {
	Staged string `json:"staged"`
	Final  string `json:"final"`
	Rows   int64  `json:"rows"`
}

// pendingFolder is a folder without a confirmed marker and the watermark at which it is final.
type pendingFolder struct {
	Folder string        `json:"folder"`
	Final  pipeline.Time `json:"final"`
}

// shardState is a shard's committed progress, read by the other shards to decide on markers.
type shardState struct {
	Epoch     uint64          `json:"epoch"`
	Watermark pipeline.Time   `json:"watermark"`
	Folders   []pendingFolder `json:"folders,omitempty"`
}

// folderOf returns the folder (relative, "" or ending in "/") of an element and the watermark after which the
// folder is final. The last answer is memoised: consecutive elements mostly share a window or a time span.
func (w *writer[T]) folderOf(e *pipeline.Element[T]) (string, pipeline.Time) {
	cfg, m := &w.sink.cfg, &w.memo
	if cfg.PartitionByEventTime {
		if e.Time == pipeline.MinTime || e.Time == pipeline.MaxTime {
			return "", pipeline.MaxTime
		}
		if m.valid && e.Time >= m.lo && e.Time < m.hi {
			return m.folder, m.final
		}
		t := e.Time.Std()
		folder := t.Format(cfg.FolderLayout)
		lo, hi := e.Time, e.Time+1
		if start, end, ok := spanOf(cfg.FolderLayout, folder, time.UTC); ok {
			lo, hi = pipeline.TimeOf(start), pipeline.TimeOf(end)
		}
		*m = folderMemo{valid: true, lo: lo, hi: hi, folder: folder + "/", final: hi.Add(cfg.AllowedLateness)}
		return m.folder, m.final
	}
	if e.Window.IsGlobal() || e.Window.Start == pipeline.MinTime {
		return "", pipeline.MaxTime
	}
	if m.valid && m.win == e.Window {
		return m.folder, m.final
	}
	folder := e.Window.Start.Std().Format(cfg.FolderLayout)
	end := e.Window.End
	if _, fe, ok := spanOf(cfg.FolderLayout, folder, time.UTC); ok {
		end = max(end, pipeline.TimeOf(fe))
	}
	*m = folderMemo{valid: true, win: e.Window, folder: folder + "/", final: end.Add(cfg.AllowedLateness)}
	return m.folder, m.final
}

type folderMemo struct {
	valid  bool
	win    pipeline.Window
	lo, hi pipeline.Time
	folder string
	final  pipeline.Time
}

// Write appends elements to the open file of their folder and pane, opening, rolling and finishing files as
// needed.
func (w *writer[T]) Write(ctx context.Context, elems []pipeline.Element[T]) error {
	w.ctx.set(ctx)
	for i := 0; i < len(elems); {
		folder, final := w.folderOf(&elems[i])
		key := fileSetKey{folder: folder, pane: elems[i].Pane.Index}
		if old, ok := w.pending[folder]; !ok || final > old {
			w.pending[folder] = final
		}
		// Gather the run of elements with the same file set.
		w.buf = append(w.buf[:0], elems[i].Value)
		j := i + 1
		for ; j < len(elems); j++ {
			if elems[j].Pane.Index != key.pane {
				break
			}
			f, fin := w.folderOf(&elems[j])
			if f != folder {
				break
			}
			if fin > w.pending[folder] {
				w.pending[folder] = fin
			}
			w.buf = append(w.buf, elems[j].Value)
		}
		if err := w.write(ctx, key, w.buf); err != nil {
			clear(w.buf)
			return err
		}
		i = j
	}
	clear(w.buf)
	return nil
}

func (w *writer[T]) write(ctx context.Context, key fileSetKey, vals []T) error {
	cfg := &w.sink.cfg
	for len(vals) > 0 {
		f, err := w.file(ctx, key)
		if err != nil {
			return err
		}
		n := min(len(vals), writeChunk) // check the file size every writeChunk rows
		if cfg.MaxFileRows > 0 {
			n = int(min(int64(n), cfg.MaxFileRows-f.rows))
		}
		if cfg.SortFunc != nil {
			n = int(min(int64(n), cfg.RowGroupRows-int64(len(f.sortBuf))))
			f.sortBuf = append(f.sortBuf, vals[:n]...)
			if int64(len(f.sortBuf)) >= cfg.RowGroupRows {
				if err := w.flushSorted(f); err != nil {
					return err
				}
			}
		} else if _, err := f.pw.Write(vals[:n]); err != nil {
			return w.fail(f, err)
		}
		f.rows += int64(n)
		vals = vals[n:]
		if cfg.MaxFileRows > 0 && f.rows >= cfg.MaxFileRows || f.pw.Size() >= cfg.MaxFileBytes {
			if err := w.finish(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer[T]) flushSorted(f *outFile[T]) error {
	if len(f.sortBuf) == 0 {
		return nil
	}
	slices.SortStableFunc(f.sortBuf, w.sink.cfg.SortFunc)
	if _, err := f.pw.Write(f.sortBuf); err != nil {
		return w.fail(f, err)
	}
	if err := f.pw.Flush(); err != nil {
		return w.fail(f, err)
	}
	clear(f.sortBuf)
	f.sortBuf = f.sortBuf[:0]
	return nil
}

func (w *writer[T]) fail(f *outFile[T], err error) error {
	delete(w.open, f.key)
	f.ow.Abort()
	return fmt.Errorf("parquetio: %s: write %s: %w", w.sink.cfg.URL, w.store.URL(f.staged), err)
}

// file returns the open file of a file set, opening one (and finishing the least recently used file when
// MaxOpenFiles are open).
func (w *writer[T]) file(ctx context.Context, key fileSetKey) (*outFile[T], error) {
	w.clock++
	if f := w.open[key]; f != nil {
		f.lastUse = w.clock
		return f, nil
	}
	cfg := &w.sink.cfg
	if len(w.open) >= cfg.MaxOpenFiles {
		var lru *outFile[T]
		for _, f := range w.open {
			if lru == nil || f.lastUse < lru.lastUse {
				lru = f
			}
		}
		if err := w.finish(lru); err != nil {
			return nil, err
		}
	}
	staged := fmt.Sprintf("%s%s-%06d.parquet", w.stagingDir, w.instance, w.nextFile)
	w.nextFile++
	// The file outlives this call (it is written by later Writes and finished by Prepare), so it gets the writer's
	// swappable context, which always holds the context of the call in progress, rather than this call's.
	ow, err := w.store.Create(&w.ctx, staged)
	if err != nil {
		return nil, fmt.Errorf("parquetio: %s: %w", cfg.URL, err)
	}
	pw, err := newGenericWriter[T](ow, cfg.Codec.option(), parquet.MaxRowsPerRowGroup(cfg.RowGroupRows),
		parquet.CreatedBy("kappa", "", ""))
	if err != nil {
		ow.Abort()
		return nil, fmt.Errorf("parquetio: %s: %w", cfg.URL, err)
	}
	f := &outFile[T]{key: key, staged: staged, ow: ow, pw: pw, lastUse: w.clock}
	w.open[key] = f
	return f, nil
}

func newGenericWriter[T any](ow objstore.Writer, opts ...parquet.WriterOption) (pw *parquet.GenericWriter[T], err error) {
	defer func() {
		if p := recover(); p != nil {
			pw, err = nil, fmt.Errorf("cannot write %s as Parquet: %v", typeName[T](), p)
		}
	}()
	return parquet.NewGenericWriter[T](ow, opts...), nil
}

// finish writes the file's footer and publishes it as a staged object.
func (w *writer[T]) finish(f *outFile[T]) error {
	if w.sink.cfg.SortFunc != nil {
		if err := w.flushSorted(f); err != nil {
			return err
		}
	}
	delete(w.open, f.key)
	if err := f.pw.Close(); err != nil {
		f.ow.Abort()
		return fmt.Errorf("parquetio: %s: finish %s: %w", w.sink.cfg.URL, w.store.URL(f.staged), err)
	}
	if err := f.ow.Close(); err != nil {
		return fmt.Errorf("parquetio: %s: %w", w.sink.cfg.URL, err)
	}
	w.finished = append(w.finished, stagedFile{key: f.key, staged: f.staged, rows: f.rows})
	return nil
}

// Prepare finishes the open files and returns a token mapping each staged file to its final name, plus the
// folders whose markers are pending.
func (w *writer[T]) Prepare(ctx context.Context, epoch pipeline.Epoch) ([]byte, error) {
	w.ctx.set(ctx)
	if w.bundles && w.sink.cfg.SuccessMarker != "-" {
		return nil, fmt.Errorf("parquetio: %s: shard %d is prepared per runner bundle, but folder markers need kappa's epochs: %s",
			w.sink.cfg.URL, w.shard.Index, w.sink.NotFinalizedBecause())
	}
	keys := make([]fileSetKey, 0, len(w.open))
	for k := range w.open {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b fileSetKey) int { return cmp.Compare(w.open[a].lastUse, w.open[b].lastUse) })
	for _, k := range keys {
		if err := w.finish(w.open[k]); err != nil {
			return nil, err
		}
	}
	tok := token{Version: 1, Job: w.sink.cfg.JobID, Shard: w.shard.Index, Shards: w.shard.Count, Epoch: epoch.ID,
		Watermark: epoch.Watermark, Files: []tokenFile{}}
	if epoch.Final {
		tok.Watermark = pipeline.MaxTime
	}
	seq := map[fileSetKey]int{}
	for _, f := range w.finished {
		n := seq[f.key]
		seq[f.key] = n + 1
		final := fmt.Sprintf("%s%spart-e%08d-s%04d-p%03d-%04d.parquet", w.root, f.key.folder, epoch.ID, w.shard.Index, f.key.pane, n)
		if w.bundles {
			// Epoch IDs count this writer's bundles and shard indexes repeat across processes: name by instance.
			final = fmt.Sprintf("%s%spart-w%s-b%08d-p%03d-%04d.parquet", w.root, f.key.folder, w.instance, epoch.ID, f.key.pane, n)
		}
		tok.Files = append(tok.Files, tokenFile{Staged: f.staged, Final: final, Rows: f.rows})
	}
	w.finished = w.finished[:0]
	if w.bundles {
		tok.Bundle = true
		if len(tok.Files) == 0 {
			return nil, nil // nothing to commit
		}
	} else {
		tok.Folders = w.pendingList()
	}
	b, err := json.Marshal(tok)
	if err != nil {
		return nil, fmt.Errorf("parquetio: %s: encode token: %w", w.sink.cfg.URL, err)
	}
	return b, nil
}

func (w *writer[T]) pendingList() []pendingFolder {
	out := make([]pendingFolder, 0, len(w.pending))
	for f, t := range w.pending {
		out = append(out, pendingFolder{Folder: f, Final: t})
	}
	slices.SortFunc(out, func(a, b pendingFolder) int { return strings.Compare(a.Folder, b.Folder) })
	return out
}

// Commit publishes the token's staged files under their final names, removes staged leftovers of lost epochs and
// writes the markers of folders every shard has finalised. It is idempotent and works on any writer of the
// sink, also one opened after a restart.
func (w *writer[T]) Commit(ctx context.Context, raw []byte) error {
	cfg := &w.sink.cfg
	if len(raw) == 0 {
		return nil // a bundle that wrote nothing
	}
	var tok token
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Version != 1 {
		return fmt.Errorf("parquetio: %s: commit: not a parquetio token: %.80q", cfg.URL, raw)
	}
	var rows int64
	for _, f := range tok.Files {
		err := w.store.Rename(ctx, f.Staged, f.Final)
		if errors.Is(err, objstore.ErrNotExist) {
			ok, serr := objstore.Exists(ctx, w.store, f.Final)
			if serr != nil {
				return fmt.Errorf("parquetio: %s: commit epoch %d: %w", cfg.URL, tok.Epoch, serr)
			}
			if ok {
				continue // committed before
			}
			return fmt.Errorf("parquetio: %s: commit epoch %d: staged file %s and final file %s are both missing",
				cfg.URL, tok.Epoch, w.store.URL(f.Staged), w.store.URL(f.Final))
		}
		if err != nil {
			return fmt.Errorf("parquetio: %s: commit epoch %d: %w", cfg.URL, tok.Epoch, err)
		}
		rows += f.Rows
	}
	if tok.Bundle {
		if err := w.sweepBundles(ctx); err != nil {
			return err
		}
		cfg.Logger.Info("parquetio: committed a bundle", "sink", cfg.URL, "bundle", tok.Epoch, "files", len(tok.Files), "rows", rows)
		return nil
	}
	if err := w.cleanStaging(ctx, tok); err != nil {
		return err
	}
	marked, err := w.markers(ctx, tok)
	if err != nil {
		return err
	}
	cfg.Logger.Info("parquetio: committed", "sink", cfg.URL, "shard", tok.Shard, "epoch", tok.Epoch,
		"files", len(tok.Files), "rows", rows, "markers", marked)
	return nil
}

// cleanStaging deletes the shard's staged objects that no live writer owns: leftovers of epochs that were
// staged but never became durable.
func (w *writer[T]) cleanStaging(ctx context.Context, tok token) error {
	dir := fmt.Sprintf("%s_staging/%s/shard-%04d/", w.root, tok.Job, tok.Shard)
	for obj, err := range w.store.List(ctx, dir, objstore.ListOptions{}) {
		if err != nil {
			return fmt.Errorf("parquetio: %s: clean staging: %w", w.sink.cfg.URL, err)
		}
		if strings.HasPrefix(obj.Key, w.stagingDir+w.instance+"-") {
			continue // this writer's files of later epochs
		}
		if err := w.store.Delete(ctx, obj.Key); err != nil {
			return fmt.Errorf("parquetio: %s: clean staging: %w", w.sink.cfg.URL, err)
		}
	}
	return nil
}

// sweepEvery is how often a writer looks for abandoned staged files of bundles.
const sweepEvery = 10 * time.Minute

// sweepBundles deletes the staged files of bundles older than StagedTTL (at most every sweepEvery per writer):
// files of bundles that failed after Prepare, whose tokens Beam never commits. Staged files of prepared bundles
// waiting for their finalization are younger, and those of other writers' bundles in progress too.
func (w *writer[T]) sweepBundles(ctx context.Context) error {
	now := time.Now()
	if !w.swept.IsZero() && now.Sub(w.swept) < sweepEvery {
		return nil
	}
	w.swept = now
	cfg := &w.sink.cfg
	dir := fmt.Sprintf("%s_staging/%s/bundles/", w.root, cfg.JobID)
	n := 0
	for obj, err := range w.store.List(ctx, dir, objstore.ListOptions{}) {
		if err != nil {
			return fmt.Errorf("parquetio: %s: delete abandoned staged files: %w", cfg.URL, err)
		}
		if obj.ModTime.IsZero() || now.Sub(obj.ModTime) < cfg.StagedTTL {
			continue
		}
		if err := w.store.Delete(ctx, obj.Key); err != nil && !errors.Is(err, objstore.ErrNotExist) {
			return fmt.Errorf("parquetio: %s: delete abandoned staged file %s: %w", cfg.URL, w.store.URL(obj.Key), err)
		}
		n++
	}
	if n > 0 {
		cfg.Logger.Info("parquetio: deleted staged files of failed bundles", "sink", cfg.URL, "files", n, "older than", cfg.StagedTTL)
	}
	return nil
}

// markers records the shard's committed watermark and pending folders, then writes the marker of every folder
// (pending at any shard) that all shards' watermarks have passed. A shard writes its state only after its files
// are committed, so a marker never precedes a committed file of its folder.
func (w *writer[T]) markers(ctx context.Context, tok token) (int, error) {
	cfg := &w.sink.cfg
	if cfg.SuccessMarker == "-" {
		return 0, nil
	}
	for _, f := range tok.Folders { // a restarted writer learns its folders from the token
		if old, ok := w.pending[f.Folder]; !ok || f.Final > old {
			w.pending[f.Folder] = f.Final
		}
	}
	stateDir := fmt.Sprintf("%s_kappa/%s/", w.root, tok.Job)
	own := shardState{Epoch: tok.Epoch, Watermark: tok.Watermark, Folders: tok.Folders}
	b, _ := json.Marshal(own)
	if err := w.store.Put(ctx, fmt.Sprintf("%sshard-%04d-of-%04d.json", stateDir, tok.Shard, tok.Shards), b); err != nil {
		return 0, fmt.Errorf("parquetio: %s: save shard state: %w", cfg.URL, err)
	}
	minWM := pipeline.MaxTime
	final := map[string]pipeline.Time{}
	for i := range tok.Shards {
		st := own
		if i != tok.Shard {
			key := fmt.Sprintf("%sshard-%04d-of-%04d.json", stateDir, i, tok.Shards)
			data, err := readSmall(ctx, w.store, key)
			if errors.Is(err, objstore.ErrNotExist) {
				return 0, nil // that shard has not committed yet; it will write the markers
			}
			if err != nil {
				return 0, fmt.Errorf("parquetio: %s: read shard state: %w", cfg.URL, err)
			}
			if err := json.Unmarshal(data, &st); err != nil {
				return 0, fmt.Errorf("parquetio: %s: read shard state %s: %w", cfg.URL, w.store.URL(key), err)
			}
		}
		minWM = min(minWM, st.Watermark)
		for _, f := range st.Folders {
			final[f.Folder] = max(final[f.Folder], f.Final)
		}
	}
	marked := 0
	for _, folder := range slices.Sorted(maps.Keys(final)) {
		if final[folder] > minWM {
			continue
		}
		key := w.root + folder + cfg.SuccessMarker
		ok, err := objstore.Exists(ctx, w.store, key)
		if err != nil {
			return marked, fmt.Errorf("parquetio: %s: marker: %w", cfg.URL, err)
		}
		if !ok {
			if err := w.store.Put(ctx, key, nil); err != nil {
				return marked, fmt.Errorf("parquetio: %s: marker: %w", cfg.URL, err)
			}
			marked++
		}
		if t, mine := w.pending[folder]; mine && t <= minWM {
			delete(w.pending, folder)
		}
	}
	return marked, nil
}

func readSmall(ctx context.Context, s objstore.Store, key string) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if n, err := r.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return nil, err
	}
	return b, nil
}

// Close discards the open and finished-but-unprepared files.
func (w *writer[T]) Close(ctx context.Context) error {
	w.ctx.set(ctx)
	var errs []error
	for _, f := range w.open {
		if err := f.ow.Abort(); err != nil {
			errs = append(errs, err)
		}
	}
	clear(w.open)
	for _, f := range w.finished {
		if err := w.store.Delete(ctx, f.staged); err != nil {
			errs = append(errs, err)
		}
	}
	w.finished = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("parquetio: %s: close shard %d: %w", w.sink.cfg.URL, w.shard.Index, err)
	}
	return nil
}

// callContext is a context.Context that delegates to the context of the writer's call in progress, for objects
// whose writes span several calls (a file opened by one Write, filled by the next, finished by Prepare).
type callContext struct {
	mu  sync.Mutex
	ctx context.Context
}

func (c *callContext) set(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
}

func (c *callContext) get() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

func (c *callContext) Deadline() (time.Time, bool) { return c.get().Deadline() }
func (c *callContext) Done() <-chan struct{}       { return c.get().Done() }
func (c *callContext) Err() error                  { return c.get().Err() }
func (c *callContext) Value(key any) any           { return c.get().Value(key) }
