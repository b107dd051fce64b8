#!/usr/bin/env bash
# The leak soak: REQUESTS (default 1,000,000) short-connection requests
# against a release build of `gateway-server all`, mostly
# /check_accountexists and some of every other endpoint. The gateway's open
# file descriptors, its RSS and MySQL's Prepared_stmt_count are sampled at
# the start, the middle and the end; any transport error or non-200 answer
# fails the run.
#
# Needs MariaDB/MySQL and Redis as for the tests, and wrk (apt-get install wrk).
# Usage: scripts/soak.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${1:-1000000}
CONNECTIONS=${SOAK_CONNECTIONS:-64}
THREADS=2
PORT=${SOAK_PORT:-18080}
DB=gw_soak
PREFIX="soak$$:"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet --bin gateway-server

mysql_q() { mysql --protocol=TCP -h127.0.0.1 -uroot -N -e "$1"; }
mysql_q "DROP DATABASE IF EXISTS $DB"

export RUST_LOG=warn
export GATEWAY_HTTP__HOST=127.0.0.1 GATEWAY_HTTP__PORT=$PORT
export GATEWAY_VERIFICATION__PORT=0 GATEWAY_BALANCE__PORT=0
export GATEWAY_MYSQL__DATABASE=$DB GATEWAY_REDIS__KEY_PREFIX=$PREFIX
# The soak measures leaks, not the abuse limits: switch those off.
export GATEWAY_LIMITS__IP_BURST=0 GATEWAY_LIMITS__LOGIN_FAILURES=0
./target/release/gateway-server all 2>/tmp/gateway-soak.log &
GATEWAY=$!
cleanup() {
  kill "$GATEWAY" 2>/dev/null || true
  wait "$GATEWAY" 2>/dev/null || true
  mysql_q "DROP DATABASE IF EXISTS $DB" || true
  redis-cli --scan --pattern "$PREFIX*" | xargs -r -n 1000 redis-cli del >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null -XPOST "127.0.0.1:$PORT/check_accountexists" -d '{}' && break
  sleep 0.2
done

sample() { # sample <label>
  local fds rss stmts
  fds=$(ls /proc/"$GATEWAY"/fd | wc -l)
  rss=$(awk '/VmRSS/ {print $2}' /proc/"$GATEWAY"/status)
  stmts=$(mysql_q "SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'" | awk '{print $2}')
  printf '%-8s %10s %12s %20s\n' "$1" "$fds" "$rss" "$stmts"
}

TOTAL=0
# wrk runs for a time, not a count: run it in chunks until enough requests
# were answered.
run_until() { # run_until <total requests>
  while [ "$TOTAL" -lt "$1" ]; do
    SOAK_TAG="s$RANDOM" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SOAK_CHUNK_SECS:-20}s" --timeout 10s \
      -s scripts/soak.lua "http://127.0.0.1:$PORT" > /tmp/wrk-soak.txt
    if grep -Eq 'Socket errors|Non-2xx' /tmp/wrk-soak.txt; then
      cat /tmp/wrk-soak.txt
      echo "FAILED: the soak saw errors" >&2
      exit 1
    fi
    local done_now rate
    done_now=$(awk '/requests in/ {print $1}' /tmp/wrk-soak.txt)
    rate=$(awk '/Requests\/sec/ {print $2}' /tmp/wrk-soak.txt)
    TOTAL=$((TOTAL + done_now))
    echo "  $TOTAL requests answered ($rate req/s), no errors"
  done
}

printf '%-8s %10s %12s %20s\n' sample "open fds" "RSS (KiB)" "Prepared_stmt_count"
START=$(sample start)
echo "$START"
run_until $(( REQUESTS / 2 ))
MIDDLE=$(sample middle)
echo "$MIDDLE"
run_until "$REQUESTS"
END=$(sample end)
echo
printf '%-8s %10s %12s %20s\n' sample "open fds" "RSS (KiB)" "Prepared_stmt_count"
printf '%s\n%s\n%s\n' "$START" "$MIDDLE" "$END"
echo "soak: $TOTAL requests, no errors"
