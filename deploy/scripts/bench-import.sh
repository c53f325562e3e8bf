#!/usr/bin/env bash
# Import and export benchmark (part of `make bench`): release nexa-gateway and nexa-data-transfer on
# a fresh PostgreSQL (fsync on). For 10,000 and 1,000,000 contacts, three runs each:
# `nexactl import contacts` (upload → completed) beside a baseline on the same PostgreSQL in the
# same run — psql `\copy` of the same file into a staging table, then one account find-or-create
# and one `INSERT … ON CONFLICT` upsert. Then the 1,000,000-row export beside `\copy (SELECT …) TO`.
# Prints the data transfer service's peak memory (VmHWM).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$root" && swift build -c release --show-bin-path)
port=${BENCH_PG_PORT:-55436}
data=$root/.data/pg-bench-import
work=$root/.data/bench-import; rm -rf "$work"; mkdir -p "$work"
"$root/deploy/scripts/pg.sh" fresh "$data" "$port" >/dev/null
export NEXA_DATABASE_URL=postgresql://nexa@127.0.0.1:$port/nexa NEXA_LOG_LEVEL=error NEXA_BLOB_DIR=$work/blobs
export NEXA_GATEWAY_HTTP_PORT=18180 NEXA_GATEWAY_RPC_PORT=18011 NEXA_GATEWAY_ADMIN_PORT=18111
export NEXA_DATA_TRANSFER_RPC_PORT=18016 NEXA_DATA_TRANSFER_ADMIN_PORT=18116 NEXA_EXPORT_MAX_ROWS=2000000
export NEXA_VAULT_KEYS="bench:$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" NEXA_GATEWAY_DISPATCHER=off
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null || true; "$root/deploy/scripts/pg.sh" stop "$data" >/dev/null' EXIT
"$bin/nexactl" migrate >/dev/null
"$bin/nexa-data-transfer" & pids+=($!); dt=$!
"$bin/nexa-gateway" & pids+=($!)
for i in $(seq 1 100); do curl -sf http://127.0.0.1:18180/healthz >/dev/null && curl -sf http://127.0.0.1:18116/readyz >/dev/null && break; sleep 0.1; done
now() { date +%s.%N; }
psql="psql -qAt $NEXA_DATABASE_URL"

# Each size is measured in BENCH_IMPORT_RUNS runs (default 3), one after another in this database,
# and each run's ratio is printed with the spread, so a reader sees the noise. A run of the small
# import is the median of BENCH_SMALL_ROUNDS rounds (default 5); a large one is one round.
runs=${BENCH_IMPORT_RUNS:-3}
rounds_for() { if [ "$1" -le 100000 ]; then echo "${BENCH_SMALL_ROUNDS:-5}"; else echo 1; fi; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for n in ${BENCH_IMPORT_SIZES:-10000 1000000}; do
  file=$work/contacts-$n.csv
  python3 - "$file" "$n" <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    f.write("email,first_name,last_name,company,phone,title,tags\n")
    for i in range(n):
        f.write(f"c{i}@example.com,First{i},Last{i},Company {i % 5000},+1415555{i % 10000:04d},Engineer,\"customer, tier-{i % 3}\"\n")
PY
  ratios=()
  for run in $(seq 1 "$runs"); do
    bases=(); ourss=()
    for round in $(seq 1 "$(rounds_for "$n")"); do
      # Baseline, its own workspace.
      bw=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
      $psql -c "INSERT INTO workspaces (id, name) VALUES ('$bw', 'baseline $n')"
      # Each side starts from a fresh checkpoint, so neither pays for the other's dirty pages.
      $psql -c "CHECKPOINT"
      t0=$(now)
      $psql <<SQL
CREATE TEMP TABLE staging (email text, first_name text, last_name text, company text, phone text, title text, tags text);
\\copy staging FROM '$file' WITH (FORMAT csv, HEADER true)
INSERT INTO accounts (id, workspace_id, name, normalized_name)
  SELECT gen_random_uuid(), '$bw', min(company), lower(company) FROM staging GROUP BY lower(company)
  ON CONFLICT (workspace_id, normalized_name) DO NOTHING;
INSERT INTO contacts (id, workspace_id, account_id, email, first_name, last_name, phone, title, tags)
  SELECT gen_random_uuid(), '$bw', a.id, s.email, s.first_name, s.last_name, s.phone, s.title, string_to_array(s.tags, ', ')
  FROM staging s JOIN accounts a ON a.workspace_id = '$bw' AND a.normalized_name = lower(s.company)
  ON CONFLICT (workspace_id, email) DO UPDATE SET first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
    phone = EXCLUDED.phone, title = EXCLUDED.title, account_id = EXCLUDED.account_id, tags = EXCLUDED.tags, updated_at = now();
SQL
      t1=$(now)
      # Ours, end to end through the gateway, another workspace.
      ow=$("$bin/nexactl" workspaces create "import $n")
      key=$("$bin/nexactl" keys create --workspace "$ow" --name bench --services '*' --quiet)
      $psql -c "CHECKPOINT"
      t2=$(now)
      "$bin/nexactl" import contacts "$file" --api-key "$key" --gateway-url http://127.0.0.1:18180 >"$work/import-$n.log"
      t3=$(now)
      bases+=("$(echo "$t1 - $t0" | bc)"); ourss+=("$(echo "$t3 - $t2" | bc)")
      if [ -n "${BENCH_VERBOSE:-}" ]; then
        # Where the end-to-end time went: before the job row (upload), queued, running, after (until nexactl saw it end).
        $psql -F ' ' -c "SELECT extract(epoch FROM created_at), extract(epoch FROM started_at), extract(epoch FROM finished_at) FROM import_jobs WHERE workspace_id = '$ow'" |
          awk -v t2="$t2" -v t3="$t3" '{ printf "    upload %.3f s, queued %.3f s, running %.3f s, seen ended %.3f s later\n", $1 - t2, $2 - $1, $3 - $2, t3 - $3 }'
      fi
    done
    base=$(printf '%s\n' "${bases[@]}" | median); ours=$(printf '%s\n' "${ourss[@]}" | median)
    ratio=$(echo "$ours / $base" | bc -l); ratios+=("$ratio")
    what=$([ "${#bases[@]}" -gt 1 ] && echo "median of ${#bases[@]} rounds" || echo "1 round")
    printf 'import %7d rows, run %d (%s): nexa %6.2f s   baseline (COPY + upsert) %6.2f s   ratio %.2fx\n' "$n" "$run" "$what" "$ours" "$base" "$ratio"
  done
  low=$(printf '%s\n' "${ratios[@]}" | sort -g | head -1); high=$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)
  verdict=$(awk -v h="$high" 'BEGIN { print (h <= 1.3 ? "met in every run" : "NOT met in every run") }')
  printf 'import %7d rows: ratio %.2fx-%.2fx over %d runs (target <= 1.3x in each run: %s)\n' "$n" "$low" "$high" "$runs" "$verdict"
done
echo "data transfer peak memory (VmHWM): $(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' /proc/$dt/status) (target < 200 MB for the 1,000,000-row import)"

# Export of the rows just imported, beside PostgreSQL's own COPY … TO.
$psql -c "CHECKPOINT"
t0=$(now)
$psql -c "\\copy (SELECT c.email, c.first_name, c.last_name, coalesce(c.phone, ''), coalesce(c.title, ''), coalesce(a.name, ''), array_to_string(c.tags, ', ') FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id WHERE c.workspace_id = '$ow' ORDER BY c.created_at, c.id) TO '$work/copy-export.csv' WITH (FORMAT csv, HEADER true)"
t1=$(now)
"$bin/nexactl" export contacts --fields email,first_name,last_name,phone,title,account.name,tags --api-key "$key" --gateway-url http://127.0.0.1:18180 >"$work/export.log"
t2=$(now)
base=$(echo "$t1 - $t0" | bc); ours=$(echo "$t2 - $t1" | bc)
printf 'export %d rows: nexa %6.2f s   COPY ... TO %6.2f s   ratio %.2fx (target <= 1.5x)\n' "$n" "$ours" "$base" "$(echo "$ours / $base" | bc -l)"
