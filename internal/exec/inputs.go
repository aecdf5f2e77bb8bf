package exec

import (
	"time"

	"github.com/kappaflow/kappa/pipeline"
)

// Optional contracts for keyed operators whose inputs play different roles (side inputs: a main input and the
// collections its DoFn reads per window). Consumers that implement none of them see one watermark per stage, the
// minimum over every source upstream, as before.

// InputAdvance is what AdvanceInputs receives at the end of a stage run.
type InputAdvance struct {
	// Watermarks holds one watermark per input of the keyed transform, in the transform's input order: the
	// minimum over the sources upstream of that input and over the holds (WatermarkHolder) of the keyed
	// transforms between them. Each only moves forward.
	Watermarks []pipeline.Time
	// Now is the processing time.
	Now time.Time
	// Batch is true in batch mode: watermarks move only as far as the sources guarantee and reach +inf when
	// their input has ended, so an input whose watermark has passed a window has delivered all of it.
	Batch bool
}

// InputsAdvancer is implemented by consumers that need each input's own watermark. The runner then calls
// AdvanceInputs instead of Consumer.Advance.
type InputsAdvancer interface {
	AdvanceInputs(a InputAdvance) error
}

// WatermarkHolder is implemented by consumers that hold elements back and emit them later with their original
// timestamps (a ParDo with side inputs holds main-input elements until their side window is ready). Hold returns
// the smallest timestamp of what is held, pipeline.MaxTime when nothing is. The runner keeps the watermark of every
// keyed transform and sink downstream at or below it, so that what is released later is not late there. The
// runner reads Hold after the consumer's stage has run in a micro-batch.
type WatermarkHolder interface {
	Hold() pipeline.Time
}
