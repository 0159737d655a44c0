#!/usr/bin/env bash
# A plain HTTP client (curl + jq + openssl) with no knowledge of the Rust code
# walks the Microsoft 365 sandbox as documented:
#   sign-in page → credentials → consent → code → PKCE token exchange,
#   then create → delta → update → delta → delete → delta on a calendar.
# Usage: SANDBOX_BIN=/path/to/crmsync-sandbox graph_flow.sh
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
GRAPH="$(jq -r .graph <<<"$LINE")"
LOGIN="$(jq -r .login <<<"$LINE")"
CONTROL="$(jq -r .graph_control <<<"$LINE")"
[[ "$GRAPH" == http://127.0.0.1:*/graph/v1.0 ]] || fail "graph url $GRAPH"

# --- sign-in (authorization code + PKCE S256) ---
TENANT="sakura-demo.example"
CLIENT="c0ffee00-0000-4000-8000-000000000001"
REDIRECT="http://127.0.0.1:8400/callback"
VERIFIER="$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')"
CHALLENGE="$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')"
SCOPE="openid offline_access User.Read Calendars.ReadWrite"
COMMON=(--data-urlencode "client_id=$CLIENT" --data-urlencode "response_type=code"
  --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "scope=$SCOPE"
  --data-urlencode "state=xyz" --data-urlencode "code_challenge=$CHALLENGE"
  --data-urlencode "code_challenge_method=S256" --data-urlencode "response_mode=query")
AUTH="$LOGIN/$TENANT/oauth2/v2.0/authorize"
JAR="$WORK/cookies"

PAGE="$(curl -sS -G -c "$JAR" "$AUTH" "${COMMON[@]}" --data-urlencode "login_hint=ben.carter@sakura-demo.example")"
grep -q 'name="password"' <<<"$PAGE" || fail "no sign-in form"
grep -q 'value="ben.carter@sakura-demo.example"' <<<"$PAGE" || fail "login_hint not honoured"

CONSENT="$(curl -sS -b "$JAR" -c "$JAR" "$AUTH" "${COMMON[@]}" --data-urlencode "step=login" \
  --data-urlencode "username=ben.carter@sakura-demo.example" --data-urlencode "password=sandbox")"
grep -q 'Calendars.ReadWrite' <<<"$CONSENT" || fail "consent page does not list the scopes"

HEADERS="$(curl -sS -o /dev/null -D - -b "$JAR" "$AUTH" "${COMMON[@]}" --data-urlencode "step=consent" --data-urlencode "consent=accept")"
LOCATION="$(grep -i '^location:' <<<"$HEADERS" | tr -d '\r' | cut -d' ' -f2-)"
[[ "$LOCATION" == "$REDIRECT?code="* ]] || fail "no code redirect: $LOCATION"
[[ "$LOCATION" == *"state=xyz"* ]] || fail "state not returned"
CODE="$(sed -E 's/.*[?&]code=([^&]*).*/\1/' <<<"$LOCATION")"

TOKEN_URL="$LOGIN/$TENANT/oauth2/v2.0/token"
BAD="$(curl -sS "$TOKEN_URL" --data-urlencode "client_id=$CLIENT" --data-urlencode "grant_type=authorization_code" \
  --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=not-the-verifier-not-the-verifier-0000000000")"
[ "$(jq -r .error <<<"$BAD")" = "invalid_grant" ] || fail "wrong verifier accepted: $BAD"
TOKENS="$(curl -sS "$TOKEN_URL" --data-urlencode "client_id=$CLIENT" --data-urlencode "grant_type=authorization_code" \
  --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$VERIFIER" \
  --data-urlencode "scope=$SCOPE")"
AT="$(jq -r .access_token <<<"$TOKENS")"
[ "$AT" != "null" ] || fail "no access token: $TOKENS"
[ "$(jq -r .refresh_token <<<"$TOKENS")" != "null" ] || fail "no refresh token"

api() { # method path [json]
  local method="$1" path="$2"; shift 2
  local url="$path"; [[ "$url" == http* ]] || url="$GRAPH$path"
  if [ $# -gt 0 ]; then
    curl -sS -X "$method" -H "Authorization: Bearer $AT" -H "Content-Type: application/json" -d "$1" -w '\n%{http_code}' "$url"
  else
    curl -sS -X "$method" -H "Authorization: Bearer $AT" -w '\n%{http_code}' "$url"
  fi
}
status() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }

R="$(api GET /me)"; [ "$(status "$R")" = 200 ] || fail "/me: $R"
[ "$(body "$R" | jq -r .userPrincipalName)" = "ben.carter@sakura-demo.example" ] || fail "wrong user"
R="$(curl -sS -o /dev/null -w '%{http_code}' "$GRAPH/me")"; [ "$R" = 401 ] || fail "no token must be 401, got $R"

# --- create → delta → update → delta → delete → delta ---
R="$(api POST /me/calendars '{"name":"Zoho CRM"}')"; [ "$(status "$R")" = 201 ] || fail "calendar: $R"
CAL="$(body "$R" | jq -r .id)"
R="$(api POST "/me/calendars/$CAL/events" '{"subject":"Kickoff","start":{"dateTime":"2030-03-01T09:00:00","timeZone":"Tokyo Standard Time"},"end":{"dateTime":"2030-03-01T10:00:00","timeZone":"Tokyo Standard Time"}}')"
[ "$(status "$R")" = 201 ] || fail "event: $R"
EV="$(body "$R" | jq -r .id)"
[ "$(body "$R" | jq -r .start.dateTime)" = "2030-03-01T00:00:00.0000000" ] || fail "start not normalised to UTC: $R"

DELTA="$GRAPH/me/calendars/$CAL/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-12-31T00:00:00Z"
R="$(api GET "$DELTA")"; [ "$(status "$R")" = 200 ] || fail "delta 1: $R"
[ "$(body "$R" | jq '.value | length')" = 1 ] || fail "delta 1 count: $R"
NEXT="$(body "$R" | jq -r '."@odata.deltaLink"')"; [ "$NEXT" != null ] || fail "no deltaLink"

R="$(api PATCH "/me/events/$EV" '{"subject":"Kickoff (moved)"}')"; [ "$(status "$R")" = 200 ] || fail "patch: $R"
R="$(api GET "$NEXT")"; [ "$(status "$R")" = 200 ] || fail "delta 2: $R"
[ "$(body "$R" | jq -r '.value[0].subject')" = "Kickoff (moved)" ] || fail "delta 2 lacks the update: $R"
NEXT="$(body "$R" | jq -r '."@odata.deltaLink"')"

R="$(api DELETE "/me/events/$EV")"; [ "$(status "$R")" = 204 ] || fail "delete: $R"
R="$(api GET "$NEXT")"; [ "$(status "$R")" = 200 ] || fail "delta 3: $R"
[ "$(body "$R" | jq -r '.value[0]["@removed"].reason')" = "deleted" ] || fail "delta 3 lacks @removed: $R"
[ "$(body "$R" | jq -r '.value[0].id')" = "$EV" ] || fail "delta 3 wrong id: $R"
NEXT="$(body "$R" | jq -r '."@odata.deltaLink"')"

# --- delta token expired through the control API → 410 SyncStateNotFound ---
curl -sS -X POST -H 'Content-Type: application/json' -d '{"user":"ben.carter@sakura-demo.example"}' "$CONTROL/delta/expire" >/dev/null
R="$(api GET "$NEXT")"; [ "$(status "$R")" = 410 ] || fail "expired delta must be 410: $R"
[ "$(body "$R" | jq -r .error.code)" = "SyncStateNotFound" ] || fail "410 code: $R"

# --- SIGTERM saves the snapshot ---
kill -TERM "$PID"
wait "$PID" || fail "sandbox exited with an error: $(cat "$WORK/err")"
PID=""
jq -e '.graph.users | length == 7' "$SNAP" >/dev/null || fail "snapshot not saved"
echo "graph_flow: OK"
