#!/usr/bin/env bash
# The chaos suite: faults under load, with lost and duplicated events counted (README,
# "Faults"). It takes minutes, so it is not part of .ci/run.
#
#   deploy/chaos.sh            # every fault, three runs each (two for ws-stall), NATS down 30 s
#   deploy/chaos.sh --short    # one run each, NATS down 10 s
#   deploy/chaos.sh --only kill9,failover --runs 2
#
# It builds ticketd and ticketd-chaos in release mode, then ticketd-chaos starts its own Postgres
# cluster (initdb + pg_ctl, as the postgres user when run as root) and its own nats-server with
# JetStream, on free ports in a temporary directory, and runs `ticketd serve` processes against
# them. It never touches the Postgres and NATS that deploy/services.sh runs. Needs Postgres 15's
# programs (PG_BIN, default /usr/lib/postgresql/15/bin) and nats-server on PATH (NATS_SERVER).
# Arguments go to ticketd-chaos (`--help` lists them). Exits non-zero when an expectation fails.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_cargo
cd "$TICKETD_ROOT"
have nats-server || die "nats-server not found (deploy/services.sh installs it)"

info "cargo build --release --features tools --bin ticketd --bin ticketd-chaos"
cargo build --release --features tools --bin ticketd --bin ticketd-chaos

info "ticketd-chaos $*"
exec "${CARGO_TARGET_DIR:-$TICKETD_ROOT/target}/release/ticketd-chaos" "$@"
