package parquetio

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/kappaflow/kappa/io/objstore"
	"github.com/kappaflow/kappa/pipeline"
)

// Stats counts what a Source listed, skipped and read. Pruned files and row groups are never read.
type Stats struct {
	// FilesListed counts the objects the URL matched (hidden objects excluded); FilesHidden the hidden ones
	// skipped (_SUCCESS, _staging/, .crc, ...).
	FilesListed, FilesHidden int
	// FilesPruned counts files skipped by their partition folders' time range or because statistics pruned all
	// their row groups; FilesFailed files that could not be read (DeadLetter mode); FilesRead files whose row
	// groups have all been read.
	FilesPruned, FilesFailed, FilesRead int
	// RowGroupsListed counts the row groups in the opened files; RowGroupsPruned those skipped by their time
	// column statistics (or empty); RowGroupsRead those read to their end.
	RowGroupsListed, RowGroupsPruned, RowGroupsRead int
	// BytesListed sums the sizes of the listed files; BytesPruned those of pruned files and the compressed sizes
	// of pruned row groups; BytesRead counts the bytes fetched from storage (footers and column chunks).
	BytesListed, BytesPruned, BytesRead int64
	// RowsTotal counts the rows in the row groups to read; RowsRead the rows decoded; RowsFiltered the decoded
	// rows dropped for being outside [From, To).
	RowsTotal, RowsRead, RowsFiltered int64
}

// String formats the counters on one line.
func (s Stats) String() string {
	return fmt.Sprintf("files listed=%d hidden=%d pruned=%d failed=%d read=%d; row groups listed=%d pruned=%d read=%d; "+
		"bytes listed=%d pruned=%d read=%d; rows total=%d read=%d filtered=%d",
		s.FilesListed, s.FilesHidden, s.FilesPruned, s.FilesFailed, s.FilesRead,
		s.RowGroupsListed, s.RowGroupsPruned, s.RowGroupsRead,
		s.BytesListed, s.BytesPruned, s.BytesRead, s.RowsTotal, s.RowsRead, s.RowsFiltered)
}

// Source reads Parquet files into records of type T. Its splits are row groups; a split reader decodes its row
// group with parquet-go's generic reader straight into Batch.Values and resumes mid row group from its position.
// It implements pipeline.Source[T]; Read and ReadWithDeadLetters add one to a pipeline.
type Source[T any] struct {
	cfg      ReadConfig[T]
	schema   *parquet.Schema
	tc       *timeColumn
	from, to pipeline.Time
	filter   bool // drop records outside [from, to)
	hints    bool // give watermark hints from statistics
	log      *slog.Logger
	// defaultLog says that ReadConfig.Logger was not set: the runner's logger replaces slog.Default().
	defaultLog bool
	setters    map[string]func(*T, string) error

	mu      sync.Mutex
	listed  bool
	store   objstore.Store
	bufSize int
	splits  []pipeline.Split
	byID    map[string]*splitInfo
	tails   *tailCache

	// counters, updated while reading
	listing                           Stats // fixed after listing
	filesRead, rowGroupsRead          atomic.Int64
	bytesRead, rowsRead, rowsFiltered atomic.Int64
	start                             time.Time
	lastProgress                      atomic.Int64
	doneLogged                        atomic.Bool
}

var _ pipeline.Source[struct{}] = (*Source[struct{}])(nil)

// fileInfo is one listed object that survived partition pruning.
type fileInfo struct {
	obj     objstore.Object
	url     string
	parts   []objstore.Partition
	pending atomic.Int64 // row groups not yet read to their end
}

// splitInfo is one split: a row group, or (rg -1) an unreadable file in DeadLetter mode.
type splitInfo struct {
	file     *fileInfo
	rg       int
	rows     int64
	bytes    int64
	lo, hi   pipeline.Time
	hasStats bool
	failure  *FileError
}

// SetDefaultLogger makes the source log to l (the job's logger, set by the runner before it reads) unless
// ReadConfig.Logger names one (pipeline.DefaultLogger).
func (s *Source[T]) SetDefaultLogger(l *slog.Logger) {
	if l != nil && s.defaultLog {
		s.log = l
	}
}

// NewSource validates cfg and returns a source. It does no I/O: the input is listed on the first call to
// Splits (or Open).
func NewSource[T any](cfg ReadConfig[T]) (*Source[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	schema, err := schemaOf[T]()
	if err != nil {
		return nil, err
	}
	s := &Source[T]{cfg: cfg, schema: schema, from: pipeline.MinTime, to: pipeline.MaxTime, log: cfg.Logger,
		setters: cfg.PartitionFields}
	if cfg.TimeColumn != "" {
		if s.tc, err = resolveTimeColumn[T](schema, cfg.TimeColumn); err != nil {
			return nil, err
		}
	}
	if !cfg.From.IsZero() {
		s.from = pipeline.TimeOf(cfg.From)
	}
	if !cfg.To.IsZero() {
		s.to = pipeline.TimeOf(cfg.To)
	}
	s.filter = (s.from != pipeline.MinTime || s.to != pipeline.MaxTime) && (s.tc != nil || cfg.EventTime != nil)
	s.hints = s.tc != nil && cfg.EventTime == nil
	if s.log == nil {
		s.log = slog.Default()
		s.defaultLog = true
	}
	if s.cfg.TimeZone == nil {
		s.cfg.TimeZone = time.UTC
	}
	if s.cfg.ListPageSize == 0 {
		s.cfg.ListPageSize = 1000
	}
	if s.cfg.OpenConcurrency == 0 {
		s.cfg.OpenConcurrency = 8
	}
	if s.cfg.MaxOpenFiles == 0 {
		s.cfg.MaxOpenFiles = 32
	}
	if s.cfg.ProgressInterval == 0 {
		s.cfg.ProgressInterval = 10 * time.Second
	}
	s.tails = newTailCache(s.cfg.MaxOpenFiles)
	return s, nil
}

// Name returns the configured URL.
func (s *Source[T]) Name() string { return s.cfg.URL }

// Bounded returns true: a Parquet input ends.
func (s *Source[T]) Bounded() bool { return true }

// Stats returns the counters so far.
func (s *Source[T]) Stats() Stats {
	s.mu.Lock()
	st := s.listing
	s.mu.Unlock()
	st.FilesRead = int(s.filesRead.Load())
	st.RowGroupsRead = int(s.rowGroupsRead.Load())
	st.BytesRead += s.bytesRead.Load()
	st.RowsRead = s.rowsRead.Load()
	st.RowsFiltered = s.rowsFiltered.Load()
	return st
}

// Splits lists the input on the first call: it lists the URL, prunes partitions, reads every remaining file's
// footer (OpenConcurrency at a time), checks its schema against T and prunes row groups by statistics. Later
// calls return the same splits. With OnError Fail the first unreadable file (in key order) is the error.
func (s *Source[T]) Splits(ctx context.Context) ([]pipeline.Split, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.listed {
		if err := s.list(ctx); err != nil {
			return nil, err
		}
		s.listed = true
	}
	return slices.Clone(s.splits), nil
}

func (s *Source[T]) list(ctx context.Context) error {
	start := time.Now()
	store, key, err := objstore.Open(ctx, s.cfg.URL, s.cfg.S3)
	if err != nil {
		return fmt.Errorf("parquetio: %s: %w", s.cfg.URL, err)
	}
	s.store = store
	s.bufSize = s.cfg.ReadBufferSize
	if s.bufSize == 0 {
		s.bufSize = 256 << 10
		if _, ok := store.(*objstore.S3); ok {
			s.bufSize = 4 << 20
		}
	}
	objs, hidden, err := s.listObjects(ctx, store, key)
	if err != nil {
		return err
	}
	st := Stats{FilesListed: len(objs), FilesHidden: hidden}
	var files []*fileInfo
	for _, o := range objs {
		st.BytesListed += o.Size
		parts := objstore.Partitions(o.Key)
		if len(s.cfg.TimePartitions) > 0 && (s.from != pipeline.MinTime || s.to != pipeline.MaxTime) {
			if ps, pe, ok := partitionRange(s.cfg.TimePartitions, s.cfg.TimeZone, parts); ok &&
				(pipeline.TimeOf(pe) <= s.from || pipeline.TimeOf(ps) >= s.to) {
				st.FilesPruned++
				st.BytesPruned += o.Size
				continue
			}
		}
		files = append(files, &fileInfo{obj: o, url: store.URL(o.Key), parts: parts})
	}

	// Read the footers, OpenConcurrency at a time.
	type result struct {
		splits []*splitInfo
		pruned []*splitInfo
		ferr   *FileError
		err    error
		read   int64
	}
	results := make([]result, len(files))
	sem := make(chan struct{}, s.cfg.OpenConcurrency)
	var wg sync.WaitGroup
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, fi := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := &results[i]
			r.splits, r.pruned, r.read, r.ferr, r.err = s.inspect(lctx, fi)
			if r.err != nil {
				cancel() // storage fails: stop the other footer reads. Bad files do not cancel, so that the one
				// reported is the first in key order.
			}
		}()
	}
	wg.Wait()

	byID := map[string]*splitInfo{}
	var splits []pipeline.Split
	for i, fi := range files {
		r := &results[i]
		st.BytesRead += r.read
		switch {
		case r.err != nil:
			if errors.Is(r.err, context.Canceled) && ctx.Err() == nil {
				continue // cancelled because another file failed; that one is reported below
			}
			return r.err
		case r.ferr != nil:
			if s.cfg.OnError == Fail {
				return r.ferr
			}
			st.FilesFailed++
			si := &splitInfo{file: fi, rg: -1, failure: r.ferr}
			byID[fi.url] = si
			splits = append(splits, pipeline.Split{ID: fi.url})
			continue
		}
		st.RowGroupsListed += len(r.splits) + len(r.pruned)
		st.RowGroupsPruned += len(r.pruned)
		for _, p := range r.pruned {
			st.BytesPruned += p.bytes
		}
		fi.pending.Store(int64(len(r.splits)))
		if len(r.splits) == 0 {
			st.FilesPruned++
			continue
		}
		for _, si := range r.splits {
			id := fi.url + "#rg=" + strconv.Itoa(si.rg)
			byID[id] = si
			splits = append(splits, pipeline.Split{ID: id, Size: si.bytes})
			st.RowsTotal += si.rows
		}
	}
	if len(splits) == 0 && !s.cfg.AllowEmpty {
		return s.emptyError(st)
	}
	s.splits, s.byID, s.listing, s.start = splits, byID, st, time.Now()
	s.log.Info("parquetio: listed input", "source", s.cfg.URL, "files", st.FilesListed, "hidden", st.FilesHidden,
		"files_pruned", st.FilesPruned, "files_failed", st.FilesFailed, "row_groups", st.RowGroupsListed,
		"row_groups_pruned", st.RowGroupsPruned, "splits", len(splits), "bytes", st.BytesListed,
		"bytes_pruned", st.BytesPruned, "rows", st.RowsTotal, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *Source[T]) emptyError(st Stats) error {
	switch {
	case st.FilesListed == 0 && st.FilesHidden == 0:
		return fmt.Errorf("parquetio: %s: %w: no objects match", s.cfg.URL, ErrNoInput)
	case st.FilesListed == 0:
		return fmt.Errorf("parquetio: %s: %w: no objects match (%d hidden objects such as _SUCCESS skipped)",
			s.cfg.URL, ErrNoInput, st.FilesHidden)
	case st.RowGroupsListed == st.RowGroupsPruned && s.from == pipeline.MinTime && s.to == pipeline.MaxTime:
		return fmt.Errorf("parquetio: %s: %w: the %d files hold no rows", s.cfg.URL, ErrNoInput, st.FilesListed)
	}
	return fmt.Errorf("parquetio: %s: %w: none of the %d files has rows in [%s, %s) (%d pruned by partition, %d row groups by statistics)",
		s.cfg.URL, ErrNoInput, st.FilesListed, s.from, s.to, st.FilesPruned, st.RowGroupsPruned)
}

// listObjects lists the objects the URL names, without hidden ones (counted in hidden).
func (s *Source[T]) listObjects(ctx context.Context, store objstore.Store, key string) (objs []objstore.Object, hidden int, err error) {
	pattern := key
	if !objstore.HasMeta(key) && key != "" && !strings.HasSuffix(key, "/") {
		obj, err := store.Stat(ctx, key)
		switch {
		case err == nil:
			return []objstore.Object{obj}, 0, nil
		case !errors.Is(err, objstore.ErrNotExist):
			return nil, 0, fmt.Errorf("parquetio: %s: %w", s.cfg.URL, err)
		}
		pattern = key + "/"
	}
	root := objstore.LiteralPrefix(pattern)
	root = root[:strings.LastIndexByte(root, '/')+1]
	for obj, err := range objstore.Glob(ctx, store, pattern, objstore.ListOptions{PageSize: s.cfg.ListPageSize}) {
		if err != nil {
			return nil, 0, fmt.Errorf("parquetio: %s: %w", s.cfg.URL, err)
		}
		if !s.cfg.IncludeHidden && isHidden(obj.Key[len(root):]) {
			hidden++
			continue
		}
		objs = append(objs, obj)
	}
	return objs, hidden, nil
}

// isHidden reports whether a relative key has a name or folder starting with "_" or ".".
func isHidden(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// inspect reads one file's footer, checks its schema and lists its row groups, pruned or not. I/O failures are
// errors; unreadable content is a FileError.
func (s *Source[T]) inspect(ctx context.Context, fi *fileInfo) (splits, pruned []*splitInfo, read int64, ferr *FileError, err error) {
	r, err := objstore.OpenObject(ctx, s.store, fi.obj)
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("parquetio: %s: %w", fi.url, err)
	}
	defer r.Close()
	tail, read, ferr, err := readTail(r, fi.url)
	if ferr != nil || err != nil {
		return nil, nil, read, ferr, err
	}
	f, ferr := s.openParquet(&splitIO{r: r, tail: tail}, fi)
	if ferr != nil {
		return nil, nil, read, ferr, nil
	}
	if col, err := checkSchema(s.schema, f.Schema()); err != nil {
		fe := fileErr(fi.url, err)
		fe.Column = col
		return nil, nil, read, fe, nil
	}
	md := f.Metadata()
	for i, rg := range f.RowGroups() {
		si := &splitInfo{file: fi, rg: i, rows: rg.NumRows(), bytes: compressedSize(&md.RowGroups[i])}
		si.lo, si.hi, si.hasStats = statsRange(rg, f.Schema(), s.tc)
		if si.rows == 0 || si.hasStats && (si.hi < s.from || si.lo >= s.to) {
			pruned = append(pruned, si)
			continue
		}
		splits = append(splits, si)
	}
	s.tails.put(fi.obj.Key, tail)
	return splits, pruned, read, nil, nil
}

// openParquet parses a file's footer from in (whose tail holds it), so it makes no request.
func (s *Source[T]) openParquet(in *splitIO, fi *fileInfo) (f *parquet.File, ferr *FileError) {
	defer func() {
		if r := recover(); r != nil {
			f, ferr = nil, fileErr(fi.url, fmt.Errorf("%w: cannot decode the footer: %v", ErrCorrupt, r))
		}
	}()
	f, err := parquet.OpenFile(in, fi.obj.Size, parquet.SkipMagicBytes(true), parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true), parquet.ReadBufferSize(s.bufSize))
	if err != nil {
		return nil, fileErr(fi.url, fmt.Errorf("%w: cannot decode the footer: %w", ErrCorrupt, err))
	}
	return f, nil
}

// tailSize is how much of a file's end the first footer read fetches.
const tailSize = 64 << 10

// readTail fetches a file's footer (and its 8-byte trailer) with one ranged read, two when the footer is larger
// than tailSize, and tells a non-Parquet or truncated object from a Parquet file.
func readTail(r objstore.Reader, url string) (tail []byte, read int64, ferr *FileError, err error) {
	size := r.Size()
	n := min(size, tailSize)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, nil, fmt.Errorf("parquetio: %s: read footer: %w", url, err)
	}
	read = n
	if size < 12 || string(buf[n-4:]) != "PAR1" {
		head := buf
		if n < size {
			head = make([]byte, 4)
			if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
				return nil, read, nil, fmt.Errorf("parquetio: %s: read header: %w", url, err)
			}
			read += 4
		}
		switch {
		case size >= 4 && string(buf[n-4:]) == "PARE":
			return nil, read, fileErr(url, fmt.Errorf("%w: encrypted footers (PARE) are not supported", ErrNotParquet)), nil
		case size >= 4 && string(head[:4]) == "PAR1":
			return nil, read, fileErr(url, fmt.Errorf("%w: it starts with PAR1 but does not end with it (%d bytes)", ErrTruncated, size)), nil
		}
		return nil, read, fileErr(url, fmt.Errorf("%w: no PAR1 magic at its end (%d bytes)", ErrNotParquet, size)), nil
	}
	footer := int64(binary.LittleEndian.Uint32(buf[n-8 : n-4]))
	if footer+12 > size {
		return nil, read, fileErr(url, fmt.Errorf("%w: footer length %d does not fit in the file's %d bytes", ErrCorrupt, footer, size)), nil
	}
	need := footer + 8
	if need > n {
		buf = make([]byte, need)
		if _, err := r.ReadAt(buf, size-need); err != nil && !errors.Is(err, io.EOF) {
			return nil, read, nil, fmt.Errorf("parquetio: %s: read footer: %w", url, err)
		}
		read += need
		return buf, read, nil, nil
	}
	return buf[n-need:], read, nil, nil
}

// splitIO is the io.ReaderAt parquet-go reads a file through: the file's tail (its footer) from memory, the rest
// from storage with the current batch's context, counting fetched bytes.
type splitIO struct {
	r     objstore.Reader
	tail  []byte
	count *atomic.Int64
}

func (s *splitIO) ReadAt(p []byte, off int64) (int, error) {
	size := s.r.Size()
	tailOff := size - int64(len(s.tail))
	if off >= size {
		return 0, io.EOF
	}
	if off >= tailOff {
		n := copy(p, s.tail[off-tailOff:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	head := p
	if end := off + int64(len(p)); end > tailOff {
		head = p[:tailOff-off]
	}
	n, err := s.r.ReadAt(head, off)
	if s.count != nil {
		s.count.Add(int64(n))
	}
	if err != nil && !(errors.Is(err, io.EOF) && n == len(head)) {
		return n, err
	}
	if len(head) < len(p) {
		m := copy(p[len(head):], s.tail)
		n += m
		if n < len(p) {
			return n, io.EOF
		}
	}
	return n, nil
}

// tailCache keeps the footers of recently used files so that opening a split needs no footer request.
type tailCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *tailEntry, most recent first
	byKey map[string]*list.Element
}

type tailEntry struct {
	key  string
	tail []byte
}

func newTailCache(n int) *tailCache {
	return &tailCache{max: n, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *tailCache) get(key string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*tailEntry).tail
	}
	return nil
}

func (c *tailCache) put(key string, tail []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		e.Value.(*tailEntry).tail = tail
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&tailEntry{key: key, tail: tail})
	for c.order.Len() > c.max {
		e := c.order.Back()
		c.order.Remove(e)
		delete(c.byKey, e.Value.(*tailEntry).key)
	}
}

// lookup returns a split's description, listing the input first if needed.
func (s *Source[T]) lookup(ctx context.Context, id string) (*splitInfo, error) {
	if _, err := s.Splits(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	si := s.byID[id]
	s.mu.Unlock()
	if si == nil {
		return nil, fmt.Errorf("parquetio: %s: unknown split %q", s.cfg.URL, id)
	}
	return si, nil
}

// rowGroupDone counts a finished row group and logs completion after the last one.
func (s *Source[T]) rowGroupDone(si *splitInfo) {
	s.rowGroupsRead.Add(1)
	if si.file.pending.Add(-1) == 0 {
		s.filesRead.Add(1)
	}
	s.mu.Lock()
	total := len(s.splits) - s.listing.FilesFailed
	s.mu.Unlock()
	if int(s.rowGroupsRead.Load()) == total && s.doneLogged.CompareAndSwap(false, true) {
		st := s.Stats()
		el := time.Since(s.start)
		s.log.Info("parquetio: read input", "source", s.cfg.URL, "files", st.FilesRead, "row_groups", st.RowGroupsRead,
			"rows", st.RowsRead, "rows_filtered", st.RowsFiltered, "bytes", st.BytesRead,
			"rows_per_s", rate(float64(st.RowsRead), el), "mb_per_s", rate(float64(st.BytesRead)/1e6, el),
			"took", el.Round(time.Millisecond))
	}
}

func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(int64(n/d.Seconds()*10)) / 10
}

// progress logs a progress line at most every ProgressInterval.
func (s *Source[T]) progress() {
	if s.cfg.ProgressInterval < 0 || s.doneLogged.Load() {
		return
	}
	now := time.Now().UnixNano()
	last := s.lastProgress.Load()
	if last == 0 {
		s.lastProgress.CompareAndSwap(0, now)
		return
	}
	if now-last < int64(s.cfg.ProgressInterval) || !s.lastProgress.CompareAndSwap(last, now) {
		return
	}
	st := s.Stats()
	el := time.Since(s.start)
	eta := time.Duration(0)
	if st.RowsRead > 0 && st.RowsTotal > 0 {
		done := float64(st.RowsRead) / float64(st.RowsTotal)
		eta = time.Duration(float64(el) * (1 - done) / done)
	}
	s.log.Info("parquetio: progress", "source", s.cfg.URL,
		"files", fmt.Sprintf("%d/%d", st.FilesRead, st.FilesListed-st.FilesPruned-st.FilesFailed),
		"row_groups", fmt.Sprintf("%d/%d", st.RowGroupsRead, st.RowGroupsListed-st.RowGroupsPruned),
		"rows", fmt.Sprintf("%d/%d", st.RowsRead, st.RowsTotal), "bytes", st.BytesRead,
		"rows_per_s", rate(float64(st.RowsRead), el), "mb_per_s", rate(float64(st.BytesRead)/1e6, el),
		"eta", eta.Round(time.Second))
}
