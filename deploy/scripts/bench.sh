#!/usr/bin/env bash
# `make bench`: a release nexa-billing (real PostgreSQL, real API-key check) and a bare SwiftNIO
# echo server, each in its own process, driven by nexa-bench's client. Prints both side by side.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$root" && swift build -c release --show-bin-path)
port=${PG_PORT:-55432}
mkdir -p "$root/.data"
"$root/deploy/scripts/pg.sh" start "$root/.data/pg" "$port"
export NEXA_DATABASE_URL=postgresql://nexa@127.0.0.1:$port/nexa NEXA_BILLING_RPC_PORT=17203 NEXA_BILLING_ADMIN_PORT=17303 NEXA_LOG_LEVEL=warning
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
"$bin/nexa-billing" & pids+=($!); billing=$!
"$bin/nexa-bench" echo-server --port 17299 >/dev/null & pids+=($!)
for i in $(seq 1 100); do curl -sf http://127.0.0.1:17303/readyz >/dev/null && break; sleep 0.1; done
workspace=$("$bin/nexactl" workspaces create "Benchmark" --id 00000000-0000-4000-8000-00000000bbbb)
key=$("$bin/nexactl" keys create --workspace "$workspace" --name bench --services billing --quiet)
echo "machine: $(nproc) cores; client, server and baseline share it"
"$bin/nexa-bench" client --rpc-port 17203 --echo-port 17299 --api-key "$key" --rpc-pid "$billing" --seconds "${BENCH_SECONDS:-3}" --rounds "${BENCH_ROUNDS:-5}" --output "$root/.data/bench.md"
# The CRM module's batch matching beside one indexed SELECT … WHERE email = ANY($1), same database.
"$bin/nexa-bench" crm-match --database-url "$NEXA_DATABASE_URL"
# The email service's offline sentiment and intent analysers on the labelled mail (training and held-out parts).
"$bin/nexa-bench" mail-analysis --file "$root/Tests/EmailCalendarTests/Fixtures/labelled-mail.txt"
