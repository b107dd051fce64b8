#!/usr/bin/env bash
# Prepares this machine for scripts/engine-check.sh (README, "Deploy",
# "With a real engine"): a Debian bookworm machine, as root. It installs
#
# * podman, runc, debootstrap and curl (Debian's packages), and podman-compose
#   (PyPI, pinned, in a virtualenv at $ENGINE_CACHE/venv; Debian's is too
#   old for compose.yaml);
# * the container settings this kind of machine needs, in
#   /etc/containers/containers.conf.d/50-gateway-server-engine.conf:
#   runtime = "runc" (crun refuses this kernel's hybrid cgroups) and
#   default_ulimits nofile/nproc 20000 (root here may not raise its limits
#   to podman's defaults);
# * the base images compose.yaml, the Containerfile and the manifests name:
#   pulled from the registry where that works; where it does not (no
#   registry is reachable from these machines), local stand-ins tagged with
#   the same names, made from Debian's archive:
#     docker.io/library/debian:bookworm-slim  debootstrap --variant=minbase, slimmed as the real one
#     docker.io/library/rust:1-slim-bookworm  that + gcc, libc6-dev, the machine's own Rust
#                                             toolchain and its local CA (deploy/engine/rust.Containerfile)
#     docker.io/library/mysql:8.0             that + MariaDB (deploy/engine/mysql.Containerfile)
#     docker.io/library/redis:7.2             that + Redis 7 (deploy/engine/redis.Containerfile)
#
# The stand-ins, the machine settings and the CA trust are workarounds for
# machines without a registry; none of them goes into the project's image
# or deploy files. Everything is kept: a second run finds it all and does
# nothing. A stand-in is made again only when its recipe changed (a label
# on the image holds a digest of its build files, its base and, for the
# Rust one, the toolchain's version and the CA).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/engine/steps.sh
trap 'steps_summary "engine machine"' EXIT

ENGINE_CACHE=${ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gateway-server-engine}
PODMAN_COMPOSE_VERSION=1.6.0
CONTAINERS_CONF=/etc/containers/containers.conf.d/50-gateway-server-engine.conf
STAND_IN_LABEL=org.gateway-server.stand-in
# Bump when make_debian changes: the stand-ins built on it follow.
DEBIAN_RECIPE=debootstrap-minbase-bookworm-slim-1

DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
RUST_IMAGE=docker.io/library/rust:1-slim-bookworm
MYSQL_IMAGE=docker.io/library/mysql:8.0
REDIS_IMAGE=docker.io/library/redis:7.2

if [ "$(id -u)" != 0 ]; then
  echo "scripts/engine-machine.sh installs packages and writes /etc/containers: run it as root" >&2
  exit 1
fi

apt_install() { # packages...
  if [ "${_apt_updated:-}" != yes ]; then
    apt-get update -qq
    _apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive low_priority apt-get install -y -qq "$@" >/dev/null
}

install_packages() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
  # scripts/engine-check.sh's client, and how it finds free ports.
  command -v curl >/dev/null || missing+=(curl)
  command -v ss >/dev/null || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  podman --version
}

write_containers_conf() {
  local wanted
  wanted='# Written by scripts/engine-machine.sh (gateway-server): settings of this
# kind of machine, not of the project. crun refuses this kernel'"'"'s hybrid
# cgroups; root here may not raise its limits to podman'"'"'s defaults.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]

[engine]
runtime = "runc"'
  if [ -f "$CONTAINERS_CONF" ] && [ "$(cat "$CONTAINERS_CONF")" = "$wanted" ]; then
    echo "$CONTAINERS_CONF: as wanted"
  else
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    printf '%s\n' "$wanted" > "$CONTAINERS_CONF"
    echo "$CONTAINERS_CONF: written"
  fi
  local runtime
  runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}')
  echo "podman's runtime: $runtime"
  [ "$runtime" = runc ]
}

install_podman_compose() {
  local venv=$ENGINE_CACHE/venv
  if "$venv/bin/podman-compose" --version 2>/dev/null \
      | grep -qx "podman-compose version $PODMAN_COMPOSE_VERSION"; then
    echo "podman-compose $PODMAN_COMPOSE_VERSION: present in $venv"
    return 0
  fi
  mkdir -p "$ENGINE_CACHE"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION"
  "$venv/bin/podman-compose" --version
}

# The stand-in key of an image: empty for one that is no stand-in (pulled).
stand_in_key() { # image
  local key
  key=$(podman image inspect --format "{{index .Labels \"$STAND_IN_LABEL\"}}" "$1" 2>/dev/null) || return 1
  [ "$key" = "<no value>" ] && key=
  printf '%s' "$key"
}

image_id() { podman image inspect --format '{{.Id}}' "$1"; }

# Reuses the image where it is there (pulled, or a stand-in made with this
# key); else pulls it; else makes the stand-in with `make_fn key`.
ensure_image() { # image key make_fn
  local image=$1 key=$2 make=$3 have
  if have=$(stand_in_key "$image"); then
    if [ -z "$have" ]; then
      echo "$image: present (pulled from the registry), reused"
      return 0
    elif [ "$have" = "$key" ]; then
      echo "$image: present (local stand-in $key), reused"
      return 0
    fi
    echo "$image: local stand-in $have is out of date (wanted $key)"
  fi
  echo "$image: pulling"
  if podman pull --quiet "$image" >/dev/null 2>"$ENGINE_CACHE/pull.err"; then
    echo "$image: pulled from the registry"
    return 0
  fi
  echo "$image: cannot be pulled ($(tail -1 "$ENGINE_CACHE/pull.err")): making the local stand-in"
  "$make" "$key"
  echo "$image: local stand-in made, $(podman image inspect --format "{{.Size}}" "$image" | numfmt --to=si)B"
}

digest() { sha256sum | cut -c1-16; }

# The Debian mirror of this machine's apt sources (one-line or deb822),
# else Debian's own.
debian_mirror() { # suffix: "" (the archive) or "-security"
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -oE '(URIs:|^deb)[[:space:]]+https?://[^[:space:]]+' | awk '{print $2}' \
    | grep -E "/debian$1/?\$" | head -1) || true
  printf '%s' "${uri:-http://deb.debian.org/debian$1}" | sed 's:/*$::'
}

make_debian() { # key
  local root mirror security
  mirror=$(debian_mirror "")
  security=$(debian_mirror -security)
  root=$(mktemp -d /var/tmp/gateway-engine-debian.XXXXXX)
  # (This runs in a step's subshell: its EXIT is the step's end.)
  # shellcheck disable=SC2064
  trap "rm -rf '$root'" EXIT
  echo "debootstrap --variant=minbase bookworm from $mirror"
  low_priority debootstrap --variant=minbase --components=main bookworm "$root" "$mirror" \
    > "$ENGINE_CACHE/debootstrap.log" 2>&1 || { tail -20 "$ENGINE_CACHE/debootstrap.log"; return 1; }
  # As the registry's slim image: no documentation, manuals or
  # translations (now or from later installs), apt's caches cleaned, the
  # archive, its updates and security.
  cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
  cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  cat > "$root/etc/apt/apt.conf.d/docker-no-languages" <<'CFG'
Acquire::Languages "none";
CFG
  cat > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'CFG'
Apt::AutoRemove::SuggestsImportant "false";
CFG
  rm -f "$root/etc/apt/sources.list"
  cat > "$root/etc/apt/sources.list.d/debian.sources" <<CFG
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* \
    "$root"/etc/resolv.conf "$root"/etc/hostname
  # The machine's own names and resolver are set by the engine at run time.
  : > "$root/etc/resolv.conf"
  echo localhost > "$root/etc/hostname"
  tar --numeric-owner -C "$root" -c . \
    | low_priority podman import --quiet \
        --change 'CMD ["bash"]' --change "LABEL $STAND_IN_LABEL=$1" - "$DEBIAN_IMAGE" >/dev/null
}

# Builds deploy/engine/$name.Containerfile as $image (the stand-in key as a
# label); more `podman build` options may follow.
build_stand_in() { # name image key [podman build options...]
  local name=$1 image=$2 key=$3 log=$ENGINE_CACHE/build-$1.log
  shift 3
  echo "podman build -f deploy/engine/$name.Containerfile (log: $log)"
  if ! low_priority podman build --pull=never --label "$STAND_IN_LABEL=$key" "$@" \
      -t "$image" -f "deploy/engine/$name.Containerfile" deploy/engine > "$log" 2>&1; then
    tail -30 "$log"
    return 1
  fi
}

# Where the CA certificates that re-sign this machine's outbound TLS are
# (an empty directory where there are none).
local_ca_dir() {
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    echo /usr/local/share/ca-certificates
  else
    mkdir -p "$ENGINE_CACHE/no-local-ca"
    echo "$ENGINE_CACHE/no-local-ca"
  fi
}

make_rust() { # key
  local sysroot
  sysroot=$(rustc --print sysroot)
  echo "the toolchain: $sysroot ($(rustc --version))"
  build_stand_in rust "$RUST_IMAGE" "$1" \
    --volume "$sysroot:/toolchain:ro" --volume "$(local_ca_dir):/local-ca:ro"
}

make_mysql() { build_stand_in mysql "$MYSQL_IMAGE" "$1"; }
make_redis() { build_stand_in redis "$REDIS_IMAGE" "$1"; }

base_images() {
  mkdir -p "$ENGINE_CACHE"
  ensure_image "$DEBIAN_IMAGE" "$DEBIAN_RECIPE" make_debian
  local debian key
  debian=$(image_id "$DEBIAN_IMAGE")
  if ! command -v rustc >/dev/null; then
    echo "rustc is not on PATH: the Rust stand-in copies the machine's own toolchain" >&2
    return 1
  fi
  key=$({ echo "$debian"; rustc --version; cat deploy/engine/rust.Containerfile
          cat "$(local_ca_dir)"/*.crt 2>/dev/null || true; } | digest)
  ensure_image "$RUST_IMAGE" "$key" make_rust
  key=$({ echo "$debian"; cat deploy/engine/mysql.Containerfile deploy/engine/mysql-entrypoint.sh; } | digest)
  ensure_image "$MYSQL_IMAGE" "$key" make_mysql
  key=$({ echo "$debian"; cat deploy/engine/redis.Containerfile deploy/engine/redis-entrypoint.sh; } | digest)
  ensure_image "$REDIS_IMAGE" "$key" make_redis
}

step "packages: podman, runc, debootstrap, curl" install_packages
step "podman settings of this machine" write_containers_conf
step "podman-compose $PODMAN_COMPOSE_VERSION (PyPI)" install_podman_compose
step "base images (the registry's, else local stand-ins)" base_images
