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
# Provider stand-ins: every provider base URL of the services points here in development.
"$bin/nexa-sandbox" >"$logs/sandbox.log" 2>&1 & pids+=($!)
export NEXA_SANDBOX_URL=http://127.0.0.1:${NEXA_SANDBOX_PORT:-7300}
export NEXA_STRIPE_API_URL=$NEXA_SANDBOX_URL/stripe NEXA_GOOGLE_ACCOUNTS_URL=$NEXA_SANDBOX_URL/google/accounts \
  NEXA_GOOGLE_OAUTH2_URL=$NEXA_SANDBOX_URL/google/oauth2 NEXA_GOOGLE_APIS_URL=$NEXA_SANDBOX_URL/google/www \
  NEXA_GMAIL_API_URL=$NEXA_SANDBOX_URL/google/gmail NEXA_SMTP_URL=smtp://127.0.0.1:${NEXA_SANDBOX_SMTP_PORT:-2525}
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

echo; echo "== provider stand-ins (nexa-sandbox) =="
grep -E "^  " "$logs/sandbox.log" || true
stripe_key=sk_test_nexa_sandbox_4eC39HqLyjWDarjtT1zdp7dc
stripe=$NEXA_SANDBOX_URL/stripe
cus=$(curl -sf -u "$stripe_key:" "$stripe/v1/customers" -d email=demo@example.com -d name="Demo Account" | sed -n 's/^  "id" : "\(cus_[^"]*\)".*/\1/p')
price=$(curl -sf -u "$stripe_key:" "$stripe/v1/prices" -d currency=usd -d unit_amount=4900 -d "product_data[name]=Nexa Pro" -d "recurring[interval]=month" | sed -n 's/^  "id" : "\(price_[^"]*\)".*/\1/p')
sub=$(curl -sf -u "$stripe_key:" "$stripe/v1/subscriptions" -d customer="$cus" -d "items[0][price]=$price" -d "items[0][quantity]=2" | sed -n 's/^  "id" : "\(sub_[^"]*\)".*/\1/p')
echo "Stripe stand-in: customer $cus, price $price, subscription $sub"
"$bin/nexactl" sandbox stripe-fail "$sub" >/dev/null && echo "failed its next invoice; the signed webhooks Stripe would send:"
"$bin/nexactl" sandbox stripe-webhooks | sed -n 's/^    "type" : "\(.*\)",*$/  \1/p' 
cat <<EOT

Everything is running. Try:
  export NEXA_API_KEY=$key
  $bin/nexactl health
  $bin/nexactl call support.ListMethods
  curl -s http://127.0.0.1:7103/metrics | grep nexa_rpc
  $bin/nexactl sandbox requests --provider stripe
  $bin/nexactl sandbox fault --provider stripe --status 429 --retry-after 2 --times 1
Logs: $logs   Database: postgresql://nexa@127.0.0.1:${PG_PORT:-55432}/nexa
Press Ctrl-C to stop.
EOT
[ "${NEXA_RUN_ONCE:-}" = 1 ] && exit 0
wait
