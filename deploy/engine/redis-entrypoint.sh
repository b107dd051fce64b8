#!/bin/sh
# Entry point of the Redis stand-in (redis.Containerfile), as the real
# image's: options alone go to redis-server; redis-server runs as user
# redis (owning /data) with protected mode off, unless the command names a
# configuration file, which then says everything.
set -eu
case "${1:-}" in
  -* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
  shift
  case "${1:-}" in
    *.conf) ;;
    *) set -- --protected-mode no "$@" ;;
  esac
  set -- redis-server "$@"
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis:redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
