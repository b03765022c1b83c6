#!/usr/bin/env bash
# Run the C unit test binaries given as arguments and add up their counts.
set -u
passed=0; failed=0; status=0
for bin in "$@"; do
  out=$("$bin") || status=1
  echo "$out"
  line=$(echo "$out" | tail -n 1)
  p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\1/p')
  f=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed/\2/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
done
echo "unit: $passed passed, $failed failed"
exit $status
