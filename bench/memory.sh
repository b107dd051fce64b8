#!/usr/bin/env bash
# The memory figures behind scripts/deploy-memory.py and the README's
# "Capacity" section, from a release build against the local MariaDB/MySQL
# and Redis: each role's RSS when it has started and served a request, what
# one more HTTP worker adds, what the argon2 threads add during a login flood
# (peak RSS, VmHWM), and what each idle keep-alive connection adds.
#
# Usage: bench/memory.sh        (needs python3; MariaDB and Redis as for the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin gateway-server
bin=target/release/gateway-server
db=gw_memory_$$
prefix="memory$$:"
export RUST_LOG=warn GATEWAY_MYSQL__DATABASE=$db GATEWAY_REDIS__KEY_PREFIX=$prefix
export GATEWAY_LIMITS__IP_BURST=1000000 GATEWAY_LIMITS__LOGIN_FAILURES=0
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  mysql --protocol=TCP -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $db" || true
  for pattern in "$prefix*" "{$prefix*"; do
    redis-cli --scan --pattern "$pattern" | xargs -r redis-cli del >/dev/null || true
  done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$1/status"; }
peak() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$1/status"; }
post() { curl -s -XPOST "127.0.0.1:$1$2" -d "$3"; }
wait_http() {
  for _ in $(seq 100); do
    post "$1" /check_accountexists '{}' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gateway on $1 did not start" >&2
  exit 1
}

# A gateway with W workers and 2 hash threads; prints its port and pid
# (it runs in a subshell: the caller records the pid for the clean-up).
gateway() {
  local port
  port=$(free_port)
  GATEWAY_HTTP__PORT=$port GATEWAY_HTTP__WORKERS=$1 GATEWAY_SECURITY__HASH_THREADS=2 \
    "$bin" serve >/dev/null 2>&1 &
  pids+=($!)
  wait_http "$port"
  post "$port" /check_accountexists '{"username":"m","email":"m@example.com"}' >/dev/null
  echo "$port $!"
}

read -r port1 pid1 < <(gateway 1)
pids+=("$pid1")
base1=$(rss "$pid1")
read -r port4 pid4 < <(gateway 4)
pids+=("$pid4")
base4=$(rss "$pid4")
read -r port pid < <(gateway 2)
pids+=("$pid")
base=$(rss "$pid")
echo "serve, started and answering: 1 worker ${base1} MiB, 2 workers ${base} MiB, 4 workers ${base4} MiB"
echo "  one more worker: $(( (base4 - base1) / 3 )) MiB"

# An account (code straight from Redis), then logins from 8 clients at once.
post "$port" /get_verification '{"email":"mem@example.com"}' >/dev/null || true
code=$(redis-cli get "${prefix}mem@example.com")
if [ -z "$code" ]; then
  # No verification service here: plant a code as it would.
  code=424242
  redis-cli set "${prefix}mem@example.com" "$code" EX 180 >/dev/null
fi
post "$port" /post_registration \
  "{\"username\":\"mem\",\"email\":\"mem@example.com\",\"password\":\"Correct-Horse-7\",\"cpatcha\":\"$code\"}" >/dev/null
python3 - "$port" <<'PY'
import json, sys, threading, urllib.request
port = sys.argv[1]
def login():
    for _ in range(20):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/trylogin_server",
            data=json.dumps({"username": "mem", "password": "Correct-Horse-7"}).encode())
        urllib.request.urlopen(request).read()
threads = [threading.Thread(target=login) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
PY
hashing=$(peak "$pid")
echo "  during a login flood (2 hash threads): peak ${hashing} MiB, $(( (hashing - base) / 2 )) MiB per hash thread"

before=$(rss "$pid")
python3 bench/idle.py 127.0.0.1 "$port" 4000 4 > /tmp/memory-idle.txt &
idle=$!
sleep 3
held=$(rss "$pid")
wait "$idle" || true
echo "  4000 idle keep-alive connections: ${before} -> ${held} MiB, $(( (held - before) * 1024 / 4000 )) KiB each"

for role in verification balance; do
  port_var="GATEWAY_$(echo "$role" | tr a-z A-Z)__PORT"
  env "$port_var=$(free_port)" GATEWAY_BALANCE__METRICS_PORT=0 "$bin" "$role" >/dev/null 2>&1 &
  pids+=($!)
  sleep 1
  echo "$role, started: $(rss $!) MiB"
done
