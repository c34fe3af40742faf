#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust for user postgres) and Redis (127.0.0.1:6379) answer.
# Starts them if they are down; installs them from Debian's packages on a machine without them.
set -euo pipefail

apt_install() {
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for <what> <command...>
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$what did not come up" >&2; return 1
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "Installing PostgreSQL from Debian's packages"
    apt_install postgresql
    version=$(ls /etc/postgresql | head -n1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    # Tests connect as postgres over TCP without a password, as on the development machines.
    sed -ri 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    sed -ri 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  echo "Starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  command -v redis-server >/dev/null || { echo "Installing Redis from Debian's packages"; apt_install redis-server; }
  echo "Starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi
echo "PostgreSQL and Redis are up"
