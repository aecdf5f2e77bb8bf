package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kappaflow/kappa/io/objstore"
)

// Switch points readers at a new output version in one atomic step: it writes target (e.g.
// "s3://bucket/sessions/v2/" or a topic name) as the whole content of the pointer object at pointerURL
// ("s3://bucket/sessions/CURRENT", "/data/sessions/CURRENT"). On S3 a PUT replaces the object atomically; on
// local disk the object is written to a temporary file and renamed. Readers that resolve the pointer with
// Current see either the old target or the new one, never a mix.
func Switch(ctx context.Context, pointerURL, target string, cfg objstore.Config) error {
	if strings.ContainsAny(target, "\n\r") || strings.TrimSpace(target) == "" {
		return fmt.Errorf("handoff: switch %s: invalid target %q", pointerURL, target)
	}
	st, key, err := objstore.Open(ctx, pointerURL, cfg)
	if err != nil {
		return fmt.Errorf("handoff: switch %s: %w", pointerURL, err)
	}
	if err := st.Put(ctx, key, []byte(target+"\n")); err != nil {
		return fmt.Errorf("handoff: switch %s to %s: %w", pointerURL, target, err)
	}
	return nil
}

// Current returns the target the pointer object at pointerURL names (see Switch).
func Current(ctx context.Context, pointerURL string, cfg objstore.Config) (string, error) {
	st, key, err := objstore.Open(ctx, pointerURL, cfg)
	if err != nil {
		return "", fmt.Errorf("handoff: read pointer %s: %w", pointerURL, err)
	}
	r, err := st.Open(ctx, key)
	if err != nil {
		return "", fmt.Errorf("handoff: read pointer %s: %w", pointerURL, err)
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("handoff: read pointer %s: %w", pointerURL, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("handoff: pointer %s is empty", pointerURL)
	}
	return t, nil
}
