#!/usr/bin/env bash
# Make sure the local services ticketd needs are up:
#   - Postgres on 127.0.0.1:5432, reachable as role `postgres` without a password
#   - NATS with JetStream on 127.0.0.1:4222
#   - an IMAP server (dovecot) on 127.0.0.1:1143 with a test user, for the e-mail tests, and on
#     127.0.0.1:1993 over TLS with a certificate of a test authority ($DOVECOT_DIR/tls/ca.pem)
# and that moto's S3-compatible server (`moto_server`, started by the attachment tests on a free
# port, each test with its own bucket), the Rust toolchain, and Chromium with chromedriver (the
# web app's browser tests),
# are installed.
#
# Installs postgresql / nats-server / dovecot-imapd / chromium / chromium-driver with apt-get when missing
# (Debian or Ubuntu, as root).
# Idempotent: when everything already runs it only prints status. Needs no TTY.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- Rust

ensure_cargo
ok "cargo: $(cargo --version)"

# ---------------------------------------------------------------- Postgres

start_postgres() {
  if ! have pg_ctlcluster || ! have pg_lsclusters; then
    apt_install postgresql
  fi

  local version
  version=$(pg_version)
  if [[ -z $version ]]; then
    version=$(pg_installed_version)
    [[ -n $version ]] || die "postgresql is installed but no server version found under /usr/lib/postgresql"
    info "no Postgres cluster configured; creating cluster $version/$PG_CLUSTER on port $PG_PORT"
    as_root pg_createcluster --port "$PG_PORT" "$version" "$PG_CLUSTER"
  fi

  # The package's post-install may already have started it.
  if pg_ready; then
    return 0
  fi

  if pg_lsclusters --no-header "$version" "$PG_CLUSTER" 2>/dev/null | grep -q online; then
    info "Postgres cluster $version/$PG_CLUSTER is online but not answering on $PG_HOST:$PG_PORT yet"
  else
    info "starting Postgres cluster $version/$PG_CLUSTER"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$PG_CLUSTER" start ||
      die "could not start Postgres $version/$PG_CLUSTER; see /var/log/postgresql/postgresql-$version-$PG_CLUSTER.log"
  fi
}

# Dev-only: trust local TCP connections when role postgres cannot log in without a password.
trust_local_tcp() {
  local version hba
  version=$(pg_version)
  hba="/etc/postgresql/$version/$PG_CLUSTER/pg_hba.conf"
  if [[ -z $version || ! -f $hba ]]; then
    die "cannot connect as role postgres to $PG_HOST:$PG_PORT without a password, and no Debian pg_hba.conf found to fix it.
Allow it (e.g. 'host all all 127.0.0.1/32 trust' in pg_hba.conf) or set PGPASSWORD / ~/.pgpass."
  fi

  cat >&2 <<EOF
${_c_warn}
#####################################################################
#  DEV ONLY: adding 'trust' for TCP connections from 127.0.0.1 and ::1
#  at the top of $hba
#  (any local user can then connect to Postgres as any role, without
#  a password). Do not do this on a shared or production machine.
#####################################################################
${_c_off}
EOF
  as_root cp -p "$hba" "$hba.ticketd-backup"
  as_root sed -i '1i # Added by ticketd deploy/services.sh (development only): trust local TCP.\nhost    all    all    127.0.0.1/32    trust\nhost    all    all    ::1/128         trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$PG_CLUSTER" reload
  sleep 1
}

if pg_ready; then
  ok "Postgres: already running on $PG_HOST:$PG_PORT"
else
  info "Postgres: nothing answers on $PG_HOST:$PG_PORT"
  start_postgres
  wait_until "Postgres: ready on $PG_HOST:$PG_PORT" "$SERVICE_WAIT_SECONDS" pg_ready ||
    die "Postgres did not become ready within ${SERVICE_WAIT_SECONDS}s (see /var/log/postgresql/)"
fi

if ! have psql; then
  apt_install postgresql-client
fi

if ! pg_can_connect; then
  trust_local_tcp
  wait_until "Postgres: role postgres can connect" 10 pg_can_connect ||
    die "still cannot connect: psql -h $PG_HOST -p $PG_PORT -U postgres -c 'select 1'"
fi
ok "Postgres: $(pg_psql -d postgres -Atc 'show server_version')"

# ---------------------------------------------------------------- NATS

start_nats() {
  local bin
  bin=$(nats_bin)
  if [[ -z $bin ]]; then
    apt_install nats-server
    bin=$(nats_bin)
    [[ -n $bin ]] || die "nats-server still not found after installing the package"
  fi
  # A service set up by the package may have started it already.
  if nats_ready; then
    return 0
  fi

  as_root mkdir -p "$NATS_STORE_DIR" "$(dirname "$NATS_LOG_FILE")"
  info "starting $bin with JetStream (store $NATS_STORE_DIR, log $NATS_LOG_FILE)"
  local args=(-a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE_DIR" -l "$NATS_LOG_FILE")
  if have start-stop-daemon; then
    # The pid file ties --oknodo to our server, not to any nats-server on another port.
    as_root start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$NATS_PID_FILE" \
      --exec "$bin" -- "${args[@]}"
  else
    as_root setsid "$bin" "${args[@]}" </dev/null >/dev/null 2>&1 &
    disown || true
  fi
}

if nats_ready; then
  ok "NATS: already running on $NATS_HOST:$NATS_PORT"
else
  info "NATS: nothing answers on $NATS_HOST:$NATS_PORT"
  start_nats
  wait_until "NATS: ready on $NATS_HOST:$NATS_PORT" "$SERVICE_WAIT_SECONDS" nats_ready ||
    die "NATS did not become ready within ${SERVICE_WAIT_SECONDS}s (see $NATS_LOG_FILE)"
  if have start-stop-daemon; then
    info "NATS: stop it with: start-stop-daemon --stop --pidfile $NATS_PID_FILE"
  fi
fi

nats_info_line=$(nats_info)
[[ -n $nats_info_line ]] ||
  die "something answers on $NATS_HOST:$NATS_PORT but sent no NATS INFO line; is it a NATS server?"
nats_version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$nats_info_line")
if grep -q '"jetstream":true' <<<"$nats_info_line"; then
  ok "NATS: nats-server ${nats_version:-?} with JetStream"
else
  die "the NATS server on $NATS_HOST:$NATS_PORT (version ${nats_version:-unknown}) does not have JetStream enabled.
Restart it with -js (e.g. nats-server -a $NATS_HOST -p $NATS_PORT -js -sd $NATS_STORE_DIR)."
fi

# ---------------------------------------------------------------- IMAP (e-mail tests)

# A test certificate authority, and a certificate for 127.0.0.1 and localhost it signed, for
# IMAP over TLS. Tests (and an engine pointed at this server) trust the authority through
# IMAP_CA_FILE=$DOVECOT_DIR/tls/ca.pem; nothing skips certificate checks.
make_dovecot_tls() {
  local dir=$DOVECOT_DIR/tls
  if [[ -s $dir/ca.pem && -s $dir/server.pem && -s $dir/server.key ]]; then
    return 0
  fi
  if ! have openssl; then
    apt_install openssl
  fi
  info "IMAP: creating a test certificate authority and a server certificate under $dir"
  as_root mkdir -p "$dir"
  as_root openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ticketd test IMAP CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  as_root openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" |
    as_root tee "$dir/server.ext" >/dev/null
  as_root openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  as_root chmod 644 "$dir/ca.pem" "$dir/server.pem"
  as_root chmod 600 "$dir/ca.key" "$dir/server.key"
}

# A dovecot instance of its own (configuration, mail store and runtime directory under
# $DOVECOT_DIR), so that a system dovecot, if any, is left alone. IMAP with a password on
# loopback only, plain and over TLS: it holds test mail. Tests create a mailbox each and append
# to it.
write_dovecot_conf() {
  as_root mkdir -p "$DOVECOT_DIR/mail" "$DOVECOT_DIR/run" "$DOVECOT_DIR/state"
  make_dovecot_tls
  as_root chown dovecot:dovecot "$DOVECOT_DIR/mail"
  echo "$IMAP_TEST_USER:{PLAIN}$IMAP_TEST_PASSWORD" | as_root tee "$DOVECOT_DIR/users" >/dev/null
  as_root tee "$DOVECOT_DIR/dovecot.conf" >/dev/null <<EOF
# Written by ticketd deploy/services.sh: the test IMAP server.
protocols = imap
listen = $IMAP_HOST
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/state
instance_name = ticketd-dovecot
log_path = $DOVECOT_DIR/dovecot.log
ssl = yes
ssl_cert = <$DOVECOT_DIR/tls/server.pem
ssl_key = <$DOVECOT_DIR/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$DOVECOT_DIR/mail/%u
mail_max_userip_connections = 1000
# The mail store belongs to the dovecot system user, whose uid is below the default minimum.
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    address = $IMAP_HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $IMAP_HOST
    port = $IMAPS_PORT
    ssl = yes
  }
}
service imap {
  process_limit = 1024
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/users
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$DOVECOT_DIR/mail/%u
}
EOF
}

start_dovecot() {
  if ! have dovecot; then
    apt_install dovecot-imapd
  fi
  write_dovecot_conf
  info "starting dovecot (configuration $DOVECOT_DIR/dovecot.conf, log $DOVECOT_DIR/dovecot.log)"
  # Its daemon must not hold the caller's output open (a pipe would never end).
  as_root dovecot -c "$DOVECOT_DIR/dovecot.conf" </dev/null >/dev/null 2>&1
}

if port_open "$IMAP_HOST" "$IMAP_PORT" && port_open "$IMAP_HOST" "$IMAPS_PORT"; then
  ok "IMAP: already running on $IMAP_HOST:$IMAP_PORT, over TLS on $IMAPS_PORT"
elif port_open "$IMAP_HOST" "$IMAP_PORT" && [[ -f $DOVECOT_DIR/dovecot.conf ]]; then
  # Ours, configured before it listened over TLS: a reload adds the listener and keeps the
  # sessions open.
  info "IMAP: adding the TLS listener on $IMAP_HOST:$IMAPS_PORT"
  write_dovecot_conf
  as_root dovecot -c "$DOVECOT_DIR/dovecot.conf" reload
  wait_until "IMAP: over TLS on $IMAP_HOST:$IMAPS_PORT (authority $DOVECOT_DIR/tls/ca.pem)" \
    "$SERVICE_WAIT_SECONDS" port_open "$IMAP_HOST" "$IMAPS_PORT" ||
    die "dovecot did not listen on $IMAPS_PORT within ${SERVICE_WAIT_SECONDS}s (see $DOVECOT_DIR/dovecot.log)"
else
  info "IMAP: nothing answers on $IMAP_HOST:$IMAP_PORT"
  start_dovecot
  wait_until "IMAP: ready on $IMAP_HOST:$IMAP_PORT (user $IMAP_TEST_USER)" "$SERVICE_WAIT_SECONDS" \
    port_open "$IMAP_HOST" "$IMAP_PORT" ||
    die "dovecot did not answer within ${SERVICE_WAIT_SECONDS}s (see $DOVECOT_DIR/dovecot.log)"
  wait_until "IMAP: over TLS on $IMAP_HOST:$IMAPS_PORT (authority $DOVECOT_DIR/tls/ca.pem)" \
    "$SERVICE_WAIT_SECONDS" port_open "$IMAP_HOST" "$IMAPS_PORT" ||
    die "dovecot did not listen on $IMAPS_PORT within ${SERVICE_WAIT_SECONDS}s (see $DOVECOT_DIR/dovecot.log)"
  info "IMAP: stop it with: dovecot -c $DOVECOT_DIR/dovecot.conf stop"
fi

# ---------------------------------------------------------------- Chromium (browser tests)

# The web app's tests drive headless Chromium through chromedriver; both come from the
# distribution, so their versions match each other.
if ! have chromedriver || ! { have chromium || have chromium-browser; }; then
  info "Chromium or chromedriver missing; installing them"
  apt_install chromium chromium-driver
fi
have chromedriver || die "chromedriver still not found after installing chromium-driver"
ok "browser: $( (chromium --version || chromium-browser --version) 2>/dev/null | head -n 1)"

# ---------------------------------------------------------------- S3-compatible store (attachment tests)

# The attachment tests start `moto_server` (moto's server mode, from PyPI) on a free port each;
# no cloud store is reachable from a test machine.
if ! have moto_server; then
  have pip3 || apt_install python3-pip
  info "moto_server missing; installing moto[server] with pip"
  pip3 install --quiet 'moto[server]' || pip3 install --quiet --break-system-packages 'moto[server]'
fi
have moto_server || die "moto_server still not found after installing moto[server]"
ok "S3-compatible test server: $(command -v moto_server)"
