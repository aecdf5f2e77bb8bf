package pipeline

// Batched pushes. Fused stages pass elements on in chunks of up to PushChunk: an operator that implements
// PushBatch (internal/exec.BatchPusher) takes a whole chunk per call — one interface call per chunk and hop instead
// of one per element, and tight loops over a slice that stays in the first-level cache. The callee may change the
// chunk's elements in place (a window assignment writes each element's window where it is); the caller must not
// use them after the call, so a fan-out copies the chunk for every consumer but the last.

// PushChunk is the most elements a fused stage passes in one PushBatch call: 256 elements of a few dozen bytes
// stay in a first-level data cache.
const PushChunk = 256

// batchPusher is internal/exec.BatchPusher's method set.
type batchPusher[T any] interface {
	PushBatch(es []Element[T]) error
}

// pushAll pushes es to p, in one call when p takes batches.
func pushAll[T any](p pusher[T], es []Element[T]) error {
	if bp, ok := p.(batchPusher[T]); ok {
		return bp.PushBatch(es)
	}
	for i := range es {
		if err := p.Push(es[i]); err != nil {
			return err
		}
	}
	return nil
}

// PushBatch drops the chunk.
func (discard[T]) PushBatch([]Element[T]) error { return nil }

// PushBatch gives a copy of the chunk to the first consumer and the chunk itself to the second.
func (t *tee2[T]) PushBatch(es []Element[T]) error {
	t.buf = append(t.buf[:0], es...)
	err := pushAll(t.a, t.buf)
	clear(t.buf)
	if err != nil {
		return err
	}
	return pushAll(t.b, es)
}

// PushBatch gives a copy of the chunk to every consumer but the last, which gets the chunk itself.
func (t *tee[T]) PushBatch(es []Element[T]) error {
	for i, p := range t.ps {
		if i == len(t.ps)-1 {
			return pushAll(p, es)
		}
		t.buf = append(t.buf[:0], es...)
		err := pushAll(p, t.buf)
		clear(t.buf)
		if err != nil {
			return err
		}
	}
	return nil
}
