//go:build beam

package pipelinetest

import (
	"log/slog"
	"os"

	"github.com/kappaflow/kappa/runners/beam"
)

// With -tags beam, KAPPA_RUNNER=prism runs the pipelines of Run (and teststream.Run) on Beam's Prism runner.
func init() {
	RegisterRunner("prism", func() Runner { return beam.New(beam.Config{}) }, beam.KnownDifferences)
	if RunnerName() == "prism" {
		// Prism logs every job at Info through the default logger.
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
}
