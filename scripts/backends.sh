# Sourced by scripts/run.sh and scripts/test.sh (and so by .ci/run): the one
# place that makes sure MariaDB/MySQL and Redis answer.
#
#   ensure_backends [binary=package ...]   (e.g. nginx=nginx-core: tools the
#                                           caller needs besides the servers)
#
# * MySQL at $GATEWAY_MYSQL__HOST:$GATEWAY_MYSQL__PORT (default
#   127.0.0.1:3306, user root, empty password) and Redis at
#   $GATEWAY_REDIS__HOST:$GATEWAY_REDIS__PORT (default 127.0.0.1:6379) that
#   answer are used as they are.
# * Otherwise a private instance is started: its data under
#   target/backends/, a free port of its own, no system service touched; it
#   is stopped when the calling script exits. GATEWAY_MYSQL__*,
#   GATEWAY_REDIS__*, TEST_MYSQL_URL and TEST_REDIS_URL are exported to point
#   at what answers.
# * Missing server binaries (and the extra tools) are installed with
#   apt-get when running as root; otherwise the script stops and names the
#   packages to install.

BACKENDS_DIR=${BACKENDS_DIR:-$PWD/target/backends}
_backend_pids=()

backends_log() { printf '== %s\n' "$*" >&2; }

# A TCP port nothing listens on now.
backends_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || shuf -i 20000-60000 -n 1
}

backends_port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

backends_redis_answers() { # host port
  local answer
  answer=$({ exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3; } 2>/dev/null) || return 1
  [[ $answer == "+PONG"* || $answer == "-NOAUTH"* ]]
}

backends_mysql_answers() { # host port
  if command -v mysql >/dev/null; then
    mysql --protocol=TCP -h"$1" -P"$2" -uroot -e 'SELECT 1' >/dev/null 2>&1
  else
    backends_port_open "$1" "$2"
  fi
}

backends_find() { # binary names...
  local name dir
  for name in "$@"; do
    for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
      if [ -x "$dir/$name" ]; then echo "$dir/$name"; return 0; fi
    done
  done
  return 1
}

# Installs Debian packages as root, or stops naming them.
backends_install() { # packages...
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing: $*. Install them, e.g.: sudo apt-get install $*" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "missing: $* (Debian package names); install them with your system's package manager" >&2
    exit 1
  fi
  backends_log "installing $*"
  if [ "${_backends_apt_updated:-}" != yes ]; then
    apt-get update -qq
    _backends_apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

backends_wait() { # what seconds command...
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq $((seconds * 5))); do
    if "$@"; then return 0; fi
    sleep 0.2
  done
  echo "$what did not come up within ${seconds}s" >&2
  return 1
}

backends_stop() {
  local pid
  for pid in "${_backend_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${_backend_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  _backend_pids=()
}

backends_start_redis() {
  local port dir
  port=$(backends_free_port)
  dir=$BACKENDS_DIR/redis
  mkdir -p "$dir"
  backends_log "starting a private Redis on 127.0.0.1:$port (data in $dir)"
  "$(backends_find redis-server)" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
  _backend_pids+=($!)
  backends_wait "Redis" 30 backends_redis_answers 127.0.0.1 "$port"
  export GATEWAY_REDIS__HOST=127.0.0.1 GATEWAY_REDIS__PORT=$port
}

backends_start_mariadb() {
  local port dir server install user=()
  port=$(backends_free_port)
  dir=$BACKENDS_DIR/mariadb
  server=$(backends_find mariadbd mysqld)
  install=$(backends_find mariadb-install-db mysql_install_db)
  # mariadbd refuses to run as root unless told to, and then runs as root.
  [ "$(id -u)" = 0 ] && user=(--user=root)
  if [ ! -d "$dir/data/mysql" ]; then
    backends_log "creating a private MariaDB in $dir"
    rm -rf "$dir/data"
    mkdir -p "$dir/data"
    "$install" --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
      "${user[@]}" >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
  fi
  backends_log "starting a private MariaDB on 127.0.0.1:$port (data in $dir)"
  "$server" --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" \
    --pid-file="$dir/mysqld.pid" --port="$port" --bind-address=127.0.0.1 \
    --skip-name-resolve --innodb-buffer-pool-size=64M --max-connections=500 \
    "${user[@]}" >"$dir/server.log" 2>&1 &
  _backend_pids+=($!)
  backends_wait "MariaDB" 60 backends_port_open 127.0.0.1 "$port" || { cat "$dir/server.log" >&2; return 1; }
  export GATEWAY_MYSQL__HOST=127.0.0.1 GATEWAY_MYSQL__PORT=$port
}

ensure_backends() { # binary=package...
  local mysql_host=${GATEWAY_MYSQL__HOST:-127.0.0.1} mysql_port=${GATEWAY_MYSQL__PORT:-3306}
  local redis_host=${GATEWAY_REDIS__HOST:-127.0.0.1} redis_port=${GATEWAY_REDIS__PORT:-6379}
  local need=() mysql_up=yes redis_up=yes package
  backends_mysql_answers "$mysql_host" "$mysql_port" || mysql_up=no
  backends_redis_answers "$redis_host" "$redis_port" || redis_up=no
  if [ $mysql_up = no ] && ! backends_find mariadbd mysqld >/dev/null; then
    need+=(mariadb-server)
  fi
  if [ $redis_up = no ] && ! backends_find redis-server >/dev/null; then
    need+=(redis-server)
  fi
  for package in "$@"; do
    backends_find "${package%%=*}" >/dev/null || need+=("${package#*=}")
  done
  backends_install "${need[@]}"
  trap backends_stop EXIT
  if [ $mysql_up = yes ]; then
    backends_log "MariaDB/MySQL answers on $mysql_host:$mysql_port: used as it is"
  else
    backends_start_mariadb
  fi
  if [ $redis_up = yes ]; then
    backends_log "Redis answers on $redis_host:$redis_port: used as it is"
  else
    backends_start_redis
  fi
  export TEST_MYSQL_URL="mysql://root@${GATEWAY_MYSQL__HOST:-$mysql_host}:${GATEWAY_MYSQL__PORT:-$mysql_port}"
  export TEST_REDIS_URL="redis://${GATEWAY_REDIS__HOST:-$redis_host}:${GATEWAY_REDIS__PORT:-$redis_port}"
}
