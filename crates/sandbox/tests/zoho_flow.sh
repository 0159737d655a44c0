#!/usr/bin/env bash
# A plain HTTP client (curl + jq + openssl) with no knowledge of the Rust code
# walks the Zoho CRM sandbox as documented, for a non-US data centre (jp):
#   sign-in page → credentials → consent → redirect with code/location/accounts-server
#   → PKCE (S256) token exchange at accounts-server → refresh,
#   then insert → list with If-Modified-Since → update → timeline → delete
#   → deleted records, and the snapshot written at SIGTERM.
# Usage: SANDBOX_BIN=/path/to/crmsync-sandbox zoho_flow.sh
set -euo pipefail

BIN="${SANDBOX_BIN:?set SANDBOX_BIN to the crmsync-sandbox binary}"
WORK="$(mktemp -d)"
SNAP="$WORK/snapshot.json"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" --port 0 --snapshot "$SNAP" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 1 100); do
  [ -s "$WORK/out" ] && break
  sleep 0.1
done
LINE="$(head -n1 "$WORK/out")"
[ -n "$LINE" ] || fail "no JSON line on stdout: $(cat "$WORK/err")"
ACCOUNTS="$(jq -r .zoho.jp.accounts <<<"$LINE")"
CONTROL="$(jq -r .zoho_control <<<"$LINE")"
[[ "$ACCOUNTS" == http://127.0.0.1:*/zoho/jp/accounts ]] || fail "jp accounts url $ACCOUNTS"
for dc in us eu in au jp ca; do
  [ "$(jq -r ".zoho.$dc.api" <<<"$LINE")" != null ] || fail "no api url for $dc"
done

# --- sign-in (authorization code + PKCE S256) at the jp accounts server ---
CLIENT="1000.SANDBOXCRMSYNCDESKTOPCLIENT"
REDIRECT="http://127.0.0.1:8401/callback"
VERIFIER="$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')"
CHALLENGE="$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')"
PARAMS=(--data-urlencode "client_id=$CLIENT" --data-urlencode "response_type=code"
  --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "scope=ZohoCRM.modules.ALL,ZohoCRM.users.READ"
  --data-urlencode "access_type=offline" --data-urlencode "state=s-42"
  --data-urlencode "code_challenge=$CHALLENGE" --data-urlencode "code_challenge_method=S256")

PAGE="$(curl -sS -G "$ACCOUNTS/oauth/v2/auth" "${PARAMS[@]}")"
grep -q 'name="password"' <<<"$PAGE" || fail "no sign-in form"
CONSENT="$(curl -sS "$ACCOUNTS/oauth/v2/auth" "${PARAMS[@]}" \
  --data-urlencode "email=kenji.ito@sakura-jp.example" --data-urlencode "password=sandbox")"
CONSENT_ID="$(sed -n 's/.*name="consent_id" value="\([0-9a-f]*\)".*/\1/p' <<<"$CONSENT")"
[ -n "$CONSENT_ID" ] || fail "no consent page: $CONSENT"
REDIRECTED="$(curl -sS -o /dev/null -w '%{redirect_url}' "$ACCOUNTS/oauth/v2/auth/consent" \
  --data-urlencode "consent_id=$CONSENT_ID" --data-urlencode "decision=accept")"
[[ "$REDIRECTED" == "$REDIRECT?"* ]] || fail "redirect $REDIRECTED"
urldecode() { local v="${1//+/ }"; printf '%b' "${v//%/\\x}"; }
qparam() { urldecode "$(sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p" <<<"$REDIRECTED")"; }
CODE="$(qparam code)"
[ "$(qparam state)" = "s-42" ] || fail "state not round-tripped"
[ "$(qparam location)" = "jp" ] || fail "location is not jp: $REDIRECTED"
SERVER="$(qparam accounts-server)"
[ "$SERVER" = "$ACCOUNTS" ] || fail "accounts-server $SERVER"

TOKEN_JSON="$(curl -sS "$SERVER/oauth/v2/token" --data-urlencode "grant_type=authorization_code" \
  --data-urlencode "client_id=$CLIENT" --data-urlencode "redirect_uri=$REDIRECT" \
  --data-urlencode "code=$CODE" --data-urlencode "code_verifier=$VERIFIER")"
ACCESS="$(jq -r .access_token <<<"$TOKEN_JSON")"
REFRESH="$(jq -r .refresh_token <<<"$TOKEN_JSON")"
API_DOMAIN="$(jq -r .api_domain <<<"$TOKEN_JSON")"
[ "$(jq -r .expires_in <<<"$TOKEN_JSON")" = 3600 ] || fail "token: $TOKEN_JSON"
[[ "$API_DOMAIN" == */zoho/jp/api ]] || fail "api_domain $API_DOMAIN"
REFRESHED="$(curl -sS -X POST "$SERVER/oauth/v2/token?grant_type=refresh_token&client_id=$CLIENT&refresh_token=$REFRESH")"
ACCESS="$(jq -r .access_token <<<"$REFRESHED")"
[ "$ACCESS" != null ] || fail "refresh: $REFRESHED"
[ "$(jq -r 'has("refresh_token")' <<<"$REFRESHED")" = false ] || fail "refresh returned a refresh token"

API="$API_DOMAIN/crm/v8"
AUTHZ="Authorization: Zoho-oauthtoken $ACCESS"
# The jp token does not work at the us API host.
US_API="$(jq -r .zoho.us.api <<<"$LINE")/crm/v8"
[ "$(curl -sS "$US_API/Contacts?fields=Last_Name" -H "$AUTHZ" | jq -r .code)" = INVALID_TOKEN ] || fail "wrong-DC call accepted"

# --- insert ---
SINCE="$(date -u -d '-2 seconds' +%Y-%m-%dT%H:%M:%S+00:00)"
INS="$(curl -sS -w '\n%{http_code}' "$API/Contacts" -H "$AUTHZ" -H 'Content-Type: application/json' \
  -d '{"data":[{"First_Name":"一郎","Last_Name":"鈴木","Email":"ichiro.suzuki@example.jp"}]}')"
[ "$(tail -n1 <<<"$INS")" = 201 ] || fail "insert: $INS"
ID="$(head -n1 <<<"$INS" | jq -r '.data[0].details.id')"
[[ "$(head -n1 <<<"$INS" | jq -r '.data[0].details.Created_Time')" == *+09:00 ]] || fail "not in the user's time zone"

# --- list with If-Modified-Since ---
LIST="$(curl -sS "$API/Contacts?fields=Last_Name,Email,Modified_Time&sort_by=Modified_Time&sort_order=asc" \
  -H "$AUTHZ" -H "If-Modified-Since: $SINCE")"
jq -e --arg id "$ID" '[.data[].id] == [$id]' <<<"$LIST" >/dev/null || fail "IMS list: $LIST"
LATER="$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%S+00:00)"
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' "$API/Contacts?fields=Last_Name" -H "$AUTHZ" -H "If-Modified-Since: $LATER")"
[ "$STATUS" = 304 ] || fail "expected 304, got $STATUS"
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' "$API/Contacts" -H "$AUTHZ")"
[ "$STATUS" = 400 ] || fail "list without fields gave $STATUS"

# --- update (partial) ---
sleep 1
UPD="$(curl -sS -X PUT "$API/Contacts" -H "$AUTHZ" -H 'Content-Type: application/json' \
  -d "{\"data\":[{\"id\":\"$ID\",\"Title\":\"部長\"}]}")"
[ "$(jq -r '.data[0].code' <<<"$UPD")" = SUCCESS ] || fail "update: $UPD"
GOT="$(curl -sS "$API/Contacts/$ID" -H "$AUTHZ")"
[ "$(jq -r '.data[0].Title' <<<"$GOT")" = "部長" ] || fail "title not updated"
[ "$(jq -r '.data[0].Email' <<<"$GOT")" = "ichiro.suzuki@example.jp" ] || fail "partial update lost a field"

# --- timeline ---
TL="$(curl -sS "$API/Contacts/$ID/__timeline" -H "$AUTHZ")"
[ "$(jq -r '.__timeline[0].action' <<<"$TL")" = updated ] || fail "timeline: $TL"
[ "$(jq -r '.__timeline[0].source' <<<"$TL")" = crm_api ] || fail "timeline source: $TL"
[ "$(jq -r '.__timeline[0].field_history[0].api_name' <<<"$TL")" = Title ] || fail "field history: $TL"
[ "$(jq -r '.__timeline[1].action' <<<"$TL")" = added ] || fail "timeline added: $TL"
IMP="$(curl -sS "$CONTROL/records/Contacts" -H 'Content-Type: application/json' \
  -d '{"as":"kenji.ito@sakura-jp.example","origin":"import","data":[{"Last_Name":"Imported"}]}')"
IMP_ID="$(jq -r '.data[0].details.id' <<<"$IMP")"
[ "$(curl -sS "$API/Contacts/$IMP_ID/__timeline" -H "$AUTHZ" | jq -r '.__timeline[0].source')" = mass_addition_via_ui ] \
  || fail "imported record's timeline source"

# --- delete → deleted records ---
DEL="$(curl -sS -X DELETE "$API/Contacts?ids=$ID" -H "$AUTHZ")"
[ "$(jq -r '.data[0].code' <<<"$DEL")" = SUCCESS ] || fail "delete: $DEL"
DELETED="$(curl -sS "$API/Contacts/deleted?type=recycle" -H "$AUTHZ" -H "If-Modified-Since: $SINCE")"
jq -e --arg id "$ID" '.data | map(select(.id == $id and .type == "recycle")) | length == 1' <<<"$DELETED" >/dev/null \
  || fail "deleted records: $DELETED"
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' "$API/Contacts/$ID" -H "$AUTHZ")"
[ "$STATUS" = 204 ] || fail "deleted record still readable ($STATUS)"

# --- shutdown saves the snapshot ---
kill -TERM "$PID"
wait "$PID" || true
PID=""
jq -e '.zoho.orgs | length >= 2' "$SNAP" >/dev/null || fail "snapshot has no zoho state"
echo "zoho_flow: OK"
