#!/usr/bin/env bash
# Posts Tencent Cloud Chat callback payloads to subscriber-sync, signed as Tencent signs them:
# Sign = lowercase hex SHA-256 of (token + RequestTime), RequestTime = now in Unix seconds.
#
# usage: samples/post-callback.sh [options] PAYLOAD.json...
#
#   --url URL          callback URL (else $CALLBACK_URL, else http://127.0.0.1:8080/tencent/callback)
#   --sdkappid N       the app's SDKAppID (else $SUBSCRIBER_SYNC_SDKAPPID; required)
#   --token-file FILE  file holding the callback token (else $TENCENT_CALLBACK_TOKEN)
#   --token TOKEN      the token itself (visible in `ps`: prefer the variable or --token-file)
#   --keep-event-time  post EventTime as it is in the file; by default it is replaced by now (ms),
#                      so that the change is newer than anything already stored
#
# Without a token the request goes unsigned: only a service running without a token accepts it.
# Prints one line per payload, "<file>: HTTP <status> <answer>", and exits 1 when any answer is
# not {"ActionStatus":"OK",...}, 2 on a usage error.
#
# Example, against a service started with the same token and SDKAppID:
#   export TENCENT_CALLBACK_TOKEN=... SUBSCRIBER_SYNC_SDKAPPID=1400000000
#   samples/post-callback.sh samples/callbacks/after-add-subscriber.json
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit "${1:-2}"
}

url="${CALLBACK_URL:-http://127.0.0.1:8080/tencent/callback}"
sdkappid="${SUBSCRIBER_SYNC_SDKAPPID:-}"
token="${TENCENT_CALLBACK_TOKEN:-}"
keep_event_time=false
payloads=()

while (($#)); do
  case "$1" in
    --url) url="${2:?--url needs a value}"; shift 2 ;;
    --sdkappid) sdkappid="${2:?--sdkappid needs a value}"; shift 2 ;;
    --token) token="${2:?--token needs a value}"; shift 2 ;;
    --token-file)
      file="${2:?--token-file needs a value}"
      [[ -r "$file" ]] || { echo "post-callback: cannot read token file $file" >&2; exit 2; }
      token="$(<"$file")"
      shift 2 ;;
    --keep-event-time) keep_event_time=true; shift ;;
    -h | --help) usage 0 ;;
    --) shift; payloads+=("$@"); break ;;
    -*) echo "post-callback: unknown option $1" >&2; usage ;;
    *) payloads+=("$1"); shift ;;
  esac
done

# Trailing whitespace is not part of the token (the service drops it too).
token="${token%"${token##*[![:space:]]}"}"
[[ -n "$sdkappid" ]] || { echo "post-callback: --sdkappid or SUBSCRIBER_SYNC_SDKAPPID is required" >&2; exit 2; }
((${#payloads[@]})) || { echo "post-callback: no payload file given" >&2; usage; }
command -v curl >/dev/null || { echo "post-callback: curl is required" >&2; exit 2; }

sha256_hex() {
  if command -v sha256sum >/dev/null; then
    sha256sum | cut -d' ' -f1
  elif command -v shasum >/dev/null; then
    shasum -a 256 | cut -d' ' -f1
  else
    openssl dgst -sha256 -r | cut -d' ' -f1
  fi
}

now_ms() {
  local ms
  ms="$(date +%s%3N)"
  # date without %N (BSD/macOS) prints it literally: fall back to whole seconds.
  [[ "$ms" =~ ^[0-9]+$ ]] || ms="$(($(date +%s) * 1000))"
  printf '%s' "$ms"
}

separator='?'
[[ "$url" == *\?* ]] && separator='&'
failed=0

for payload in "${payloads[@]}"; do
  [[ -r "$payload" ]] || { echo "post-callback: cannot read $payload" >&2; failed=1; continue; }
  body="$(<"$payload")"
  if ! $keep_event_time; then
    body="$(printf '%s' "$body" | sed -E "s/(\"EventTime\"[[:space:]]*:[[:space:]]*)[0-9]+/\\1$(now_ms)/")"
  fi
  command_name="$(printf '%s' "$body" | sed -nE 's/.*"CallbackCommand"[[:space:]]*:[[:space:]]*"([^"]+)".*/\1/p' | head -n 1)"
  request_time="$(date +%s)"
  query="SdkAppid=${sdkappid}&CallbackCommand=${command_name}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
  if [[ -n "$token" ]]; then
    sign="$(printf '%s%s' "$token" "$request_time" | sha256_hex)"
    query+="&Sign=${sign}&RequestTime=${request_time}"
  fi

  if ! response="$(printf '%s' "$body" | curl -sS --max-time 10 -X POST \
      -H 'Content-Type: application/json' --data-binary @- \
      -w '\n%{http_code}' "${url}${separator}${query}")"; then
    echo "${payload}: request failed" >&2
    failed=1
    continue
  fi
  status="${response##*$'\n'}"
  answer="${response%$'\n'*}"
  echo "${payload}: HTTP ${status} ${answer}"
  if [[ "$status" != 200 ]] || ! grep -Eq '"ActionStatus"[[:space:]]*:[[:space:]]*"OK"' <<<"$answer"; then
    failed=1
  fi
done

exit "$failed"
