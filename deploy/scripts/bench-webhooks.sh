#!/usr/bin/env bash
# Webhook ingest benchmark (part of `make bench`): wrk (one thread: on two cores a second only
# competes with the system under test) with 64 connections POSTs Stripe-signed 1 KB
# events, each new, to a release nexa-gateway that verifies, stores durably (group commit) and
# acknowledges only after the commit. Printed beside two baselines measured in the same run:
#   (a) the same gateway with the database write switched off (NEXA_GATEWAY_INBOX=off);
#   (b) one client doing single-row durable INSERTs of the same payload (pgbench, 1 client).
# PostgreSQL runs with fsync on: every acknowledged event is on disk.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$root" && swift build -c release --show-bin-path)
port=${BENCH_PG_PORT:-55434}
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
data=$root/.data/pg-bench
"$root/deploy/scripts/pg.sh" fresh "$data" "$port" >/dev/null
export NEXA_DATABASE_URL=postgresql://nexa@127.0.0.1:$port/nexa NEXA_LOG_LEVEL=error
export NEXA_GATEWAY_HTTP_PORT=18080 NEXA_GATEWAY_RPC_PORT=18001 NEXA_GATEWAY_ADMIN_PORT=18101
export NEXA_VAULT_KEYS="bench:$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
# Ingest only, as an ingest replica runs it (NEXA_GATEWAY_DISPATCHER=off): delivery is a separate
# stage whose cost depends on the domain services, not on the gateway.
export NEXA_GATEWAY_DISPATCHER=off
gateway_pid=
stop_gateway() { [ -n "$gateway_pid" ] && kill -TERM "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null || true; gateway_pid=; }
trap 'stop_gateway; "$root/deploy/scripts/pg.sh" stop "$data" >/dev/null' EXIT
start_gateway() {
  NEXA_GATEWAY_INBOX=$1 "$bin/nexa-gateway" & gateway_pid=$!
  for i in $(seq 1 100); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && return; sleep 0.1; done
  echo "the gateway did not start" >&2; exit 1
}
"$bin/nexactl" migrate >/dev/null
workspace=$("$bin/nexactl" workspaces create "Benchmark" --id 00000000-0000-4000-8000-00000000beef)
export NEXA_API_KEY=$("$bin/nexactl" keys create --workspace "$workspace" --name bench --services '*' --quiet)
start_gateway durable
export WEBHOOK_SECRET=whsec_bench_secret
export WEBHOOK_PATH=$("$bin/nexactl" webhooks create-endpoint --provider stripe --secret "$WEBHOOK_SECRET" | sed -n 's/^path: *//p')
stop_gateway

run_wrk() {  # prints "rps p99_ms"
  wrk -t1 -c64 -d"${seconds}s" --latency -s "$root/deploy/bench/stripe-webhook.lua" http://127.0.0.1:18080 \
    | sed -n 's/^RESULT rps=\([0-9]*\) p50_ms=[0-9.]* p99_ms=\([0-9.]*\) requests=[0-9]* errors=\([0-9]*\) non2xx_status=\([0-9]*\)$/\1 \2 \3 \4/p'
}

# (b) single-row durable INSERTs of the same payload, one client.
body=$(printf '{"id":"evt_x","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_bench","pad":"%s"}}}' "$(head -c 880 /dev/zero | tr '\0' x)")
cat >"$root/.data/bench-insert.sql" <<SQL
INSERT INTO webhook_inbox (workspace_id, endpoint_id, provider, event_id, event_type, headers, body)
VALUES ('$workspace', 'we_bench', 'stripe', gen_random_uuid()::text, 'invoice.paid',
        '{"content-type": "application/json", "stripe-signature": "t=1,v1=00"}', convert_to('$body', 'UTF8'))
ON CONFLICT DO NOTHING;
SQL
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -1)

echo "machine: $(nproc) cores shared by wrk, the gateway and PostgreSQL (fsync on); $rounds alternating rounds of ${seconds} s, 64 connections, 1 KB bodies"
printf '%-6s %-34s %-34s %-28s %s\n' round "durable ingest (rps, p99 ms)" "(a) no database write (rps, p99)" "(b) single-row INSERTs (tps)" "durable/(a)  durable/(b)"
# Warm-up, not measured: a fresh cluster creates (and zero-fills) its WAL segments as it first
# grows, which a long-running server has long done; afterwards it recycles them.
start_gateway durable; seconds=$((seconds / 2)) run_wrk >/dev/null; stop_gateway
results=()
stored=0
for round in $(seq 1 "$rounds"); do
  # Every round starts from the same empty inbox and a fresh checkpoint.
  stored=$((stored + $(psql -At "$NEXA_DATABASE_URL" -c "SELECT count(*) FROM webhook_inbox WHERE endpoint_id <> 'we_bench'")))
  psql -q "$NEXA_DATABASE_URL" -c "TRUNCATE webhook_inbox" -c "CHECKPOINT"
  start_gateway durable; read -r d_rps d_p99 d_err d_non2xx < <(run_wrk); stop_gateway
  start_gateway off; read -r a_rps a_p99 a_err a_non2xx < <(run_wrk); stop_gateway
  b_tps=$("$pgbench" -n -c 1 -T "$seconds" -M prepared -f "$root/.data/bench-insert.sql" "$NEXA_DATABASE_URL" 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | cut -d. -f1)
  ratio_a=$(awk -v d="$d_rps" -v a="$a_rps" 'BEGIN { printf "%.2f", d / a }')
  ratio_b=$(awk -v d="$d_rps" -v b="$b_tps" 'BEGIN { printf "%.2f", d / b }')
  printf '%-6s %-34s %-34s %-28s %-12s %s\n' "$round" "$d_rps, $d_p99 (errors $d_err, non-2xx $d_non2xx)" "$a_rps, $a_p99" "$b_tps" \
    "$(awk -v r="$ratio_a" 'BEGIN { printf "%.0f%%", 100 * r }')" "${ratio_b}x"
  results+=("$d_rps $d_p99 $a_rps $b_tps $ratio_a $ratio_b")
done
stored=$((stored + $(psql -At "$NEXA_DATABASE_URL" -c "SELECT count(*) FROM webhook_inbox WHERE endpoint_id <> 'we_bench'")))
median() { printf '%s\n' "${results[@]}" | awk -v c="$1" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
d=$(median 1); p=$(median 2); a=$(median 3); b=$(median 4); ra=$(median 5); rb=$(median 6)
echo "medians of the columns: durable $d rps, p99 $p ms | (a) $a rps | (b) $b tps"
# The targets are checked on each round's own ratios (median over the rounds): a round measures
# durable, (a) and (b) within half a minute, so the machine's drift between rounds cancels out.
awk -v ra="$ra" -v rb="$rb" -v p="$p" 'BEGIN {
  printf "median of the rounds: durable / (a) = %.0f%% (target >= 40%%)   durable / (b) = %.1fx (target >= 5x)   p99 %.2f ms (target < 20 ms)\n", 100 * ra, rb, p }'
echo "events stored durably by the gateway during the run: $stored"
