#!/usr/bin/env bash
# Pushed-mail latency benchmark (part of `make bench`): release builds of the sandbox, the gateway
# and the email service; Ana's and Bob's Google mailboxes connected through the gateway's OAuth
# flow; mail arriving at a steady 50 messages a second in all (25 each: Gmail's per-user quota of
# 250 units a second pays for 50 messages.get, so one mailbox could not take 50 a second at Google
# either), each pushed by the stand-in's Pub/Sub to the gateway.
# nexa-bench mail-push prints how long each message took to become an activity. fsync on.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$root" && swift build -c release --show-bin-path)
port=${BENCH_PG_PORT:-55436}
data=$root/.data/pg-bench-push
logs=$root/.data/logs/bench-push; mkdir -p "$logs"
"$root/deploy/scripts/pg.sh" fresh "$data" "$port" >/dev/null
# Commit times, so "visible" is when the activity's transaction committed (pg_xact_commit_timestamp).
psql -qAt "postgresql://nexa@127.0.0.1:$port/nexa" -c "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
"$root/deploy/scripts/pg.sh" stop "$data" >/dev/null && "$root/deploy/scripts/pg.sh" start "$data" "$port" >/dev/null
export NEXA_DATABASE_URL=postgresql://nexa@127.0.0.1:$port/nexa NEXA_LOG_LEVEL=${BENCH_LOG_LEVEL:-warning}
sandbox=http://127.0.0.1:17499
export NEXA_SANDBOX_PORT=17499 NEXA_SANDBOX_SMTP_PORT=17500
export NEXA_GOOGLE_ACCOUNTS_URL=$sandbox/google/accounts NEXA_GOOGLE_OAUTH2_URL=$sandbox/google/oauth2 NEXA_GOOGLE_APIS_URL=$sandbox/google/www \
  NEXA_GMAIL_API_URL=$sandbox/google/gmail NEXA_SMTP_URL=smtp://127.0.0.1:17500
export NEXA_GOOGLE_CLIENT_ID=nexa-sandbox-client.apps.googleusercontent.com NEXA_GOOGLE_CLIENT_SECRET=GOCSPX-nexa-sandbox-secret
export NEXA_VAULT_KEYS="bench:$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
export NEXA_GATEWAY_HTTP_PORT=8080 NEXA_GATEWAY_RPC_PORT=17401 NEXA_GATEWAY_ADMIN_PORT=17402 \
  NEXA_EMAIL_CALENDAR_RPC_PORT=17403 NEXA_EMAIL_CALENDAR_ADMIN_PORT=17404 NEXA_GATEWAY_PUBLIC_URL=http://127.0.0.1:8080
gateway=http://127.0.0.1:8080
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null || true; "$root/deploy/scripts/pg.sh" stop "$data" >/dev/null' EXIT
"$bin/nexactl" migrate >/dev/null
"$bin/nexa-sandbox" >"$logs/sandbox.log" 2>&1 & pids+=($!)
"$bin/nexa-gateway" >"$logs/gateway.log" 2>&1 & pids+=($!)
"$bin/nexa-email-calendar" >"$logs/email-calendar.log" 2>&1 & pids+=($!)
for i in $(seq 1 150); do
  curl -sf "$gateway/healthz" >/dev/null && curl -sf http://127.0.0.1:17404/readyz >/dev/null && curl -sf "$sandbox/_sandbox/providers" >/dev/null && break
  sleep 0.1
done
workspace=$("$bin/nexactl" workspaces create "Push benchmark" --id 00000000-0000-4000-8000-00000000face)
export NEXA_API_KEY=$("$bin/nexactl" keys create --workspace "$workspace" --name bench --services '*' --quiet) NEXA_WORKSPACE=$workspace
psql -qAt "$NEXA_DATABASE_URL" -c "INSERT INTO contacts (id, workspace_id, email, first_name)
  SELECT gen_random_uuid(), '$workspace', 'contact' || n || '@example.com', 'C' || n FROM generate_series(0, 999) n"
pubsub=$("$bin/nexactl" webhooks create-endpoint --provider google_pubsub --config "audience=$gateway/gmail-push" \
  --config service_account=gmail-push@nexa-sandbox.iam.gserviceaccount.com | sed -n 's/^path: *//p')
curl -sf "$sandbox/_sandbox/google/pubsub/subscriptions" -d "{\"topic\": \"projects/nexa/topics/gmail-push\", \"endpoint\": \"$gateway$pubsub\",
  \"audience\": \"$gateway/gmail-push\", \"service_account\": \"gmail-push@nexa-sandbox.iam.gserviceaccount.com\"}" >/dev/null
curl -sf "$sandbox/_sandbox/google/settings" -d '{"consent": "approve"}' >/dev/null
jar=$logs/cookies.txt
for user in ana bob; do
  "$bin/nexactl" users create --workspace "$workspace" --email "$user@nexa-demo.test" --name "$user" >/dev/null
  link="$("$bin/nexactl" connect google --user "$user@nexa-demo.test")&login_hint=$user@nexa-demo.test"
  rm -f "$jar"
  authorize=$(curl -s -c "$jar" -o /dev/null -w '%{redirect_url}' "$link")
  callback=$(curl -s -o /dev/null -w '%{redirect_url}' "$authorize")
  curl -s -b "$jar" -o /dev/null "$callback"
done
for i in $(seq 1 150); do
  [ "$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT count(*) FROM mailboxes WHERE workspace_id = '$workspace' AND state = 'active'")" = 2 ] && break; sleep 0.1
done
"$bin/nexa-bench" mail-push --database-url "$NEXA_DATABASE_URL" --sandbox-url "$sandbox" --workspace "$workspace" \
  --mailboxes ana@nexa-demo.test,bob@nexa-demo.test \
  --rate "${BENCH_PUSH_RATE:-50}" --seconds "${BENCH_PUSH_SECONDS:-20}"
