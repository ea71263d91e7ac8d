# shellcheck shell=bash
# Helpers shared by deploy/services.sh, deploy/start.sh and deploy/test.sh.
# Source it; do not run it.

# Where things live and answer. Override from the environment if needed.
: "${PG_HOST:=127.0.0.1}"
: "${PG_PORT:=5432}"
: "${PG_CLUSTER:=main}"
: "${NATS_HOST:=127.0.0.1}"
: "${NATS_PORT:=4222}"
: "${NATS_STORE_DIR:=/var/lib/nats-server}"
: "${NATS_LOG_FILE:=/var/log/nats-server.log}"
: "${NATS_PID_FILE:=/run/nats-server-$NATS_PORT.pid}"
: "${SERVICE_WAIT_SECONDS:=30}"
# The test IMAP server (a private dovecot instance: its own configuration and mail store).
: "${IMAP_HOST:=127.0.0.1}"
: "${IMAP_PORT:=1143}"
# The same server over TLS (imaps://), with a certificate of a test authority under $DOVECOT_DIR/tls.
: "${IMAPS_PORT:=1993}"
: "${IMAP_TEST_USER:=ticketd}"
: "${IMAP_TEST_PASSWORD:=ticketd}"
: "${DOVECOT_DIR:=/var/lib/ticketd-dovecot}"

export DEBIAN_FRONTEND=noninteractive

# shellcheck disable=SC2034 # used by the scripts that source this file
TICKETD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -t 1 ]]; then
  _c_info=$'\e[1;34m' _c_ok=$'\e[1;32m' _c_warn=$'\e[1;33m' _c_err=$'\e[1;31m' _c_off=$'\e[0m'
else
  _c_info='' _c_ok='' _c_warn='' _c_err='' _c_off=''
fi

info() { printf '%s==>%s %s\n' "$_c_info" "$_c_off" "$*"; }
ok()   { printf '%s ok%s %s\n' "$_c_ok" "$_c_off" "$*"; }
warn() { printf '%sWARNING:%s %s\n' "$_c_warn" "$_c_off" "$*" >&2; }
die()  { printf '%sERROR:%s %s\n' "$_c_err" "$_c_off" "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

# Run a command as root: directly when we are root, else through non-interactive sudo.
as_root() {
  if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
    "$@"
  elif have sudo; then
    sudo -n "$@"
  else
    die "need root for: $* (run this script as root, or install sudo)"
  fi
}

# True when something accepts TCP connections on host:port.
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# Poll a command until it succeeds, at most $2 seconds. $1 describes what we wait for.
wait_until() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 1
  done
  ok "$what"
}

_apt_updated=0
# Install Debian packages without prompting; `apt-get update` runs once per script run.
apt_install() {
  have apt-get || die "apt-get not found; install $* by hand (this script knows Debian/Ubuntu only)"
  if [[ $_apt_updated -eq 0 ]]; then
    info "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    _apt_updated=1
  fi
  info "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null
}

# Make `cargo` reachable, or explain how to get it and fail.
ensure_cargo() {
  if ! have cargo && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! have cargo; then
    cat >&2 <<'EOF'
ERROR: the Rust toolchain (cargo) is not installed.

Install it with rustup (https://rustup.rs), then open a new shell or source ~/.cargo/env:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
        --component rustfmt --component clippy
    . "$HOME/.cargo/env"

ticketd needs a recent stable Rust (1.89 or newer for the locked dependencies). Optional, for faster tests: cargo install cargo-nextest --locked
EOF
    exit 1
  fi
}

# ---------------------------------------------------------------- Postgres

pg_ready() {
  if have pg_isready; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1
  else
    port_open "$PG_HOST" "$PG_PORT"
  fi
}

# Run psql as role postgres over TCP, never prompting for a password.
pg_psql() {
  PGCONNECT_TIMEOUT=5 psql -X -w -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@" </dev/null
}

pg_can_connect() {
  pg_psql -d postgres -Atc 'select 1' >/dev/null 2>&1
}

# The Debian cluster version: the one directory under /etc/postgresql (the newest if several).
pg_version() {
  local versions
  versions=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V) || true
  if [[ $(printf '%s\n' "$versions" | grep -c .) -gt 1 ]]; then
    warn "several Postgres versions in /etc/postgresql ($(echo "$versions" | tr '\n' ' ')); using the newest"
  fi
  printf '%s\n' "$versions" | tail -n 1
}

# Version of the installed server binaries (for creating a cluster when none exists).
pg_installed_version() {
  { find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null || true; } | sort -V | tail -n 1
}

# ---------------------------------------------------------------- NATS

nats_ready() {
  port_open "$NATS_HOST" "$NATS_PORT"
}

# The INFO line a NATS server sends on connect (empty if none).
nats_info() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; IFS= read -r -t 2 line <&3 && printf "%s\n" "$line"' \
    _ "$NATS_HOST" "$NATS_PORT" 2>/dev/null || true
}

nats_bin() {
  if have nats-server; then
    command -v nats-server
  elif [[ -x /usr/sbin/nats-server ]]; then
    echo /usr/sbin/nats-server
  fi
}

# Read KEY's value from a dotenv file (last assignment wins; surrounding quotes removed).
dotenv_get() {
  local file=$1 key=$2 value
  [[ -f $file ]] || return 0
  value=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${key}=" "$file" | tail -n 1 | cut -d= -f2-) || true
  value=${value%\"} value=${value#\"} value=${value%\'} value=${value#\'}
  printf '%s' "$value"
}
