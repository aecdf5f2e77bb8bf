package kafkaio

import "github.com/kappaflow/kappa/pipeline"

// Crash closes a writer's clients without ending any transaction, as a killed process would.
func Crash[T any](w pipeline.SinkWriter[T]) {
	switch w := w.(type) {
	case *txnWriter[T]:
		for _, s := range w.slots {
			if s.p != nil {
				s.p.close()
			}
		}
		closeClient(w.admin, w.h)
		w.closed = true
	case *writer[T]:
		w.p.close()
	}
}
