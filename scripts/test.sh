#!/usr/bin/env bash
# The whole test suite, on any Debian/Ubuntu machine with a Rust toolchain:
# MariaDB and Redis are used where they answer, started privately (under
# target/backends/, on free ports) where they do not, and installed when
# missing (as root; otherwise the packages to install are named). The fault
# tests' own servers and the scale-out test's nginx are installed the same
# way. Arguments go to `cargo test` (e.g. `scripts/test.sh attacks`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/backends.sh
ensure_backends redis-server=redis-server mariadbd=mariadb-server nginx=nginx-core
cargo test "$@"
