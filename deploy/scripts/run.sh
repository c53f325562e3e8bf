#!/usr/bin/env bash
# Starts every service against $NEXA_DATABASE_URL, shows them working, and stops them all on
# Ctrl-C (SIGTERM to each, which drains in-flight calls). Usage: run.sh BIN_DIR [--demo-only]
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
logs=$root/.data/logs; mkdir -p "$logs"
pids=()
stop() {
  echo; echo "stopping services…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  "$root/deploy/scripts/pg.sh" stop "$root/.data/pg"
  echo "stopped."
}
trap stop EXIT
trap 'exit 0' INT TERM

"$bin/nexactl" migrate
for s in gateway email-calendar billing marketing support data-transfer; do
  "$bin/nexa-$s" >"$logs/$s.log" 2>&1 & pids+=($!)
done
for i in $(seq 1 100); do
  "$bin/nexactl" health >/dev/null 2>&1 && break
  sleep 0.2
done
echo; echo "== services ==";   "$bin/nexactl" health
workspace=$("$bin/nexactl" workspaces create "Demo workspace" --id 00000000-0000-4000-8000-000000000001)
key=$("$bin/nexactl" keys create --workspace "$workspace" --name demo --services '*' --quiet)
echo; echo "== reflection: billing.ListMethods =="
"$bin/nexactl" call billing.ListMethods --api-key "$key"
echo; echo "== an authenticated call: billing.Echo =="
"$bin/nexactl" call billing.Echo '{"text":"hello from make run","n":41}' --api-key "$key"
echo; echo "== without a key: UNAUTHENTICATED =="
"$bin/nexactl" call billing.Echo '{"text":"hi"}' --api-key "" || true
cat <<EOT

Everything is running. Try:
  export NEXA_API_KEY=$key
  $bin/nexactl health
  $bin/nexactl call support.ListMethods
  curl -s http://127.0.0.1:7103/metrics | grep nexa_rpc
Logs: $logs   Database: postgresql://nexa@127.0.0.1:${PG_PORT:-55432}/nexa
Press Ctrl-C to stop.
EOT
[ "${NEXA_RUN_ONCE:-}" = 1 ] && exit 0
wait
