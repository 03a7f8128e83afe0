#!/bin/sh
# Sends one signed rapport/v1 event to the listener, with curl and openssl alone.
#   RAPPORT_INBOUND_SECRET=whsec_... deploy/examples/send-event.sh [http://127.0.0.1:8080]
set -eu
url=${1:-http://127.0.0.1:8080}/v1/sources/platform/events
start=$(date -u +%F)
body='{"specversion":"1.0","id":"rotation-R1-scheduled","source":"platform",
"type":"rotation.scheduled","time":"'$(date -u +%FT%TZ)'","subject":"S1",
"data":{"id":"R1","student":"S1","site":"north","specialty":"surgery","kind":"core",
"start":"'$start'","end":"'$start'","team":[{"person":"A1","role":"attending"}]}}'
id=msg_$(date +%s)_$$
ts=$(date +%s)
# Standard Webhooks v1: base64(HMAC-SHA256(key, "id.timestamp.body")), the key being the
# base64 after "whsec_".
key=$(printf %s "${RAPPORT_INBOUND_SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
sig=$(printf '%s.%s.%s' "$id" "$ts" "$body" |
  openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
curl -sS -w '\n%{http_code}\n' -H 'content-type: application/json' \
  -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" \
  --data "$body" "$url"
