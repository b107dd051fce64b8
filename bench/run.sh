#!/usr/bin/env bash
# The benchmark: a release build of `gateway-server all` (MariaDB and Redis
# behind it, rate limiting on) against the bare baseline
# (examples/bare_baseline.rs: actix-web + diesel-async/bb8 doing the
# same I/O, nothing else), run alternately with wrk, keep-alive and
# short connections; then the raw argon2 rates, a login flood, the peak RSS
# and 10,000 idle keep-alive connections; then each thread's share of the
# CPU of a gateway with 4 HTTP workers under keep-alive load; then the mail
# section: the verification service mailing through SMTP to a local sink
# (examples/smtp_sink.rs) at 1, 32 and 128 calls in flight
# (examples/mail_load.rs), against the bare mailer loop, `/get_verification`
# through the gateway with SMTP, and a 100,000-code soak. Prints the tables.
#
# Needs MariaDB/MySQL and Redis as for the tests, wrk and python3.
# Usage: bench/run.sh            (BENCH_SECS=5 per run by default)
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECS:-5}
GW=18180
BL=18190
DB=gw_bench
PREFIX="bench$$:"
CONFIG=$(mktemp --suffix=.toml)
export RUST_LOG=warn

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
# 10,000 idle connections need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)"
# Two builds: examples enable the dev-dependencies, whose features
# (fault-injection) must not reach the gateway binary measured here.
cargo build --release --quiet --bin gateway-server
cargo build --release --quiet --example bare_baseline --example smtp_sink --example mail_load

mysql_q() { mysql --protocol=TCP -h127.0.0.1 -uroot -N -e "$1"; }
mysql_q "DROP DATABASE IF EXISTS $DB"
. scripts/chat-stand-in.sh
start_chat_stand_in 0

cat > "$CONFIG" <<TOML
[http]
host = "127.0.0.1"
port = $GW
keep_alive_secs = 120
[verification]
port = 0
[balance]
port = 0
[[balance.chat_servers]]
name = "bench-chat"
host = "127.0.0.1"
port = $chat_stand_in_port
[mysql]
database = "$DB"
[redis]
key_prefix = "$PREFIX"
[limits]
# On (every request is counted in Redis), but never refusing the benchmark.
ip_burst = 1000000000
login_failures = 1000000000
TOML

./target/release/gateway-server --config "$CONFIG" all 2>/tmp/bench-gateway.log &
GATEWAY=$!
GATEWAY_HTTP__PORT=$BL GATEWAY_MYSQL__DATABASE=$DB GATEWAY_MYSQL__RUN_MIGRATIONS=false \
  ./target/release/examples/bare_baseline 2>/tmp/bench-baseline.log &
BASELINE=$!
GATEWAY4=
MAIL_PIDS=
cleanup() {
  kill "$GATEWAY" "$BASELINE" $GATEWAY4 $MAIL_PIDS "$chat_stand_in_pid" 2>/dev/null || true
  wait "$GATEWAY" "$BASELINE" $GATEWAY4 $MAIL_PIDS "$chat_stand_in_pid" 2>/dev/null || true
  rm -f "$CONFIG"
  mysql_q "DROP DATABASE IF EXISTS $DB" || true
  for pattern in "$PREFIX*" "{$PREFIX*"; do
    redis-cli --scan --pattern "$pattern" | xargs -r -n 1000 redis-cli del >/dev/null || true
  done
}
trap cleanup EXIT
for port in $GW $BL; do
  for _ in $(seq 150); do
    curl -s -o /dev/null -XPOST "127.0.0.1:$port/check_accountexists" -d '{}' && break
    sleep 0.2
  done
done

# The account the login runs use, registered through the API.
redis-cli set "${PREFIX}bench_user@example.com" "c0" EX 600 >/dev/null
curl -s -XPOST "127.0.0.1:$GW/post_registration" \
  -d '{"username":"bench_user","email":"bench_user@example.com","password":"Bench-Horse-7","cpatcha":"c0"}' >/dev/null

seed_codes() { # seed_codes <run>: codes for the registration run's new accounts
  redis-cli EVAL "for t = 1, 2 do for i = 1, tonumber(ARGV[3]) do
      local n = t * 1000000 + i
      redis.call('SET', ARGV[1] .. 'r' .. ARGV[2] .. '_' .. n .. '@example.com', 'c' .. n, 'EX', 900)
    end end return 1" 0 "$PREFIX" "$1" 5000 >/dev/null
}

# wrk_run <port> <endpoint> <close 0|1> <connections> -> "req/s p50 p99 errors"
# (errors: transport errors, non-200 answers, and answers whose `error` is
# not the one the endpoint should give)
wrk_run() {
  # Runs are in subshells: a fresh id from the clock keeps their addresses apart.
  local out
  out=$(BENCH_ENDPOINT=$2 BENCH_CLOSE=$3 BENCH_RUN=${BENCH_RUN_ID:-$(date +%s%N)} \
    wrk -t2 -c"$4" -d"${SECS}s" --timeout 10s --latency -s bench/endpoints.lua "http://127.0.0.1:$1")
  local rps p50 p99 socket non2xx unexpected
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  unexpected=$(awk '/Unexpected answers/ {print $3}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  socket=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $p50 $p99 $(( ${socket:-0} + ${non2xx:-0} + ${unexpected:-0} ))"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) / 2 }'; }

ROWS=()
row() { ROWS+=("$(printf '%-22s %-10s %10s %9s %9s %7s %12s %7s' "$@")"); }

# compare <label> <endpoint> <baseline endpoint> <close>: two alternating rounds each.
compare() {
  local g1 b1 g2 b2
  g1=$(wrk_run $GW "$2" "$4" 64); b1=$(wrk_run $BL "$3" "$4" 64)
  g2=$(wrk_run $GW "$2" "$4" 64); b2=$(wrk_run $BL "$3" "$4" 64)
  read -r gr gp50 gp99 ge <<<"$g1"; read -r gr2 _ _ ge2 <<<"$g2"
  read -r br _ _ _ <<<"$b1"; read -r br2 _ _ _ <<<"$b2"
  local g b
  g=$(mean "$gr" "$gr2"); b=$(mean "$br" "$br2")
  local mode=keep-alive; [ "$4" = 1 ] && mode=close
  row "$1" "$mode" "$g" "$gp50" "$gp99" $((ge + ge2)) "$b ($3)" "$(ratio "$g" "$b")"
}

echo "warming up, then measuring (${SECS}s per run)..." >&2
# Pools, statement caches and CPU caches fill on the first requests: one
# uncounted run of each server first.
wrk_run $GW check 0 64 >/dev/null
wrk_run $BL check 0 64 >/dev/null
compare /check_accountexists check check 0
compare /check_accountexists check check 1
compare /get_verification verification redis_get 0
compare /get_verification verification redis_get 1

RAW=$(./target/release/examples/bare_baseline argon2 "$SECS" 2)
VERIFY=$(sed -E 's/.*verify ([0-9.]+).*/\1/' <<<"$RAW")
HASH=$(sed -E 's/.*hash ([0-9.]+).*/\1/' <<<"$RAW")

# Hashing runs: 8 connections keep both hashing threads busy, and few enough
# that the requests cut off at the end of a run do not skew the rate.
read -r lr lp50 lp99 le <<<"$(wrk_run $GW login 0 8)"
row /trylogin_server keep-alive "$lr" "$lp50" "$lp99" "$le" "$VERIFY (argon2 verify)" "$(ratio "$lr" "$VERIFY")"
REGISTRATION_RUN=$(date +%s%N)
seed_codes "$REGISTRATION_RUN"
read -r rr rp50 rp99 re <<<"$(BENCH_RUN_ID=$REGISTRATION_RUN wrk_run $GW registration 0 8)"
row /post_registration keep-alive "$rr" "$rp50" "$rp99" "$re" "$HASH (argon2 hash)" "$(ratio "$rr" "$HASH")"

# A login flood on 32 connections while /check_accountexists runs on 16 others.
read -r alone _ _ _ <<<"$(wrk_run $GW check 0 16)"
FLOOD_OUT=$(mktemp)
( BENCH_ENDPOINT=login BENCH_CLOSE=0 BENCH_RUN=flood wrk -t1 -c32 -d"$((SECS + 2))s" -s bench/endpoints.lua "http://127.0.0.1:$GW" >"$FLOOD_OUT" ) &
FLOOD=$!
sleep 1
read -r flooded fp50 fp99 fe <<<"$(wrk_run $GW check 0 16)"
wait $FLOOD
rm -f "$FLOOD_OUT"
row "check during login flood" keep-alive "$flooded" "$fp50" "$fp99" "$fe" "$alone (unflooded)" "$(ratio "$flooded" "$alone")"

PEAK=$(awk '/VmHWM/ {print $2}' /proc/$GATEWAY/status)

python3 bench/idle.py 127.0.0.1 $GW 10000 5 >/tmp/bench-idle.txt &
IDLE=$!
for _ in $(seq 120); do grep -q holding /tmp/bench-idle.txt 2>/dev/null && break; sleep 0.5; done
sleep 2
IDLE_RSS=$(awk '/VmRSS/ {print $2}' /proc/$GATEWAY/status)
wait $IDLE
IDLE_OPEN=$(awk '/still open/ {print $1}' /tmp/bench-idle.txt)

# Where the work runs: a second gateway with 4 HTTP workers (each with its
# own actors), keep-alive /check_accountexists; each thread's share of the
# process's CPU from /proc/<pid>/task (bench/threads.py).
GW4=$((GW + 1))
kill "$GATEWAY"; wait "$GATEWAY" 2>/dev/null || true
GATEWAY_HTTP__PORT=$GW4 GATEWAY_HTTP__WORKERS=4 \
  ./target/release/gateway-server --config "$CONFIG" all 2>/tmp/bench-gateway4.log &
GATEWAY4=$!
for _ in $(seq 150); do
  curl -s -o /dev/null -XPOST "127.0.0.1:$GW4/check_accountexists" -d '{}' && break
  sleep 0.2
done
wrk_run $GW4 check 0 64 >/dev/null
THREADS_WRK=$(mktemp)
( wrk_run $GW4 check 0 64 >"$THREADS_WRK" ) &
WRK4=$!
sleep 1
THREADS=$(python3 bench/threads.py "$GATEWAY4" "$((SECS > 3 ? SECS - 2 : 1))")
wait $WRK4
read -r t4r _ _ t4e <"$THREADS_WRK"
rm -f "$THREADS_WRK"
kill "$GATEWAY4"; wait "$GATEWAY4" 2>/dev/null || true

# Mail. The sink answers every command at once and keeps nothing.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
grpc_up() { # grpc_up <port>: waits until something listens there
  for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done
}
SINK_OUT=$(mktemp)
./target/release/examples/smtp_sink 0 >"$SINK_OUT" &
MAIL_PIDS="$!"
for _ in $(seq 50); do grep -q listening "$SINK_OUT" && break; sleep 0.1; done
SINK_PORT=$(awk '/listening on/ {print $3}' "$SINK_OUT")
rm -f "$SINK_OUT"
export GATEWAY_MAIL__TRANSPORT=smtp GATEWAY_MAIL__HOST=127.0.0.1 GATEWAY_MAIL__PORT=$SINK_PORT \
  GATEWAY_MAIL__TLS=none
VP=$((GW + 2))
GATEWAY_VERIFICATION__PORT=$VP ./target/release/gateway-server --config "$CONFIG" verification \
  2>/tmp/bench-verification.log &
VERIFICATION=$!
MAIL_PIDS="$MAIL_PIDS $VERIFICATION"
grpc_up $VP
./target/release/examples/mail_load grpc $VP 8 2 >/dev/null # warm-up
MAIL_ROWS=()
mail_row() { MAIL_ROWS+=("$(printf '%-34s %9s %9s %9s %9s %7s %8s' "$@")"); }
for n in 1 32 128; do
  before=$(cpu_ms $VERIFICATION)
  read -r _ calls _ errors _ rate _ p50 _ p99 <<<"$(./target/release/examples/mail_load grpc $VP $n "$SECS")"
  spent=$(awk -v a="$before" -v b="$(cpu_ms $VERIFICATION)" -v c="$calls" 'BEGIN { printf "%.3f", (b - a) / c }')
  mail_row "GetVerificationCode, $n in flight" "$rate" "$p50" "$p99" "$spent" "$errors" "$(rss_mib $VERIFICATION)"
  [ "$n" = 32 ] && SERVICE32=$rate
done
read -r _ _ _ berrors _ BARE32 _ bp50 _ bp99 <<<"$(./target/release/examples/mail_load bare "$SINK_PORT" 32 "$SECS")"
mail_row "bare mailer loop, 32 in flight" "$BARE32" "$bp50" "$bp99" "-" "$berrors" "-"

# /get_verification through a gateway in `all` mode mailing through SMTP.
GW5=$((GW + 3))
GATEWAY_HTTP__PORT=$GW5 ./target/release/gateway-server --config "$CONFIG" all \
  2>/tmp/bench-gateway-mail.log &
GATEWAY_MAIL=$!
MAIL_PIDS="$MAIL_PIDS $GATEWAY_MAIL"
for _ in $(seq 150); do
  curl -s -o /dev/null -XPOST "127.0.0.1:$GW5/check_accountexists" -d '{}' && break
  sleep 0.2
done
read -r g1r g1p50 g1p99 g1e <<<"$(wrk_run $GW5 verification 0 2)"
read -r g32r g32p50 g32p99 g32e <<<"$(wrk_run $GW5 verification 0 32)"
kill "$GATEWAY_MAIL"; wait "$GATEWAY_MAIL" 2>/dev/null || true

# The soak: 100,000 codes, RSS and descriptors before and after.
SOAK_RSS0=$(rss_mib $VERIFICATION); SOAK_FD0=$(fds $VERIFICATION)
read -r _ soak_calls _ soak_errors _ soak_rate _ _ _ _ <<<"$(./target/release/examples/mail_load count $VP 32 100000)"
SOAK_RSS1=$(rss_mib $VERIFICATION); SOAK_FD1=$(fds $VERIFICATION)
unset GATEWAY_MAIL__TRANSPORT GATEWAY_MAIL__HOST GATEWAY_MAIL__PORT GATEWAY_MAIL__TLS

echo
echo "gateway-server benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2 on the same cores, ${SECS}s runs"
printf '%-22s %-10s %10s %9s %9s %7s %12s %7s\n' endpoint connection "req/s" p50 p99 errors baseline ratio
printf '%s\n' "${ROWS[@]}"
echo
echo "$RAW"
echo "peak RSS during the runs: $((PEAK / 1024)) MiB (target <= 64 MiB)"
echo "10,000 idle keep-alive connections: ${IDLE_OPEN:-0} held, RSS $((IDLE_RSS / 1024)) MiB (target <= 256 MiB)"
echo
echo "threads of a gateway with http.workers = 4, keep-alive /check_accountexists at $t4r req/s ($t4e errors):"
head -n 8 <<<"$THREADS" | grep -v '^busiest'
echo "$(tail -n 1 <<<"$THREADS") (target <= 35 %)"
echo
echo "mail: the verification service through SMTP to a local sink, ${SECS}s runs"
printf '%-34s %9s %9s %9s %9s %7s %8s\n' run "calls/s" p50 p99 "CPU ms" errors "RSS MiB"
printf '%s\n' "${MAIL_ROWS[@]}"
echo "32 in flight against the bare loop: $(ratio "$SERVICE32" "$BARE32") (target >= 0.85)"
echo "/get_verification through the gateway (all mode, SMTP): 2 connections p50 $g1p50 ($g1r req/s, $g1e errors), 32 connections p50 $g32p50 p99 $g32p99 ($g32r req/s, $g32e errors) (target: p50 <= 8 ms)"
echo "soak: $soak_calls codes at $soak_rate/s, $soak_errors errors; RSS $SOAK_RSS0 -> $SOAK_RSS1 MiB, descriptors $SOAK_FD0 -> $SOAK_FD1"
