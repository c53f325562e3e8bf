#!/usr/bin/env bash
# Initial mail sync benchmark (part of `make bench`): a release nexa-sandbox serves a 10,000-message
# Gmail mailbox (a third from the workspace's 100,000 contacts); nexa-bench syncs it as the email
# service does (list, get, match, analyse, store) and, in the same run, lists and gets it with
# storing and analysis off. PostgreSQL runs with fsync on.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$root" && swift build -c release --show-bin-path)
port=${BENCH_PG_PORT:-55435}
data=$root/.data/pg-bench-mail
"$root/deploy/scripts/pg.sh" fresh "$data" "$port" >/dev/null
sandbox_port=${BENCH_SANDBOX_PORT:-17399}
NEXA_SANDBOX_PORT=$sandbox_port NEXA_SANDBOX_SMTP_PORT=$((sandbox_port + 1)) NEXA_LOG_LEVEL=error "$bin/nexa-sandbox" >/dev/null 2>&1 & sandbox=$!
trap 'kill -TERM $sandbox 2>/dev/null; wait $sandbox 2>/dev/null; "$root/deploy/scripts/pg.sh" stop "$data" >/dev/null' EXIT
for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$sandbox_port/_sandbox/providers" >/dev/null && break; sleep 0.1; done
"$bin/nexa-bench" mail-sync --database-url "postgresql://nexa@127.0.0.1:$port/nexa" --sandbox-url "http://127.0.0.1:$sandbox_port" \
  --messages "${BENCH_MAIL_MESSAGES:-10000}" --contacts "${BENCH_MAIL_CONTACTS:-100000}" --rounds "${BENCH_MAIL_ROUNDS:-3}"
