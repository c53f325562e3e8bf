#!/usr/bin/env bash
# Runs every test against a throwaway PostgreSQL: the Swift suites, then the interop checks.
# Usage: test.sh BIN_DIR [RUNS]   With RUNS > 1 the whole suite runs that many times on one build
# (each run on a fresh cluster) and the script prints how many passed; it fails unless all did.
# LOAD=N runs N CPU hogs (stress-ng) meanwhile.
set -uo pipefail
bin=$1; runs=${2:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
data=$root/.data; mkdir -p "$data"
port=${PG_TEST_PORT:-55433}
url=postgresql://nexa@127.0.0.1:$port/nexa

# Every suite carries the per-test deadline, so a hung test fails under its own name.
unguarded=$(grep -rn '^@Suite' "$root/Tests" | grep -v '\.hangGuard' || true)
if [ -n "$unguarded" ]; then echo "suites without .hangGuard (a hang would stop the whole run):"; echo "$unguarded"; exit 1; fi

one_run() {  # $1: log suffix
  local status=0 log=$data/swift-test$1.log interop=$data/interop-test$1.log
  PG_FSYNC=off "$root/deploy/scripts/pg.sh" fresh "$data/pg-test" "$port" || return 1
  NEXA_TEST_DATABASE_URL=$url NEXA_BIN_DIR=$bin swift test --skip-build 2>&1 | tee "$log" || status=$?
  if [ $status = 0 ]; then
    NEXA_TEST_DATABASE_URL=$url "$root/deploy/scripts/interop-test.sh" "$bin" 2>&1 | tee "$interop" || status=$?
  fi
  "$root/deploy/scripts/pg.sh" stop "$data/pg-test"
  if [ $status = 0 ]; then
    swift=$(sed -n 's/.*Test run with \([0-9]*\) tests.* passed after.*/\1/p' "$log" | tail -1)
    checks=$(grep -c '^PASS ' "$interop" 2>/dev/null || true)
    echo "make test: $swift Swift tests and $checks interop checks"
    echo "$(( ${swift:-0} + ${checks:-0} )) passed, 0 failed"
  else
    echo "failed tests:"; grep -E '✘ Test .* (failed|recorded)' "$log" | sed 's/^/  /' | sort -u | head -20
  fi
  return $status
}

if [ "$runs" = 1 ]; then one_run ""; exit $?; fi
if [ "${LOAD:-0}" -gt 0 ]; then  # CPU hogs beside the suite, as a loaded CI machine would have
  stress-ng --cpu "$LOAD" --quiet & hog=$!
  trap 'kill $hog 2>/dev/null' EXIT
  echo "with $LOAD CPU hogs (stress-ng --cpu $LOAD)"
fi
passed=0
for run in $(seq 1 "$runs"); do
  echo "== run $run of $runs =="
  if one_run "-$run" > "$data/test-run-$run.log" 2>&1; then passed=$((passed + 1)); echo "run $run: passed"
  else echo "run $run: FAILED (log: .data/test-run-$run.log)"; grep -A20 '^failed tests:' "$data/test-run-$run.log"; fi
  grep -E 'Test run with .* after' "$data/swift-test-$run.log" | tail -1
done
echo "test-repeat: $passed of $runs runs passed"
[ "$passed" = "$runs" ]
