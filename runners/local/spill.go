package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/kappaflow/kappa/internal/exec"
)

// spillStores opens one Pebble database per worker and keyed transform, under a run directory removed at the end.
type spillStores struct {
	mu     sync.Mutex
	dir    string
	dbs    []*pebble.DB
	made   bool
	base   string
	budget int64
	cache  *pebble.Cache
}

func (s *spillStores) open(name string) (exec.SpillStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.made {
		dir, err := os.MkdirTemp(s.base, "kappa-spill-")
		if err != nil {
			return nil, fmt.Errorf("kappa: spill directory: %w", err)
		}
		s.dir, s.made = dir, true
	}
	path := filepath.Join(s.dir, fmt.Sprintf("db-%03d", len(s.dbs)))
	if s.cache == nil {
		// Shared by the run's stores: point lookups of spilled keys read index and data blocks, so the cache
		// takes a quarter of the state budget (outside the Go heap), at least 8 MiB.
		s.cache = pebble.NewCache(max(8<<20, s.budget/4))
	}
	db, err := pebble.Open(path, &pebble.Options{
		DisableWAL:   true, // spilled state is not durable by itself: checkpoints copy it
		MemTableSize: 4 << 20,
		Cache:        s.cache,
		Logger:       quietLogger{},
	})
	if err != nil {
		return nil, fmt.Errorf("kappa: open spill store for %s: %w", name, err)
	}
	s.dbs = append(s.dbs, db)
	return &pebbleSpill{db: db, b: db.NewBatch()}, nil
}

func (s *spillStores) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, db := range s.dbs {
		if err := db.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.dbs = nil
	if s.cache != nil {
		s.cache.Unref()
		s.cache = nil
	}
	if s.made {
		if err := os.RemoveAll(s.dir); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("kappa: spill store: "+format, args...))
}

// pebbleSpill is one consumer's store. Writes go to a batch, committed by Commit, when it grows past 4 MiB, and
// before every read, so reads see every write before them.
type pebbleSpill struct {
	db *pebble.DB
	b  *pebble.Batch
}

func (p *pebbleSpill) Set(k, v []byte) error {
	if err := p.b.Set(k, v, nil); err != nil {
		return err
	}
	if p.b.Len() > 4<<20 {
		return p.Commit()
	}
	return nil
}

func (p *pebbleSpill) Commit() error {
	if p.b.Empty() {
		return nil
	}
	err := p.b.Commit(pebble.NoSync)
	p.b.Reset()
	return err
}

func (p *pebbleSpill) Get(k []byte) ([]byte, bool, error) {
	if err := p.Commit(); err != nil {
		return nil, false, err
	}
	v, closer, err := p.db.Get(k)
	if err == pebble.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

func (p *pebbleSpill) Scan(prefix []byte, fn func(k, v []byte) error) error {
	return p.ScanRange(prefix, prefixEnd(prefix), fn)
}

func (p *pebbleSpill) ScanRange(lower, upper []byte, fn func(k, v []byte) error) error {
	if err := p.Commit(); err != nil {
		return err
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func (p *pebbleSpill) MultiGet(keys [][]byte, fn func(i int, v []byte) error) error {
	if len(keys) == 0 {
		return nil
	}
	if err := p.Commit(); err != nil {
		return err
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: keys[0], UpperBound: append(bytes.Clone(keys[len(keys)-1]), 0)})
	if err != nil {
		return err
	}
	for i, k := range keys {
		if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(i, v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func (p *pebbleSpill) DeletePrefix(prefix []byte) error {
	end := prefixEnd(prefix)
	if end == nil {
		end = bytes.Repeat([]byte{0xff}, len(prefix)+1)
	}
	return p.b.DeleteRange(prefix, end, nil)
}

func (p *pebbleSpill) Delete(k []byte) error { return p.b.Delete(k, nil) }

// prefixEnd returns the smallest key greater than every key with the prefix (nil: no upper bound).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

var heapSample = []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}

// heapBytes returns the bytes of heap objects (live and not yet collected).
func heapBytes() int64 {
	rtmetrics.Read(heapSample)
	if heapSample[1].Value.Kind() == rtmetrics.KindUint64 {
		return int64(heapSample[1].Value.Uint64())
	}
	return 0
}
