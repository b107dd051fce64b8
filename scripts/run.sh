#!/usr/bin/env bash
# The whole system (`gateway-server all`) with working backends, on any
# Debian/Ubuntu machine with a Rust toolchain: MariaDB and Redis are used
# where they answer, started privately (under target/backends/, on free
# ports) where they do not, and installed when missing (as root; otherwise
# the packages to install are named). Demo settings: mails written to
# target/demo/mail-outbox, one chat server listed and a stand-in listening
# at its address (scripts/chat-stand-in.py: the balance service hands out
# only chat servers that answer its probes). Ctrl-C stops everything.
# Arguments go to the gateway (e.g. `scripts/run.sh --config my.toml`
# replaces the demo settings).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/backends.sh
. scripts/chat-stand-in.sh
ensure_backends
start_chat_stand_in "${DEMO_CHAT_PORT:-8090}"
_backend_pids+=("$chat_stand_in_pid")

cargo build --release --quiet
demo=$PWD/target/demo
mkdir -p "$demo/mail-outbox"
cat > "$demo/demo.toml" <<TOML
[mail]
outbox_dir = "$demo/mail-outbox"

[[balance.chat_servers]]
name = "chat-1"
host = "127.0.0.1"
port = $chat_stand_in_port
TOML
port=${GATEWAY_HTTP__PORT:-8080}
# The links in reset-confirmation and lockout mails point at this gateway.
export GATEWAY_MAIL__SITE_URL=${GATEWAY_MAIL__SITE_URL:-http://localhost:$port}
cat <<TRY

== try it (in another terminal, in $PWD):

curl -s -XPOST localhost:$port/get_verification -d '{"email":"alice@example.com"}'
CODE=\$(grep -h 'verification code is' target/demo/mail-outbox/*alice@example.com.eml | tail -1 | grep -o '[0-9]\{6\}')
curl -s -XPOST localhost:$port/post_registration \\
     -d "{\"username\":\"alice\",\"email\":\"alice@example.com\",\"password\":\"Wonder-Land-42\",\"cpatcha\":\"\$CODE\"}"
curl -s -XPOST localhost:$port/trylogin_server -d '{"username":"alice","password":"Wonder-Land-42"}'

# forgot password, as the old desktop client asks (no code): 28, a link mailed
curl -s -XPOST localhost:$port/reset_password -d '{"username":"alice","email":"alice@example.com","password":"Looking-Glass-77"}'
TOKEN=\$(scripts/mail-link.py target/demo/mail-outbox alice@example.com)
# open $GATEWAY_MAIL__SITE_URL/confirm#\$TOKEN in a browser, or:
curl -s -XPOST localhost:$port/confirm_reset -d "{\"token\":\"\$TOKEN\",\"password\":\"Looking-Glass-77\"}"

TRY
if [ $# -eq 0 ]; then set -- --config "$demo/demo.toml"; fi
# Not exec: the private backends stop when the gateway does.
target/release/gateway-server "$@" all
