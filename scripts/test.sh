#!/usr/bin/env bash
# The whole test suite, on any Debian/Ubuntu machine with a Rust toolchain:
# MariaDB and Redis are used where they answer, started privately (under
# target/backends/, on free ports) where they do not, and installed when
# missing (as root; otherwise the packages to install are named). The fault
# tests' own servers, the scale-out test's nginx and the browser tests'
# Chromium, its WebDriver and a font with Chinese characters (for the
# screenshots) are installed the same way. Arguments go to `cargo test`
# (e.g. `scripts/test.sh attacks`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/backends.sh
ensure_backends redis-server=redis-server mariadbd=mariadb-server nginx=nginx-core \
  chromium=chromium chromedriver=chromium-driver
if [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
  backends_install fonts-wqy-microhei
fi
cargo test "$@"
