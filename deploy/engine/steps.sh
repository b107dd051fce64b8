# shellcheck shell=bash
# Sourced by scripts/engine-machine.sh and scripts/engine-check.sh: each
# step prints its name, then its result and elapsed seconds, and is added
# to the summary that `steps_summary` prints at the end.
#
#   step "name" command args...   # runs it; on failure prints FAILED and returns its status
#
# The command runs in a subshell with `set -e` in force, so what it sets
# is not kept: steps share state through variables set before them, or
# files. Call `step` as a plain command, never as `step … || …` or
# `if step …`: bash turns errexit off inside such a call, and a failing
# command in the middle of a step would go unnoticed. A failed step returns
# its status: under `set -e` the caller stops there (its EXIT trap cleans
# up and prints the summary).

_steps_summary=()
_steps_started=$SECONDS

step() {
  local name=$1 started=$SECONDS status=0
  shift
  printf '\n== %s\n' "$name"
  set +e
  (set -e; "$@")
  status=$?
  set -e
  local took=$((SECONDS - started))
  if [ "$status" -eq 0 ]; then
    printf -- '-- %s: ok (%d s)\n' "$name" "$took"
    _steps_summary+=("$(printf 'ok     %5d s  %s' "$took" "$name")")
  else
    printf -- '-- %s: FAILED, status %d (%d s)\n' "$name" "$status" "$took"
    _steps_summary+=("$(printf 'FAILED %5d s  %s' "$took" "$name")")
  fi
  return "$status"
}

steps_summary() { # title
  printf '\n== %s: %d s in all\n' "$1" "$((SECONDS - _steps_started))"
  printf '   %s\n' "${_steps_summary[@]}"
}

# Heavy work (image builds, debootstrap) yields to everything else on the
# machine (a developer's cargo build, the tests).
low_priority() { nice -n 19 ionice -c3 "$@"; }
