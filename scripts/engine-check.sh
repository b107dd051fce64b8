#!/usr/bin/env bash
# The deployment files with a real engine (README, "Deploy", "With a real
# engine"), after scripts/engine-machine.sh has prepared the machine:
#
# 1. builds the image from the Containerfile, as it is (`podman build
#    --pull=never`: the bases are there, pulled or stand-ins), reports its
#    size and checks that it runs as 10001:10001 with no build tool, no
#    cargo setting and no local CA in it;
# 2. runs compose.yaml's whole system with podman-compose (secrets in a
#    generated env file: random passwords, free ports), walks the README's
#    curl flow against it (code, registration, check, login through a chat
#    server that registers itself with the balance service, reset, login
#    with the new password) and takes it down with its volumes;
# 3. runs deploy/kubernetes/ with `podman kube play` (the ConfigMap and
#    Secret; the migration Job's pod; the verification, balance and
#    gateway Deployments; MySQL, Redis and a chat server from
#    deploy/engine/), with the few changes one machine and podman need
#    (deploy/engine/kube.py prints them), hits the probes, walks the same
#    flow through the gateway pod, says what podman does not run, and
#    takes it all down.
#
# Each step prints its name, result and seconds; a summary closes the run.
# Exits non-zero at the first failure; whatever it started is removed on
# any exit. ENGINE_KEEP=1 leaves the image's build log and the generated
# files in $ENGINE_CACHE/last-run.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/engine/steps.sh

ENGINE_CACHE=${ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gateway-server-engine}
PODMAN_COMPOSE=$ENGINE_CACHE/venv/bin/podman-compose
PYTHON=$ENGINE_CACHE/venv/bin/python3
IMAGE=localhost/gateway-server:latest
BUILD_IMAGE=localhost/gateway-server-build:latest
CHAT_IMAGE=localhost/gateway-server-engine-chat:latest
PROJECT="gateway-engine-check"
KUBE_NETWORK="gateway-engine-kube"
EMAIL=alice@example.com
USERNAME=alice
PASSWORD=Wonder-Land-42
NEW_PASSWORD=Looking-Glass-1871

if [ ! -x "$PODMAN_COMPOSE" ] || ! command -v podman >/dev/null; then
  echo "podman or podman-compose missing: run scripts/engine-machine.sh first" >&2
  exit 1
fi

# One run at a time on a machine: the names of what it starts are fixed, and
# each run clears what an earlier one left.
exec 9>/run/lock/gateway-engine-check
if ! flock -n 9; then
  echo "another engine check is running (/run/lock/gateway-engine-check); waiting for it" >&2
  flock 9
fi

work=$(mktemp -d /tmp/gateway-engine-check.XXXXXX)
mkdir -p "$work/kube"

# --- helpers ---------------------------------------------------------------

compose() {
  "$PODMAN_COMPOSE" -p "$PROJECT" --env-file "$work/compose.env" -f compose.yaml "$@"
}

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

port_free() { ! ss -ltnH "sport = :$1" | grep -q .; }

# The port given when nothing listens there, else a free one.
pick_port() {
  if port_free "$1"; then
    echo "$1"
  else
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  fi
}

# The container of a compose service.
service_container() {
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
    --filter "label=io.podman.compose.service=$1" --format '{{.Names}}' | head -1
}

# Runs the container's health check until it passes (podman 4.3 runs them
# from systemd timers, and this machine has no systemd: nothing else runs
# them here).
wait_healthy() { # container seconds
  local container=$1 deadline=$((SECONDS + $2)) state
  until podman healthcheck run "$container" >/dev/null 2>&1; do
    state=$(podman inspect --format '{{.State.Status}}' "$container" 2>/dev/null || echo gone)
    if [ "$state" != running ] || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$container: not healthy ($state) after $2 s; its last lines:"
      podman logs --tail 30 "$container" 2>&1 | sed 's/^/   | /'
      return 1
    fi
    sleep 2
  done
  echo "$container: healthy (its own health check, $(podman inspect --format '{{.State.Health.Status}}' "$container"))"
}

wait_exit_zero() { # container seconds
  local code
  code=$(timeout "$2" podman wait "$1") || { echo "$1: still running after $2 s"; return 1; }
  echo "$1: exited $code"
  if [ "$code" != 0 ]; then
    podman logs --tail 30 "$1" 2>&1 | sed 's/^/   | /'
    return 1
  fi
}

wait_log() { # container pattern seconds
  local deadline=$((SECONDS + $3))
  until podman logs "$1" 2>&1 | grep -q "$2"; do
    if [ "$SECONDS" -ge "$deadline" ] \
        || [ "$(podman inspect --format '{{.State.Status}}' "$1" 2>/dev/null)" != running ]; then
      echo "$1: no \"$2\" after $3 s; its log:"
      podman logs --tail 30 "$1" 2>&1 | sed 's/^/   | /'
      return 1
    fi
    sleep 1
  done
  podman logs "$1" 2>&1 | sed 's/^/   | /'
}

wait_ready() { # base-url seconds
  local deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$1/readyz: not 200 after $2 s: $(curl -s "$1/readyz?verbose")"
      return 1
    fi
    sleep 1
  done
  echo "$1/readyz?verbose: $(curl -s "$1/readyz?verbose")"
}

# POSTs a JSON body; prints the call and the answer; fails unless the
# answer's `error` is the one expected. The answer is left in $work/answer.
post() { # base-url path body expected-error
  curl -s -XPOST "$1$2" -d "$3" > "$work/answer"
  echo "   POST $2 $3"
  echo "     -> $(cat "$work/answer")"
  local error
  error=$(field error < "$work/answer")
  if [ "$error" != "$4" ]; then
    echo "   expected \"error\":$4"
    return 1
  fi
}

field() { python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

# The balance service hands out chat servers that answered its probe
# (every 5 s): wait until its /metrics says chat-1 is up.
wait_chat_up() { # metrics-command
  local deadline=$((SECONDS + 30)) up
  until up=$("$1" | tr -d '\r' | grep -E '^gateway_balance_server_up\{.*chat-1.*\} 1$'); do
    [ "$SECONDS" -lt "$deadline" ] || { echo "balance /metrics: chat-1 not up after 30 s"; return 1; }
    sleep 1
  done
  echo "balance /metrics: $up"
}

# The README's flow: a code, registration, check, login through the chat
# server, a reset with a new code (after the resend cooldown), login with
# the new password, and not with the old one; then the old desktop client's
# reset without a code (28), whose link the verification service mails.
walk_flow() { # base-url redis-command (runs redis-cli with its arguments)
  local base=$1 redis=$2 code wait uuid
  shift
  set -- "$redis" GET "$EMAIL"
  post "$base" /get_verification "{\"email\":\"$EMAIL\"}" 0
  code=$("$@")
  echo "   the code, from Redis: $code"
  [[ $code =~ ^[0-9]{6}$ ]]
  post "$base" /post_registration \
    "{\"username\":\"$USERNAME\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"cpatcha\":\"$code\"}" 0
  uuid=$(field uuid < "$work/answer")
  post "$base" /check_accountexists "{\"username\":\"$USERNAME\",\"email\":\"$EMAIL\"}" 0
  post "$base" /trylogin_server "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" 0
  [ "$(field port < "$work/answer")" = 8090 ] || { echo "   not the chat server's port"; return 1; }
  [[ $(field token < "$work/answer") =~ ^[0-9a-f]{32}$ ]] || { echo "   no token"; return 1; }
  # A new code for the same address waits for the resend cooldown (the
  # registration used up the first: Redis has none until a new one is sent).
  post "$base" /get_verification "{\"email\":\"$EMAIL\"}" 0
  [ -z "$("$@")" ] || { echo "   a code in Redis inside the cooldown"; return 1; }
  wait=$(field retry_after_secs < "$work/answer")
  echo "   resend cooldown: no new code; waiting ${wait:-0} s"
  sleep "$((${wait:-0} + 1))"
  post "$base" /get_verification "{\"email\":\"$EMAIL\"}" 0
  code=$("$@")
  echo "   the new code, from Redis: $code"
  [[ $code =~ ^[0-9]{6}$ ]]
  post "$base" /reset_password \
    "{\"username\":\"$USERNAME\",\"email\":\"$EMAIL\",\"password\":\"$NEW_PASSWORD\",\"cpatcha\":\"$code\"}" 0
  post "$base" /trylogin_server "{\"username\":\"$USERNAME\",\"password\":\"$NEW_PASSWORD\"}" 0
  post "$base" /trylogin_server "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" 13
  # Without a code: nothing changes yet; after the answer the gateway holds
  # the reset and has the verification service (SendAccountNotice) mail the
  # link. A reset whose mail failed would be withdrawn at once: it must
  # still be there a few seconds later.
  post "$base" /reset_password \
    "{\"username\":\"$USERNAME\",\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" 28
  local deadline=$((SECONDS + 15))
  until [ "$("$redis" EXISTS "pending_reset:$uuid")" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "   no pending reset after 15 s"; return 1; }
    sleep 1
  done
  sleep 3
  [ "$("$redis" EXISTS "pending_reset:$uuid")" = 1 ] || { echo "   the reset was withdrawn: its link was not mailed"; return 1; }
  echo "   pending_reset:$uuid held, its link mailed"
  post "$base" /pending_reset "{\"token\":\"$uuid.$(printf '0%.0s' {1..64})\"}" 9
  post "$base" /trylogin_server "{\"username\":\"$USERNAME\",\"password\":\"$NEW_PASSWORD\"}" 0
}

# --- cleanup ---------------------------------------------------------------

compose_down() {
  podman rm -f "${PROJECT}_chat" >/dev/null 2>&1 || true
  if [ -f "$work/compose.env" ]; then
    compose down -v > "$work/compose-down.log" 2>&1 || { tail -20 "$work/compose-down.log"; return 1; }
  fi
}

kube_down() {
  local file
  for file in deploy/engine/kube-chat.yaml "$work/kube/gateway.yaml" "$work/kube/balance.yaml" \
      "$work/kube/verification.yaml" "$work/kube/migrate.yaml" deploy/engine/kube-backends.yaml; do
    if [ -f "$file" ]; then podman kube down "$file" >/dev/null 2>&1 || true; fi
  done
  podman network rm -f "$KUBE_NETWORK" >/dev/null 2>&1 || true
  podman secret rm gateway-secrets engine-backends-secrets >/dev/null 2>&1 || true
}

# Whatever a run (this one, or an earlier one that was killed) left.
leftovers() {
  podman ps -a --format '{{.Names}}' | grep -E "^(${PROJECT}_|gateway(-verification|-balance|-migrate)?-pod-0|mysql-mysql|redis-redis|chat-server-chat)" || true
  podman pod ps --format '{{.Name}}' | grep -E '^(gateway|gateway-verification|gateway-balance)-pod-0$|^(gateway-migrate|mysql|redis|chat-server)$' || true
  podman volume ls --format '{{.Name}}' | grep -E "^${PROJECT}_" || true
  podman network ls --format '{{.Name}}' | grep -E "^(${PROJECT}_default|$KUBE_NETWORK)\$" || true
}

cleanup() {
  local status=$?
  set +e
  compose_down >/dev/null 2>&1
  # podman kube down needs the files; an interrupted run's are gone.
  mkdir -p "$work/kube"
  for file in verification balance gateway migrate; do
    [ -f "$work/kube/$file.yaml" ] || cp "deploy/kubernetes/$file.yaml" "$work/kube/$file.yaml" 2>/dev/null
  done
  kube_down
  if [ "${ENGINE_KEEP:-}" = 1 ]; then
    rm -rf "$ENGINE_CACHE/last-run"
    cp -r "$work" "$ENGINE_CACHE/last-run"
  fi
  rm -rf "$work"
  steps_summary "engine check"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the steps -------------------------------------------------------------

clean_start() {
  local left
  left=$(leftovers)
  if [ -n "$left" ]; then
    echo "removing what an earlier run left: $(echo "$left" | tr '\n' ' ')"
    compose_down_leftovers
    for pod in gateway-pod-0 gateway-verification-pod-0 gateway-balance-pod-0 gateway-migrate mysql redis chat-server; do
      podman pod rm -f "$pod" >/dev/null 2>&1 || true
    done
    kube_down
  fi
  # The work directories of runs that were killed (they hold their secrets).
  find /tmp -maxdepth 1 -name 'gateway-engine-check.*' ! -path "$work" -exec rm -rf {} +
  [ -z "$(leftovers)" ] || { echo "still there: $(leftovers | tr '\n' ' ')"; return 1; }
  echo "nothing left from earlier runs"
}

compose_down_leftovers() {
  podman rm -f "${PROJECT}_chat" >/dev/null 2>&1 || true
  local containers volumes
  mapfile -t containers < <(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT")
  # (podman 4.3 complains on stderr that it cannot reach systemd to remove
  # the health check timers it never made.)
  if [ ${#containers[@]} -gt 0 ]; then podman rm -f --depend "${containers[@]}" >/dev/null 2>&1; fi
  mapfile -t volumes < <(podman volume ls -q | grep -E "^${PROJECT}_" || true)
  if [ ${#volumes[@]} -gt 0 ]; then podman volume rm -f "${volumes[@]}" >/dev/null; fi
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
}

# The build stage is tagged too (BUILD_IMAGE): so it stays in the cache
# (an untagged final stage is a dangling image), and once the next build
# takes its tag the old one is dangling and `podman image prune` drops it
# with whatever only it used, an old dependency layer included. The
# dependency layer of the current Cargo.lock stays.
build_image() {
  local log=$work/build.log
  echo "podman build --pull=never --target build -t $BUILD_IMAGE -f Containerfile .  (log: $log.build)"
  low_priority podman build --pull=never --target build -t "$BUILD_IMAGE" -f Containerfile . \
    > "$log.build" 2>&1 || { tail -40 "$log.build"; return 1; }
  echo "podman build --pull=never -t $IMAGE -f Containerfile .  (log: $log)"
  low_priority podman build --pull=never -t "$IMAGE" -f Containerfile . \
    > "$log" 2>&1 || { tail -40 "$log"; return 1; }
  # Each step of the build stage, and whether the layer cache had it.
  build_steps "$log.build"
  local dangling
  dangling=$(podman images -q --filter dangling=true | wc -l)
  if [ "$dangling" -gt 0 ]; then
    echo "removing $dangling dangling images (earlier builds' and stand-ins' leftovers)"
    podman image prune -f > /dev/null
  fi
  podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
    | grep -E "^($IMAGE|$BUILD_IMAGE) " | sed 's/^/   /'
}

build_steps() { # log
  awk '/STEP [0-9]+\/[0-9]+: FROM / { if (step != "") print "built   " step; print "base    " $0; step = ""; next }
       /STEP [0-9]+\/[0-9]+:/ { if (step != "") print "built   " step; step = $0; next }
       /^--> Using cache/ { if (step != "") print "cached  " step; step = ""; next }
       /COMMIT/ { if (step != "") print "built   " step; step = "" }' "$1" \
    | cut -c1-110 | sed 's/^/   /'
}

check_image() {
  local size user env found
  size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
  echo "size: $(numfmt --to=si "$size")B ($size bytes)"
  user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
  echo "user: $user; as run: $(podman run --rm --entrypoint id "$IMAGE")"
  [ "$user" = 10001:10001 ]
  podman run --rm --entrypoint id "$IMAGE" | grep -q '^uid=10001(gateway) gid=10001(gateway)'
  # The runtime stage: no compiler, no Rust toolchain, no build settings.
  found=$(podman run --rm --entrypoint bash "$IMAGE" -c \
    'for tool in gcc cc c++ ld as make cargo rustc rustup; do command -v "$tool"; done
     for dir in /usr/local/cargo /usr/local/rust /usr/local/rustup /src; do [ ! -e "$dir" ] || echo "$dir"; done
     echo checked')
  if [ "$found" != checked ]; then
    echo "build tools in the runtime image: $(grep -v '^checked$' <<<"$found" | tr '\n' ' ')"
    return 1
  fi
  echo "no build tool (gcc, cc, ld, make, cargo, rustc, rustup), no toolchain or /src in the runtime image"
  env=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE")
  if grep -E '^(CARGO|RUSTUP|SSL_CERT)' <<<"$env"; then
    echo "build settings in the runtime image's environment"
    return 1
  fi
  echo "environment: $(tr '\n' ' ' <<<"$env")"
  # The machine's local CA (the Rust stand-in trusts it) must not be here.
  local ca body
  for ca in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$ca" ] || continue
    body=$(grep -v -- '-----' "$ca" | tr -d '\n' | cut -c1-64)
    if podman run --rm --entrypoint bash "$IMAGE" -c \
        'cat /usr/local/share/ca-certificates/* /etc/ssl/certs/* 2>/dev/null | tr -d "\n"' | grep -qF "$body"; then
      echo "the machine's CA $ca is in the image"
      return 1
    fi
    echo "the machine's CA $(basename "$ca"): not in the image"
  done
}

build_chat_image() {
  low_priority podman build --pull=never -t "$CHAT_IMAGE" -f deploy/engine/chat.Containerfile deploy/engine \
    > "$work/build-chat.log" 2>&1 || { tail -20 "$work/build-chat.log"; return 1; }
  echo "$CHAT_IMAGE: $(numfmt --to=si "$(podman image inspect --format '{{.Size}}' "$CHAT_IMAGE")")B"
}

# compose.yaml ------------------------------------------------------------

compose_env() {
  local gateway_port mysql_port redis_port
  gateway_port=$(pick_port 8080)
  mysql_port=$(pick_port 3307)
  redis_port=$(pick_port 16379)
  sed -e "s/^MYSQL_ROOT_PASSWORD=.*/MYSQL_ROOT_PASSWORD=$(random_hex)/" \
      -e "s/^MYSQL_PASSWORD=.*/MYSQL_PASSWORD=$(random_hex)/" \
      -e "s/^REDIS_PASSWORD=.*/REDIS_PASSWORD=$(random_hex)/" \
      -e "s/^GRPC_AUTH_TOKEN=.*/GRPC_AUTH_TOKEN=$(random_hex)$(random_hex)/" \
      -e "s/^GATEWAY_PUBLISHED_PORT=.*/GATEWAY_PUBLISHED_PORT=$gateway_port/" \
      -e "s/^MYSQL_PUBLISHED_PORT=.*/MYSQL_PUBLISHED_PORT=$mysql_port/" \
      -e "s/^REDIS_PUBLISHED_PORT=.*/REDIS_PUBLISHED_PORT=$redis_port/" \
      deploy/compose/example.env > "$work/compose.env"
  chmod 600 "$work/compose.env"
  grep -E '^[A-Z_]+=' "$work/compose.env" | sed -E 's/^((MYSQL_ROOT_|MYSQL_|REDIS_)PASSWORD|GRPC_AUTH_TOKEN)=.*/\1=(random)/; s/^/   /'
}

# podman-compose's own `up` cannot bring compose.yaml up on podman 4.3:
# it waits for `service_healthy` only on podman 4.6 and later; podman 4.3
# runs health checks only from systemd timers (this machine has no
# systemd); and starting a container whose `--requires` dependencies are
# running while one of theirs has exited (the gateway: migrate has
# finished, MySQL runs) fails with "depends on container ... not found in
# input list" (a podman bug, fixed in 2025: containers/podman#26193). So
# the services start one at a time, `podman-compose up -d --no-deps
# SERVICE`, in depends_on order
# (deploy/engine/compose-order.py), each once the conditions of its
# dependencies hold: service_healthy (their own health checks, run here),
# service_completed_successfully (exit code 0), service_started.
compose_up() {
  local service deps dep health container
  : > "$work/compose-up.log"
  # (Read on descriptor 3: podman and podman-compose read standard input.)
  while read -r -u 3 service deps; do
    for dep in $deps; do
      case $dep in
        +healthcheck) ;;
        *:service_healthy) wait_healthy "$(service_container "${dep%%:*}")" 180 ;;
        *:service_completed_successfully) wait_exit_zero "$(service_container "${dep%%:*}")" 180 ;;
        *:service_started)
          container=$(service_container "${dep%%:*}")
          [ "$(podman inspect --format '{{.State.Status}}' "$container")" = running ] \
            || { echo "$container: not running"; podman logs --tail 30 "$container"; return 1; }
          ;;
        *) echo "unknown condition: $dep"; return 1 ;;
      esac
    done
    echo "podman-compose up -d --no-deps $service"
    compose up -d --no-deps "$service" >> "$work/compose-up.log" 2>&1 \
      || { grep -v systemd "$work/compose-up.log" | tail -30; return 1; }
  done 3< <("$PYTHON" deploy/engine/compose-order.py compose.yaml)
  # The health checks nothing waited for (the gateway's).
  while read -r -u 3 service deps; do
    health=no
    for dep in $deps; do [ "$dep" != +healthcheck ] || health=yes; done
    if [ "$health" = yes ]; then wait_healthy "$(service_container "$service")" 120; fi
  done 3< <("$PYTHON" deploy/engine/compose-order.py compose.yaml)
  wait_ready "http://127.0.0.1:$(gateway_port)" 60
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
    --format '{{.Names}}\t{{.Status}}\t{{.Ports}}' | sed 's/^/   /'
}

gateway_port() { sed -n 's/^GATEWAY_PUBLISHED_PORT=//p' "$work/compose.env"; }
compose_env_value() { sed -n "s/^$1=//p" "$work/compose.env"; }

compose_redis() { compose exec -T redis redis-cli "$@" 2>/dev/null | tr -d '\r'; }

# balance's /metrics, from inside its container (the port is not
# published; the image has bash, no HTTP client).
compose_balance_metrics() {
  podman exec "$(service_container balance)" bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/59901 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3'
}

compose_flow() {
  echo "a chat server on the compose network, registering itself with balance:59900"
  podman run -d --name "${PROJECT}_chat" --network "${PROJECT}_default" \
    -e GRPC_AUTH_TOKEN="$(compose_env_value GRPC_AUTH_TOKEN)" \
    "$CHAT_IMAGE" balance:59900 chat-1 8090 >/dev/null
  wait_log "${PROJECT}_chat" '^registered as' 90
  wait_chat_up compose_balance_metrics
  walk_flow "http://127.0.0.1:$(gateway_port)" compose_redis
}

compose_stop() {
  compose_down
  local left
  left=$(leftovers)
  [ -z "$left" ] || { echo "left after down -v: $left"; return 1; }
  echo "containers, volumes and network gone"
}

# deploy/kubernetes/ ----------------------------------------------------------

kube_prepare() {
  local gateway verification balance metrics
  gateway=$(pick_port 18080)
  verification=$(pick_port 16550)
  balance=$(pick_port 15990)
  metrics=$(pick_port 15991)
  echo "$gateway" > "$work/kube/gateway-port"
  echo "$metrics" > "$work/kube/metrics-port"
  echo "$verification $balance" > "$work/kube/grpc-ports"
  echo "deploy/kubernetes/ as podman runs it on this machine (deploy/engine/kube.py):"
  "$PYTHON" deploy/engine/kube.py "$work/kube" gateway="$gateway" verification="$verification" \
    balance="$balance" metrics="$metrics"
  podman network create "$KUBE_NETWORK" >/dev/null
  # podman 4.3 reads a secret for envFrom/secretKeyRef as JSON with
  # base64 values (the Secret kind it stores from a YAML, it cannot read).
  podman secret create gateway-secrets "$work/kube/secret.json" >/dev/null
  podman secret create engine-backends-secrets "$work/kube/backends-secret.json" >/dev/null
  echo "network $KUBE_NETWORK, secrets gateway-secrets and engine-backends-secrets"
}

kube_play() { # file [options]
  local file=$1
  shift
  echo "podman kube play${*:+ $*} ${file#"$work/kube/"}"
  podman kube play --network "$KUBE_NETWORK" "$@" "$file" > "$work/kube-play.log" 2>&1 \
    || { cat "$work/kube-play.log"; return 1; }
  grep -iE 'warn|ignor|unsupported' "$work/kube-play.log" | sed 's/^/   /' || true
}

kube_up() {
  kube_play deploy/engine/kube-backends.yaml
  local deadline=$((SECONDS + 180))
  until podman exec mysql-mysql sh -c 'mysqladmin ping -h 127.0.0.1 -uroot -p"$MYSQL_ROOT_PASSWORD" --silent' >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { podman logs --tail 30 mysql-mysql; return 1; }
    sleep 2
  done
  echo "mysql: answers"
  podman exec redis-redis sh -c 'redis-cli ping | grep -q PONG'
  echo "redis: answers, with the Secret's password"
  kube_play "$work/kube/migrate.yaml" --configmap "$work/kube/configmap.yaml"
  wait_exit_zero gateway-migrate-migrate 120
  kube_play "$work/kube/verification.yaml" --configmap "$work/kube/configmap.yaml"
  kube_play "$work/kube/balance.yaml" --configmap "$work/kube/configmap.yaml"
  kube_play "$work/kube/gateway.yaml" --configmap "$work/kube/configmap.yaml"
  wait_ready "http://127.0.0.1:$(cat "$work/kube/gateway-port")" 90
  podman ps -a --format '{{.Names}}\t{{.Status}}\t{{.Ports}}' \
    | grep -E 'pod-0|^(mysql|redis|gateway-migrate)-' | sed 's/^/   /'
}

kube_probes() {
  local base metrics verification balance code
  base=http://127.0.0.1:$(cat "$work/kube/gateway-port")
  read -r verification balance < "$work/kube/grpc-ports"
  metrics=$(cat "$work/kube/metrics-port")
  # What the kubelet would ask: the gateway's httpGet probes, the gRPC
  # services' tcpSocket probes.
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")
  echo "gateway livenessProbe  GET /healthz: $code"
  [ "$code" = 200 ]
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")
  echo "gateway readinessProbe GET /readyz:  $code ($(curl -s "$base/readyz?verbose"))"
  [ "$code" = 200 ]
  (exec 3<>"/dev/tcp/127.0.0.1/$verification") && echo "verification tcpSocket grpc (65500 on 127.0.0.1:$verification): accepts"
  (exec 3<>"/dev/tcp/127.0.0.1/$balance") && echo "balance tcpSocket grpc (59900 on 127.0.0.1:$balance): accepts"
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics/metrics")
  echo "balance GET /metrics (59901 on 127.0.0.1:$metrics): $code"
  [ "$code" = 200 ]
  # The pods' securityContext and limits, as podman applied them.
  local container
  for container in gateway-pod-0-gateway gateway-verification-pod-0-verification gateway-balance-pod-0-balance; do
    echo "$container: $(podman inspect --format 'read-only root {{.HostConfig.ReadonlyRootfs}}, memory limit {{.HostConfig.Memory}} B, CPU limit {{.HostConfig.NanoCpus}} ns/s, stop timeout {{.Config.StopTimeout}} s' "$container");" \
      "$(podman exec "$container" bash -c 'echo "uid $(id -u) gid $(id -g),"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status' | tr '\n\t' '  ')"
    [ "$(podman exec "$container" id -u)" = 10001 ]
    [ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$container")" = true ]
  done
  # The probes as podman itself runs them: it turns each livenessProbe
  # into a health check (and drops readiness probes).
  local test
  for container in gateway-pod-0-gateway gateway-verification-pod-0-verification gateway-balance-pod-0-balance; do
    test=$(podman inspect --format '{{json .Config.Healthcheck.Test}}' "$container")
    if podman healthcheck run "$container" >/dev/null 2>&1; then
      echo "podman's own health check of $container passes: $test"
    else
      echo "podman's own health check of $container FAILS (podman 4.3's translation): $test"
    fi
  done
}

kube_balance_metrics() { curl -s "http://127.0.0.1:$(cat "$work/kube/metrics-port")/metrics"; }

kube_redis() { podman exec redis-redis redis-cli "$@" 2>/dev/null | tr -d '\r'; }

kube_flow() {
  echo "a chat server pod, registering itself with gateway-balance-pod-0:59900"
  kube_play deploy/engine/kube-chat.yaml
  wait_log chat-server-chat '^registered as' 90
  wait_chat_up kube_balance_metrics
  walk_flow "http://127.0.0.1:$(cat "$work/kube/gateway-port")" kube_redis
}

kube_report() {
  cat <<'REPORT'
What podman 4.3 does not run of deploy/kubernetes/ (the check works around
the first four; the rest is left out):
 * Services: no virtual addresses or Service names; a pod answers to its
   own name (gateway-verification-pod-0, ...) on the podman network, so the
   ConfigMap's host names were pointed at the pods.
 * replicas > 1: each replica is a pod on this one host, and podman
   publishes every declared container port on the host when no hostPort
   is set, so a second replica's ports collide; one replica each, ports
   published on 127.0.0.1 at free ports.
 * The Secret kind: `kube play` stores it, but reads a secret for envFrom
   or secretKeyRef only as JSON with base64 values; the Secret is created
   with `podman secret create` in that form.
 * Jobs: gateway-migrate's pod template runs as a Pod.
 * Probes: readiness probes are dropped; a livenessProbe becomes a health
   check that runs only from systemd timers (none here), and an httpGet
   one becomes `curl -f http://localhost:0/...` inside the container: the
   named port is lost and the image has no curl. The probes' endpoints were
   hit from the host instead (above).
 * Not enforced or ignored: HorizontalPodAutoscaler, PodDisruptionBudget,
   NetworkPolicy (network-policy.yaml is not played), topologySpreadConstraints,
   the preStop hook, resource requests (memory and CPU limits are applied),
   the Redis Cluster of the ConfigMap (one Redis here), `$(VAR)` in args.
REPORT
}

kube_stop() {
  kube_down
  local left
  left=$(leftovers)
  [ -z "$left" ] || { echo "left after kube down: $left"; return 1; }
  echo "pods, network and secrets gone"
}

step "no leftovers of earlier runs" clean_start
step "image: podman build (Containerfile as it is)" build_image
step "image: size, user, runtime stage free of build tools" check_image
step "chat-server stand-in image (deploy/engine/chat.Containerfile)" build_chat_image
step "compose: env file (random secrets, free ports)" compose_env
step "compose: up (podman-compose $("$PODMAN_COMPOSE" --version 2>/dev/null | head -1 | awk '{print $3}'))" compose_up
step "compose: the README's curl flow" compose_flow
step "compose: down -v" compose_stop
step "kube: manifests, network, secrets" kube_prepare
step "kube: play backends, migrate, verification, balance, gateway" kube_up
step "kube: probes, pod settings" kube_probes
step "kube: the README's curl flow through the gateway pod" kube_flow
step "kube: what podman does not run" kube_report
step "kube: down" kube_stop
