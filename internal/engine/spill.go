package engine

import (
	"encoding/binary"
	"fmt"

	"github.com/kappaflow/kappa/internal/coder"
	"github.com/kappaflow/kappa/internal/exec"
	"github.com/kappaflow/kappa/pipeline"
)

// Spilling: when the runner finds the heap over its state budget, consumers with the default trigger over
// non-merging windows move their panes to an on-disk store, keyed by window then key. New data for a spilled
// window starts fresh panes in memory; before a window fires, its spilled panes are read back and merged, so the
// results are those of an all-in-memory run. Windows fire (and, past their lateness, leave) one at a time, so a
// batch job's final firing of every window needs no more memory than one window's keys.

type spillState[K comparable, A any] struct {
	store exec.SpillStore
	kc    coder.Coder[K]
	ac    coder.Coder[A]
	buf   []byte
	keyb  []byte
}

func (c *consumer[K, V, A, O]) spillable() bool {
	return c.op.mode == modeWindows && c.op.trig == nil && c.w.NewSpill != nil
}

func windowPrefix(dst []byte, w pipeline.Window) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.End)^(1<<63)) // order by end, then start
	return binary.BigEndian.AppendUint64(dst, uint64(w.Start)^(1<<63))
}

func decodeWindow(b []byte) pipeline.Window {
	return pipeline.Window{End: pipeline.Time(binary.BigEndian.Uint64(b[:8]) ^ (1 << 63)), Start: pipeline.Time(binary.BigEndian.Uint64(b[8:16]) ^ (1 << 63))}
}

// Spill moves every in-memory pane of spillable state to disk.
func (c *consumer[K, V, A, O]) Spill() (int, error) {
	if !c.spillable() {
		return 0, nil
	}
	if c.sp == nil {
		st, err := c.w.NewSpill(c.op.name)
		if err != nil {
			return 0, err
		}
		c.sp = &spillState[K, A]{store: st, kc: coder.For[K](), ac: coder.For[A]()}
	}
	n := 0
	for _, g := range c.wins {
		if g.dead || len(g.keys) == 0 {
			continue
		}
		for k, p := range g.keys {
			if g.spilled {
				if old, ok, err := c.getSpilled(g.w, k); err != nil {
					return n, err
				} else if ok {
					c.mergePane(p, old)
				}
			}
			key, err := c.spillKey(g.w, k)
			if err != nil {
				return n, err
			}
			val, err := c.encodePane(p)
			if err != nil {
				return n, err
			}
			if err := c.sp.store.Set(key, val); err != nil {
				return n, err
			}
			n++
		}
		g.keys = map[K]*pane[A]{}
		g.spilled = true
	}
	if err := c.sp.store.Commit(); err != nil {
		return n, fmt.Errorf("%s: spill: %w", c.op.name, err)
	}
	c.last = nil
	return n, nil
}

func (c *consumer[K, V, A, O]) spillKey(w pipeline.Window, k K) ([]byte, error) {
	b := windowPrefix(c.sp.keyb[:0], w)
	b, err := c.sp.kc.Append(b, k)
	c.sp.keyb = b
	return append([]byte(nil), b...), err
}

func (c *consumer[K, V, A, O]) encodePane(p *pane[A]) ([]byte, error) {
	b := c.sp.buf[:0]
	b = binary.AppendVarint(b, p.fresh)
	b = binary.AppendVarint(b, p.idx)
	b = binary.AppendVarint(b, p.nonSpec)
	var flags byte
	if p.onTimeDone {
		flags |= 1
	}
	if p.closed {
		flags |= 2
	}
	b = append(b, flags)
	b, err := c.sp.ac.Append(b, p.acc)
	c.sp.buf = b
	return append([]byte(nil), b...), err
}

func (c *consumer[K, V, A, O]) decodePane(b []byte) (*pane[A], error) {
	p := &pane[A]{}
	var n int
	p.fresh, n = binary.Varint(b)
	b = b[n:]
	p.idx, n = binary.Varint(b)
	b = b[n:]
	p.nonSpec, n = binary.Varint(b)
	b = b[n:]
	if len(b) < 1 || n <= 0 {
		return nil, fmt.Errorf("%s: corrupt spilled pane", c.op.name)
	}
	p.onTimeDone, p.closed = b[0]&1 != 0, b[0]&2 != 0
	acc, err := c.sp.ac.Decode(b[1:])
	if err != nil {
		return nil, fmt.Errorf("%s: spilled pane: %w", c.op.name, err)
	}
	p.acc = acc
	return p, nil
}

func (c *consumer[K, V, A, O]) getSpilled(w pipeline.Window, k K) (*pane[A], bool, error) {
	key, err := c.spillKey(w, k)
	if err != nil {
		return nil, false, err
	}
	v, ok, err := c.sp.store.Get(key)
	if err != nil || !ok {
		return nil, false, err
	}
	p, err := c.decodePane(v)
	return p, err == nil, err
}

// mergePane folds src (older, spilled) into dst.
func (c *consumer[K, V, A, O]) mergePane(dst, src *pane[A]) {
	dst.acc = c.op.agg.Merge(src.acc, dst.acc)
	dst.fresh += src.fresh
	dst.idx = max(dst.idx, src.idx)
	dst.nonSpec = max(dst.nonSpec, src.nonSpec)
	dst.onTimeDone = dst.onTimeDone || src.onTimeDone
	dst.closed = dst.closed || src.closed
}

// unspill brings every spilled pane of g back into memory.
func (c *consumer[K, V, A, O]) unspill(g *wgroup[K, A]) error {
	if !g.spilled || c.sp == nil {
		return nil
	}
	prefix := windowPrefix(nil, g.w)
	err := c.sp.store.Scan(prefix, func(key, val []byte) error {
		k, err := c.sp.kc.Decode(key[len(prefix):])
		if err != nil {
			return fmt.Errorf("%s: spilled key: %w", c.op.name, err)
		}
		p, err := c.decodePane(val)
		if err != nil {
			return err
		}
		if cur := g.keys[k]; cur != nil {
			c.mergePane(cur, p)
			return nil
		}
		g.keys[k] = p
		return nil
	})
	if err != nil {
		return err
	}
	g.spilled = false
	return c.sp.store.DeletePrefix(prefix)
}

// unspillKey brings one key's spilled pane of g back into memory.
func (c *consumer[K, V, A, O]) unspillKey(g *wgroup[K, A], k K) error {
	if !g.spilled || c.sp == nil {
		return nil
	}
	old, ok, err := c.getSpilled(g.w, k)
	if err != nil || !ok {
		return err
	}
	if cur := g.keys[k]; cur != nil {
		c.mergePane(cur, old)
	} else {
		g.keys[k] = old
	}
	key, err := c.spillKey(g.w, k)
	if err != nil {
		return err
	}
	return c.sp.store.Delete(key)
}

// scanSpilled calls fn for every spilled pane (for snapshots).
func (c *consumer[K, V, A, O]) scanSpilled(fn func(w pipeline.Window, k K, p *pane[A]) error) error {
	if c.sp == nil {
		return nil
	}
	return c.sp.store.Scan(nil, func(key, val []byte) error {
		w := decodeWindow(key)
		k, err := c.sp.kc.Decode(key[16:])
		if err != nil {
			return err
		}
		p, err := c.decodePane(val)
		if err != nil {
			return err
		}
		return fn(w, k, p)
	})
}
