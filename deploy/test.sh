#!/usr/bin/env bash
# Run the whole test suite against real Postgres and NATS (started, or installed, by
# deploy/services.sh). Uses cargo-nextest when installed (plus `cargo test --doc`, which
# nextest cannot run), else `cargo test`.
# Extra arguments go to the test runner, e.g. `deploy/test.sh hash_chain`.
# Exits with the test runner's exit code.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "$TICKETD_ROOT/deploy/services.sh"
ensure_cargo
cd "$TICKETD_ROOT"

# The web app's browser tests check each view with axe-core, fetched once from the npm
# registry (pinned) into the target directory, and injected into the page by the tests.
AXE_VERSION=4.10.3
export AXE_CORE_JS="${AXE_CORE_JS:-${CARGO_TARGET_DIR:-$TICKETD_ROOT/target}/axe-core-$AXE_VERSION/axe.min.js}"
if [[ ! -f $AXE_CORE_JS ]]; then
  have npm || apt_install npm
  axe_dir=$(dirname "$AXE_CORE_JS")
  mkdir -p "$axe_dir"
  info "npm pack axe-core@$AXE_VERSION"
  (cd "$axe_dir" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null &&
    tar -xzf "axe-core-$AXE_VERSION.tgz" --strip-components=1 package/axe.min.js &&
    rm -f "axe-core-$AXE_VERSION.tgz")
fi
ok "axe-core: $AXE_CORE_JS"

# The admin connection: tests create (and drop) their own databases through it.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"
export NATS_URL="${NATS_URL:-nats://$NATS_HOST:$NATS_PORT}"
info "DATABASE_URL=$DATABASE_URL"
info "NATS_URL=$NATS_URL"

if cargo nextest --version >/dev/null 2>&1; then
  runner=(cargo nextest run --workspace --all-features --no-fail-fast)
else
  info "cargo-nextest not installed; using cargo test (install: cargo install cargo-nextest --locked)"
  runner=(cargo test --workspace --all-features --no-fail-fast)
fi

rc=0
# nextest does not run doctests: run them too (first, so that the summary of the main run
# closes the output), unless the caller asked for a selection.
if [[ ${runner[1]} == nextest && $# -eq 0 ]]; then
  info "cargo test --workspace --doc --no-fail-fast"
  cargo test --workspace --doc --no-fail-fast || rc=$?
fi

info "${runner[*]} $*"
main_rc=0
"${runner[@]}" "$@" || main_rc=$?
if [[ $main_rc -ne 0 ]]; then
  rc=$main_rc
fi

if [[ $rc -eq 0 ]]; then
  ok "tests passed"
else
  printf '%sERROR:%s tests failed (exit %d)\n' "$_c_err" "$_c_off" "$rc" >&2
fi
exit "$rc"
