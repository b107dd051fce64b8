# Sourced by the scripts that run the whole system without a real chat
# server (scripts/run.sh, scripts/api-check.sh, bench/run.sh): the balance
# service hands out only chat servers that answer its probes (a TCP
# connect), so the listed one must listen. scripts/chat-stand-in.py does.

# Starts the stand-in on port $1 (0: a free one); sets chat_stand_in_port
# and chat_stand_in_pid. The caller stops it (kill "$chat_stand_in_pid").
start_chat_stand_in() {
  local out
  out=$(mktemp)
  python3 "$(dirname "${BASH_SOURCE[0]}")/chat-stand-in.py" "${1:-0}" > "$out" &
  chat_stand_in_pid=$!
  for _ in $(seq 50); do
    [ -s "$out" ] && break
    sleep 0.1
  done
  chat_stand_in_port=$(head -1 "$out")
  rm -f "$out"
  if [ -z "$chat_stand_in_port" ]; then
    echo "the chat-server stand-in did not start (port ${1:-0} taken?)" >&2
    return 1
  fi
}
