package beam_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kappaflow/kappa/runners/beam"
)

// Every known difference is documented, with its test, in docs/beam.md.
func TestKnownDifferencesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/beam.md")
	require.NoError(t, err)
	for name, why := range beam.KnownDifferences {
		require.NotEmpty(t, why, name)
		test, _, _ := strings.Cut(name, "/")
		require.Contains(t, string(doc), test, "docs/beam.md does not mention the known difference %s", name)
	}
}
