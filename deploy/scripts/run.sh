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
# A new seed each run: the stand-ins' ids are deterministic per seed, and the development database
# keeps the events of earlier runs (the inbox would rightly take a repeated event id as a redelivery).
NEXA_SANDBOX_SEED=${NEXA_SANDBOX_SEED:-$(date +%s)} "$bin/nexa-sandbox" >"$logs/sandbox.log" 2>&1 & pids+=($!)
export NEXA_SANDBOX_URL=http://127.0.0.1:${NEXA_SANDBOX_PORT:-7300}
export NEXA_STRIPE_API_URL=$NEXA_SANDBOX_URL/stripe NEXA_GOOGLE_ACCOUNTS_URL=$NEXA_SANDBOX_URL/google/accounts \
  NEXA_GOOGLE_OAUTH2_URL=$NEXA_SANDBOX_URL/google/oauth2 NEXA_GOOGLE_APIS_URL=$NEXA_SANDBOX_URL/google/www \
  NEXA_GMAIL_API_URL=$NEXA_SANDBOX_URL/google/gmail NEXA_SMTP_URL=smtp://127.0.0.1:${NEXA_SANDBOX_SMTP_PORT:-2525}
# The token vault's key: made once per development cluster and kept beside it (never in git).
[ -s "$root/.data/vault.keys" ] || (umask 077; echo "dev1:$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" >"$root/.data/vault.keys")
export NEXA_VAULT_KEYS=$(cat "$root/.data/vault.keys")
# The Google stand-in's OAuth client (GoogleStandIn.Configuration).
export NEXA_GOOGLE_CLIENT_ID=nexa-sandbox-client.apps.googleusercontent.com NEXA_GOOGLE_CLIENT_SECRET=GOCSPX-nexa-sandbox-secret
# The Microsoft stand-in's OAuth client (MicrosoftStandIn.Configuration).
export NEXA_MICROSOFT_CLIENT_ID=6731de76-14a6-49ae-97bc-6eba6914391e NEXA_MICROSOFT_CLIENT_SECRET=nexa-sandbox-microsoft-secret \
  NEXA_MICROSOFT_LOGIN_URL=$NEXA_SANDBOX_URL/microsoft/common/oauth2/v2.0
gateway=http://127.0.0.1:${NEXA_GATEWAY_HTTP_PORT:-8080}
# Uploads and exports, shared by the gateway and data transfer: the sandbox's S3-compatible store
# (S3StandIn.Configuration's test credentials). Without NEXA_BLOB_S3_BUCKET they go to NEXA_BLOB_DIR.
export NEXA_BLOB_S3_ENDPOINT=$NEXA_SANDBOX_URL/s3 NEXA_BLOB_S3_BUCKET=nexa NEXA_BLOB_S3_REGION=us-east-1 \
  NEXA_BLOB_S3_ACCESS_KEY_ID=AKIANEXASANDBOX00000 NEXA_BLOB_S3_SECRET_ACCESS_KEY=nexa-sandbox-s3-secret-key-0000000000000
export NEXA_BLOB_DIR=$root/.data/blobs
# The Stripe stand-in's secret key, for billing.
export NEXA_STRIPE_SECRET_KEY=sk_test_nexa_sandbox_4eC39HqLyjWDarjtT1zdp7dc
for s in gateway email-calendar billing marketing support data-transfer; do
  "$bin/nexa-$s" >"$logs/$s.log" 2>&1 & pids+=($!)
done
for i in $(seq 1 150); do
  "$bin/nexactl" health >/dev/null 2>&1 && curl -sf "$NEXA_SANDBOX_URL/_sandbox/providers" >/dev/null && break
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
export NEXA_API_KEY=$key
endpoint=$("$bin/nexactl" webhooks create-endpoint --provider stripe --secret whsec_nexa_sandbox_secret | sed -n 's/^path: *//p')

echo; echo "== billing: a deal closed-won becomes a Stripe customer and subscription =="
price=$(curl -sf -u "$stripe_key:" "$NEXA_SANDBOX_URL/stripe/v1/prices" -d currency=usd -d unit_amount=4900 \
  -d "product_data[name]=Nexa Pro" -d "recurring[interval]=month" | sed -n 's/^  "id" : "\(price_[^"]*\)".*/\1/p')
run=$(date +%s)
# CRM records as the CRM writes them (nexactl crm → the CRM module), not raw SQL.
export NEXA_WORKSPACE=$workspace
csm=$("$bin/nexactl" users create --workspace "$workspace" --email "csm-$run@nexa-demo.test" --name "Casey CSM")
account=$("$bin/nexactl" crm add account "Acme Corp $run" --csm "$csm")
contact=$("$bin/nexactl" crm add contact "buyer-$run@acme.test" --first-name Bea --account "$account")
deal=$("$bin/nexactl" crm add deal "Acme Pro" --account "$account" --contact "$contact" --item "$price:3")
echo "deal $deal (3 × \$49/month, price $price), open; the CRM moves it to closed_won:"
"$bin/nexactl" crm stage "$deal" closed_won
echo "billing takes it from the CRM's change feed; nexactl billing deal-closed --wait answers with its job:"
"$bin/nexactl" billing deal-closed "$deal" --wait
sub=$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT stripe_subscription_id FROM accounts WHERE id = '$account'")

echo; echo "== Stripe webhooks through the gateway: verified, stored once before the 2xx, delivered to billing =="
"$bin/nexactl" sandbox stripe-pay "$sub" >/dev/null && echo "the stand-in pays the next invoice, then fails the one after"
"$bin/nexactl" sandbox stripe-fail "$sub" >/dev/null
"$bin/nexactl" sandbox stripe-webhooks --url "$gateway$endpoint" --duplicate >/dev/null
echo "every signed delivery sent twice; a forged one is refused:"
curl -s -o /dev/null -w "  HTTP %{http_code}\n" "$gateway$endpoint" -H 'Stripe-Signature: t=1,v1=00' -d '{"id":"evt_forged"}'
for i in $(seq 1 50); do
  [ "$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT count(*) FROM webhook_inbox WHERE provider = 'stripe' AND status <> 'delivered'")" = 0 ] && break
  sleep 0.2
done
"$bin/nexactl" webhooks list --workspace "$workspace" --limit 12

echo; echo "== the account: health explained, the alert and the task =="
"$bin/nexactl" accounts health "$account"
psql -qAt "$NEXA_DATABASE_URL" -F ' | ' -c "SELECT 'alert: ' || severity, message FROM alerts WHERE account_id = '$account'" \
  -c "SELECT 'task: ' || priority, title, 'due ' || due_date FROM tasks WHERE account_id = '$account'"

echo; echo "== CRM: a lead, scored from its activity, status and company (nexactl crm score) =="
lead=$("$bin/nexactl" crm add lead "buyer-$run@acme.test" --company "Acme Corp $run" --status qualified)
"$bin/nexactl" crm score lead "$lead"

echo; echo "== data transfer: import 10,000 contacts (upload through the gateway, batches of 1,000) =="
sample=$root/.data/sample-contacts.csv
python3 - "$sample" "$run" <<'PY'
import csv, random, sys
random.seed(int(sys.argv[2]))
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["E-mail", "First Name", "Last Name", "Company Name", "Phone", "Job Title", "Tags"])
    for i in range(10000):
        w.writerow([f"contact{i}@example.com", f"First{i}", f"Last{i}", f"Company {i % 400}, Inc",
                    f"+1 415 555 {i % 10000:04d}", random.choice(["CEO", "CTO", "VP Sales", ""]),
                    ", ".join(random.sample(["customer", "prospect", "vip", "newsletter"], 2))])
PY
"$bin/nexactl" import contacts "$sample" --gateway-url "$gateway"
echo "(run again: the same file creates no duplicates — every row updates)"
echo; echo "== data transfer: export a filtered subset (vip customers), fields chosen =="
"$bin/nexactl" export contacts --fields email,first_name,account.name,tags --tag vip --created-after 2020-01-01 --gateway-url "$gateway" \
  --notify ana@nexa-demo.test | tee "$logs/export.txt"
link=$(sed -n 's/^download (until .*): //p' "$logs/export.txt")
# The link is the permission: the gateway sends the holder to a short-lived presigned URL of the S3 store.
curl -sfL -o "$logs/export.csv" "$link" && { echo "the first rows behind the link:"; sed -n '1,3p' "$logs/export.csv" | sed 's/^/  /'; }

echo; echo "== gateway: connect a Google account (OAuth with PKCE against the stand-in) =="
"$bin/nexactl" users create --workspace "$workspace" --email ana@nexa-demo.test --name "Ana Demo" >/dev/null
# Gmail's pushes reach the gateway through a Pub/Sub push subscription (OIDC-signed by the stand-in).
pubsub=$("$bin/nexactl" webhooks create-endpoint --provider google_pubsub --config "audience=$gateway/gmail-push" \
  --config service_account=gmail-push@nexa-sandbox.iam.gserviceaccount.com | sed -n 's/^path: *//p')
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/pubsub/subscriptions" -d "{\"topic\": \"projects/nexa/topics/gmail-push\", \"endpoint\": \"$gateway$pubsub\",
  \"audience\": \"$gateway/gmail-push\", \"service_account\": \"gmail-push@nexa-sandbox.iam.gserviceaccount.com\"}" >/dev/null
# Mail already in Ana's mailbox: one from an imported contact, one from a lead asking for pricing, one newsletter.
lead=$("$bin/nexactl" crm add lead "dana-$run@prospect.test" --first-name Dana --company "Prospect GmbH")
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/gmail/deliver" \
  -d '{"to": "ana@nexa-demo.test", "from": "First7 Last7 <contact7@example.com>", "subject": "Question about our renewal", "text": "Hi Ana, can we schedule a call next week to talk about the renewal?"}' >/dev/null
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/gmail/deliver" \
  -d "{\"to\": \"ana@nexa-demo.test\", \"from\": \"Dana <dana-$run@prospect.test>\", \"subject\": \"Pricing for 25 seats\", \"text\": \"Hi Ana, what would the Business plan cost for 25 seats billed annually? We are really keen to move quickly!\"}" >/dev/null
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/gmail/deliver" \
  -d '{"to": "ana@nexa-demo.test", "raw": "From: news@vendor.example\r\nTo: ana@nexa-demo.test\r\nSubject: Our newsletter\r\nList-Unsubscribe: <mailto:u@vendor.example>\r\n\r\nNews"}' >/dev/null
# And an event in Ana's calendar with that contact.
tomorrow=$(date -u -d tomorrow +%Y-%m-%d)
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/calendar/events" -d "{\"user\": \"ana@nexa-demo.test\", \"event\": {\"summary\": \"Renewal call with First7\",
  \"start\": {\"dateTime\": \"${tomorrow}T15:00:00Z\"}, \"end\": {\"dateTime\": \"${tomorrow}T15:30:00Z\"}, \"attendees\": [{\"email\": \"contact7@example.com\"}],
  \"conferenceData\": {\"createRequest\": {\"requestId\": \"demo-1\", \"conferenceSolutionKey\": {\"type\": \"hangoutsMeet\"}}}}}" >/dev/null
link=$("$bin/nexactl" connect google --user ana@nexa-demo.test)
echo "nexactl connect google --user ana@nexa-demo.test →"; echo "  $link"
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/settings" -d '{"consent": "approve"}' >/dev/null
# curl plays the browser, keeping the cookie that binds the flow to it (-b/-c: a cookie jar).
jar=$logs/oauth-cookies.txt; rm -f "$jar"
authorize=$(curl -s -c "$jar" -o /dev/null -w '%{redirect_url}' "$link")
callback=$(curl -s -o /dev/null -w '%{redirect_url}' "$authorize")
curl -s -b "$jar" "$callback" | sed -n 's/.*<p>\(.*\)<\/p>.*/  \1/p'; echo
echo "the same link again (links work once): $(curl -s "$link" | sed -n 's/.*<h1>\(.*\)<\/h1>.*/\1/p')"
curl -sf "$NEXA_SANDBOX_URL/_sandbox/google/settings" -d '{"consent": "page"}' >/dev/null
echo "and an Outlook account (Microsoft identity platform stand-in; refresh tokens rotate):"
link=$("$bin/nexactl" connect microsoft --user ana@nexa-demo.test)
authorize=$(curl -s -c "$jar" -o /dev/null -w '%{redirect_url}' "$link")
callback=$(curl -s -o /dev/null -w '%{redirect_url}' "$authorize")
curl -s -b "$jar" "$callback" | sed -n 's/.*<p>\(.*\)<\/p>.*/  \1/p'; echo
"$bin/nexactl" call gateway.ListConnections
echo; echo "== email & calendar: the connection starts Ana's mailbox and calendar (watch, then the last 30 days) =="
for i in $(seq 1 150); do
  [ "$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT count(*) FROM (SELECT state FROM mailboxes UNION ALL SELECT state FROM calendars) s WHERE state = 'active'")" = 2 ] && break; sleep 0.1
done
activities() {
  psql -qAt "$NEXA_DATABASE_URL" -c "SELECT '  ' || rpad(subject, 33) || rpad(data->>'direction', 9) || rpad(coalesce(data->>'sent_via', 'read'), 6)
    || 'sentiment ' || rpad((data->'analysis'->>'sentiment') || ' ' || (data->'analysis'->>'sentiment_score'), 17)
    || 'intent ' || rpad(data->'analysis'->>'intent', 17) || 'cues: ' || array_to_string(ARRAY(SELECT jsonb_array_elements_text(data->'analysis'->'intent_cues')), ', ')
    FROM activities WHERE source = 'gmail' AND workspace_id = '$workspace' ORDER BY occurred_at, subject"
}
echo "activities (the newsletter is counted, not logged):"; activities
echo; echo "== email: a reply sent from the CRM (Gmail messages.send, threaded) =="
question=$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT id FROM activities WHERE subject = 'Question about our renewal' AND workspace_id = '$workspace'")
"$bin/nexactl" email send --reply-to "$question" --to contact7@example.com --text "Happy to. Tuesday at 3pm works, I have sent an invitation." \
  --idempotency-key "demo-reply-$run" | sed 's/^/  /'
echo "  the same command again sends nothing: $("$bin/nexactl" email send --reply-to "$question" --to contact7@example.com --text x --idempotency-key "demo-reply-$run" | cut -c1-12)"
# The sent copy comes back through Gmail's push and history: recognised as the same activity.
for i in $(seq 1 100); do
  [ "$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT messages_seen FROM mailboxes WHERE workspace_id = '$workspace'")" -ge 4 ] && break; sleep 0.1
done
activities | grep -F "Re: Question" || true
echo; echo "== calendar: a meeting made in the CRM goes to Google Calendar with a Meet link; its prep task =="
meeting=$("$bin/nexactl" crm add meeting "Kickoff with Dana" --starts "${tomorrow}T10:00:00Z" --ends "${tomorrow}T10:45:00Z" --attendee "dana-$run@prospect.test")
"$bin/nexactl" calendar create-meeting "$meeting" | sed 's/^/  /'
# (The meeting reaches the calendar through the gateway's relay of the CRM change, and its prep task
# through the calendar's notification: wait for both, up to half a minute on a busy machine.)
for i in $(seq 1 300); do
  [ "$(psql -qAt "$NEXA_DATABASE_URL" -c "SELECT count(*) FROM tasks WHERE kind = 'meeting_prep' AND workspace_id = '$workspace'")" -ge 2 ] && break; sleep 0.1
done
psql -qAt "$NEXA_DATABASE_URL" -c "SELECT '  meeting: ' || m.title || '  ' || to_char(m.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC  '
  || coalesce(m.conference_url, '') || '  ' || coalesce(m.source, 'made in the CRM') || E'\n    task: ' || t.title || ', due '
  || to_char(t.due_at AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC'
  FROM meetings m JOIN tasks t ON t.meeting_id = m.id WHERE m.workspace_id = '$workspace' ORDER BY m.starts_at"
echo; echo "nexactl sync status →"; "$bin/nexactl" sync status | sed 's/^/  /'
cat <<EOT

Everything is running. Try:
  export NEXA_API_KEY=$key
  $bin/nexactl health
  $bin/nexactl call support.ListMethods
  curl -s http://127.0.0.1:7103/metrics | grep nexa_rpc
  $bin/nexactl webhooks list --status pending
  $bin/nexactl connect google --user ana@nexa-demo.test     # open it in a browser: the stand-in's consent page
  $bin/nexactl sandbox requests --provider stripe
  $bin/nexactl sandbox fault --provider stripe --status 429 --retry-after 2 --times 1
Logs: $logs   Database: postgresql://nexa@127.0.0.1:${PG_PORT:-55432}/nexa
Press Ctrl-C to stop.
EOT
[ "${NEXA_RUN_ONCE:-}" = 1 ] && exit 0
wait
