#!/usr/bin/env bash
# Property-based API testing with schemathesis against a freshly started engine: every operation
# of /openapi.json, with generated valid and invalid inputs, and every check schemathesis has
# (no 500, every status and content type documented, responses matching their schemas, invalid
# input refused, valid input accepted, ...).
#
# deploy/schemathesis.toml lists the few places where a check expects another status, and why.
# It installs a pinned schemathesis from PyPI into a virtualenv under target/ (ignored by git),
# builds ticketd, creates a fresh database, mints an admin token with `ticketd token`, serves on
# a free port (without NATS: the HTTP API is what is tested) and runs schemathesis. The engine
# and the database are removed afterwards, whatever the outcome.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 25 per operation), SCHEMATHESIS_SEED (default
# fixed, for reproducible runs; "random" for a new one), SCHEMATHESIS_VENV.
# Extra arguments go to `schemathesis run`, e.g. `deploy/schemathesis.sh --include-path /api/v1/board`.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCHEMATHESIS_VERSION=4.32.5
: "${SCHEMATHESIS_VENV:=$TICKETD_ROOT/target/schemathesis-venv}"
: "${SCHEMATHESIS_MAX_EXAMPLES:=25}"
: "${SCHEMATHESIS_SEED:=20261205}"

bash "$TICKETD_ROOT/deploy/services.sh"
ensure_cargo
cd "$TICKETD_ROOT"

# ---------------------------------------------------------------- schemathesis

st="$SCHEMATHESIS_VENV/bin/schemathesis"
installed=$("$SCHEMATHESIS_VENV/bin/python" -c \
  'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
if [[ $installed != "$SCHEMATHESIS_VERSION" ]]; then
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  info "installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION"
fi
ok "schemathesis $("$st" --version 2>/dev/null | head -n 1)"

# ---------------------------------------------------------------- engine

info "cargo build --bin ticketd"
cargo build --quiet --bin ticketd
ticketd="${CARGO_TARGET_DIR:-$TICKETD_ROOT/target}/debug/ticketd"

db="ticketd_schemathesis_$(date +%s)_$$"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
workdir=$(mktemp -d)
server_pid=""

cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  pg_psql -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

pg_psql -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
# The engine's whole environment, explicitly: nothing from a local .env leaks in.
engine_env=(
  env -i PATH="$PATH" HOME="${HOME:-/root}"
  DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$db"
  BIND_ADDR="127.0.0.1:$port"
  JWT_SECRET="$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
  # schemathesis sends thousands of requests as one caller: keep the limiter out of its way.
  TICKETD_RATE_LIMIT_PER_SECOND=1000000 TICKETD_RATE_LIMIT_BURST=1000000
  # Generated `min_position`s mostly name positions that never come: each would wait the full
  # 5 s before its 503. A short wait tests the same answer.
  TICKETD_READ_WAIT_MS=200
  RUST_LOG="${RUST_LOG:-warn}"
)
"${engine_env[@]}" "$ticketd" migrate >/dev/null
token=$("${engine_env[@]}" "$ticketd" token --email admin@example.com --role admin --name Admin --ttl 86400)
"${engine_env[@]}" "$ticketd" serve >"$workdir/engine.log" 2>&1 &
server_pid=$!

base="http://127.0.0.1:$port"
engine_up() { curl -fsS "$base/healthz" >/dev/null 2>&1; }
if ! wait_until "ticketd serving on $base" 60 engine_up; then
  cat "$workdir/engine.log" >&2
  die "ticketd did not start"
fi

# ---------------------------------------------------------------- run

# One worker: CPython 3.11 before 3.11.8 can fail `ast.parse` in concurrent threads ("AST
# constructor recursion depth mismatch", cpython gh-106905), which hypothesis calls while it
# generates, and Debian 12's python3 is 3.11.2.
seed=()
if [[ $SCHEMATHESIS_SEED != random ]]; then
  seed=(--seed "$SCHEMATHESIS_SEED")
fi
info "schemathesis run $base/openapi.json --checks all --max-examples $SCHEMATHESIS_MAX_EXAMPLES"
rc=0
"$st" --config-file "$TICKETD_ROOT/deploy/schemathesis.toml" run "$base/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $token" \
  --max-examples "$SCHEMATHESIS_MAX_EXAMPLES" \
  --workers 1 \
  --request-timeout 30 \
  "${seed[@]}" \
  "$@" || rc=$?

if grep -q "panicked" "$workdir/engine.log"; then
  warn "the engine logged a panic:"
  grep -n "panicked" "$workdir/engine.log" >&2 || true
  rc=1
fi
if [[ $rc -eq 0 ]]; then
  ok "schemathesis passed"
else
  printf '%sERROR:%s schemathesis failed (exit %d); engine log: last lines\n' "$_c_err" "$_c_off" "$rc" >&2
  tail -n 40 "$workdir/engine.log" >&2 || true
fi
exit "$rc"
