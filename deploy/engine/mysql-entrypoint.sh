#!/bin/bash
# Entry point of the MySQL stand-in (mysql.Containerfile): on the first
# start (an empty /var/lib/mysql) creates the data directory, the root
# password (root@localhost and root@'%'), MYSQL_DATABASE, and MYSQL_USER
# with MYSQL_PASSWORD and every privilege on that database, as the real
# mysql image does; then runs the server on all interfaces. While it sets
# up, the server listens on no TCP port, so a `mysqladmin ping -h
# 127.0.0.1` health check passes only once it is ready.
set -euo pipefail

# `docker run IMAGE --some-option`: options for the server.
if [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi
case "${1:-}" in
  mariadbd | mysqld) shift ;;
  *) exec "$@" ;;
esac

datadir=/var/lib/mysql
log() { echo "[stand-in entrypoint] $*" >&2; }

# A value inside '…' in SQL.
sql_string() { local s=${1//\\/\\\\}; printf "'%s'" "${s//\'/\\\'}"; }
# shellcheck disable=SC2016 # the backquotes are SQL's
sql_name() { printf '`%s`' "${1//\`/\`\`}"; }

if [ ! -d "$datadir/mysql" ]; then
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" != yes ]; then
    log "database is uninitialized and MYSQL_ROOT_PASSWORD is not set"
    exit 1
  fi
  log "initializing $datadir"
  chown mysql:mysql "$datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  socket=/run/mysqld/init.sock
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" "$@" &
  pid=$!
  for _ in $(seq 60); do
    if mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then log "the server stopped while initializing"; exit 1; fi
    sleep 1
  done
  root_password=$(sql_string "${MYSQL_ROOT_PASSWORD:-}")
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_password;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $root_password;"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_name "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$socket" -uroot
  # mariadb-install-db also made root@127.0.0.1, root@::1 and root@<host
  # name> without a password; the real image has none of them.
  mariadb --socket="$socket" -uroot -p"${MYSQL_ROOT_PASSWORD:-}" -N \
      -e "SELECT host FROM mysql.user WHERE user = 'root' AND host NOT IN ('localhost', '%')" \
    | while read -r host; do
        echo "DROP USER 'root'@$(sql_string "$host");"
      done | mariadb --socket="$socket" -uroot -p"${MYSQL_ROOT_PASSWORD:-}"
  kill "$pid"
  wait "$pid" || true
  log "initialized"
fi

exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --skip-name-resolve "$@"
