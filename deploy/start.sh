#!/usr/bin/env bash
# Quick start: bring up Postgres and NATS (installing them if missing), create the
# `ticketd` database, write .env from .env.sample on first run, then build and serve.
# Extra arguments go to `ticketd serve`. The server applies migrations at start-up.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${TICKETD_DB:=ticketd}"

bash "$TICKETD_ROOT/deploy/services.sh"
ensure_cargo
cd "$TICKETD_ROOT"

# ---------------------------------------------------------------- database

if [[ -n $(pg_psql -d postgres -Atc "select 1 from pg_database where datname = '$TICKETD_DB'") ]]; then
  ok "database $TICKETD_DB exists"
else
  info "creating database $TICKETD_DB"
  createdb -w -h "$PG_HOST" -p "$PG_PORT" -U postgres "$TICKETD_DB" </dev/null
  ok "database $TICKETD_DB created"
fi

# ---------------------------------------------------------------- .env

random_secret() {
  if have openssl; then
    openssl rand -hex 32
  else
    head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n'
  fi
}

if [[ -f .env ]]; then
  ok ".env exists (left as is)"
else
  [[ -f .env.sample ]] || die ".env.sample is missing"
  info "writing .env from .env.sample with a fresh random JWT_SECRET"
  secret=$(random_secret)
  [[ ${#secret} -ge 48 ]] || die "could not generate a random secret"
  umask 077
  sed "s|^JWT_SECRET=.*|JWT_SECRET=$secret|" .env.sample >.env
  umask 022
  grep -q "^JWT_SECRET=$secret\$" .env || die ".env.sample has no JWT_SECRET= line to fill in"
  ok ".env written (mode 600)"
fi

jwt_secret=${JWT_SECRET:-$(dotenv_get .env JWT_SECRET)}
if [[ $jwt_secret == *change-me* ]]; then
  warn "JWT_SECRET in .env is still the placeholder from .env.sample; set a random one (openssl rand -hex 32)"
fi

# ---------------------------------------------------------------- serve

bind_addr=${BIND_ADDR:-$(dotenv_get .env BIND_ADDR)}
bind_addr=${bind_addr:-127.0.0.1:8080}
host=${bind_addr%:*}
port=${bind_addr##*:}
if [[ $host == 0.0.0.0 || $host == "[::]" ]]; then
  host=127.0.0.1
fi
url="http://$host:$port"

cat <<EOF

ticketd will serve on $url once built and migrated
  web app        $url/
  API docs       $url/docs   (OpenAPI: $url/openapi.json)
  health         $url/healthz, $url/readyz, $url/metrics

Create a user who can sign in to the web app (in another shell):
  cargo run --release --bin ticketd -- user add --email admin@example.com --name Admin --role admin --password 'a long passphrase'

Mint a development token (in another shell):
  cargo run --release --bin ticketd -- token --email admin@example.com --role admin
and call the API with:  -H "Authorization: Bearer <token>"

Building (release) and starting; stop with Ctrl-C.

EOF

exec cargo run --release --bin ticketd -- serve "$@"
