#!/usr/bin/env bash
# Runs the pipelinetest-based suites of transforms/, windowing/ and pipeline/ on Beam's Prism runner
# (KAPPA_RUNNER=prism, test binaries built with -tags beam), then asserts the list of tests that the Beam runner's
# validation refuses: it must equal runners/beam/testdata/refused-on-prism.txt (update that file, and docs/beam.md,
# when a refusal is added or lifted). Known differences are listed in runners/beam/differences.go.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
KAPPA_RUNNER=prism KAPPA_REFUSED_LOG="$log" $GO test -tags beam -count=1 -timeout 10m ./transforms/ ./windowing/ ./pipeline/
want=runners/beam/testdata/refused-on-prism.txt
if ! diff -u "$want" <(sort -u "$log"); then
	echo "test-prism: the tests refused by the Beam runner's validation differ from $want (diff above: - expected, + refused now)" >&2
	exit 1
fi
echo "test-prism: $(wc -l < "$want") refused tests as listed in $want"
