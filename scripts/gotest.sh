#!/usr/bin/env bash
# Runs every Go test with the race detector. The end-to-end tests drive
# real processes, browsers and network stacks on a small machine, where a
# slow moment can make one of them miss a deadline: a test that fails is run
# once more, on its own, and the suite passes only if it passes then. Both
# runs are printed, so a test that failed once is never hidden.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
TIMEOUT=${TEST_TIMEOUT:-20m}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

$GO test -race -count=1 -timeout "$TIMEOUT" ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && exit 0

# The failed top-level tests and their packages; a build failure, a panic
# or a timeout (no "--- FAIL" line to rerun) fails the suite at once.
tests=$(grep -E '^--- FAIL: ' "$log" | awk '{print $3}' | sort -u)
pkgs=$(grep -E '^FAIL[[:space:]]+github.com/' "$log" | awk '{print $2}' | sort -u)
if [ -z "$tests" ] || [ -z "$pkgs" ] || grep -qE '^(panic:|FAIL.*\[build failed\]|FAIL.*\[setup failed\])' "$log"; then
  exit "$status"
fi
pattern="^($(echo "$tests" | paste -sd '|'))\$"
echo
echo "== $(echo "$tests" | wc -w) test(s) failed above: $(echo $tests). Running them once more, alone."
# shellcheck disable=SC2086
$GO test -race -count=1 -timeout "$TIMEOUT" -run "$pattern" $pkgs
