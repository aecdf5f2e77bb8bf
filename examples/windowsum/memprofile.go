package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// peakHeapProfile samples the live heap every second and keeps a heap profile of the highest sample; the returned
// function stops sampling and writes that profile to path (for finding what holds memory near a run's peak RSS).
func peakHeapProfile(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var best bytes.Buffer
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc <= peak {
				continue
			}
			peak = ms.HeapAlloc
			best.Reset()
			_ = pprof.Lookup("heap").WriteTo(&best, 0)
		}
	}()
	return func() {
		close(done)
		<-finished
		_ = os.WriteFile(path, best.Bytes(), 0o644)
	}
}
