#!/usr/bin/env bash
# The database servers the test suite talks to, started for it and stopped by their pid:
#   deploy/test-services.sh start DIR   PostgreSQL and MariaDB with their data in DIR, on
#                                       loopback ports picked free and Unix sockets in DIR,
#                                       and PgBouncer in transaction pooling mode in front of
#                                       PostgreSQL (fewer server connections than clients);
#                                       writes DIR/env (connection strings for the tests)
#   deploy/test-services.sh stop DIR
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?directory}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

case $cmd in
start)
  mkdir -p "$dir/pg" "$dir/my"
  chmod 755 "$dir"
  chown postgres "$dir/pg"
  pg_port=$(free_port)
  runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
  # In the config file, so that a test can stop and start the server as it is.
  cat >> "$dir/pg/data/postgresql.conf" <<CONF
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/pg'
fsync = off
CONF
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w start >/dev/null
  runuser -u postgres -- "$pgbin/psql" -qX -h 127.0.0.1 -p "$pg_port" -U postgres \
    -c 'CREATE DATABASE rapport_test' >/dev/null

  # PgBouncer refuses to run as root: as postgres, like the server. Two server connections
  # per database and user, fewer than the tests' clients, so that a statement prepared on
  # one connection and used on another (which transaction pooling cannot keep) fails.
  mkdir -p "$dir/pgb"
  chown postgres "$dir/pgb"
  pgb_port=$(free_port)
  echo '"postgres" ""' > "$dir/pgb/users.txt"
  cat > "$dir/pgb/pgbouncer.ini" <<CONF
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir = $dir/pgb
auth_type = trust
auth_file = $dir/pgb/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 500
pidfile = $dir/pgb/pgbouncer.pid
logfile = $dir/pgb/log
CONF
  chown postgres "$dir/pgb/pgbouncer.ini" "$dir/pgb/users.txt"
  runuser -u postgres -- pgbouncer -q -d "$dir/pgb/pgbouncer.ini"
  for _ in $(seq 1 100); do [[ -f $dir/pgb/pgbouncer.pid ]] && break; sleep 0.05; done

  my_port=$(free_port)
  mariadb-install-db --user=root --datadir="$dir/my/data" --auth-root-authentication-method=normal \
    --skip-test-db >/dev/null 2>&1
  mariadbd --user=root --datadir="$dir/my/data" --socket="$dir/my/sock" --port="$my_port" \
    --bind-address=127.0.0.1 --skip-grant-tables --pid-file="$dir/my/pid" \
    --log-error="$dir/my/log" --innodb-flush-log-at-trx-commit=2 2>>"$dir/my/stderr" &
  for _ in $(seq 1 100); do
    [[ -S $dir/my/sock ]] && mariadb -S "$dir/my/sock" -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb -S "$dir/my/sock" -e 'CREATE DATABASE rapport_test'

  cat > "$dir/env" <<ENV
export RAPPORT_TEST_PG='host=127.0.0.1 port=$pg_port dbname=rapport_test user=postgres'
export RAPPORT_TEST_PG_ODBC='DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=$pg_port;DATABASE=rapport_test;UID=postgres'
export RAPPORT_TEST_PG_CTL='runuser -u postgres -- $pgbin/pg_ctl -D $dir/pg/data -l $dir/pg/log -w'
export RAPPORT_TEST_PGBOUNCER='host=127.0.0.1 port=$pgb_port user=postgres'
export RAPPORT_TEST_MYSQL='db=rapport_test unix_socket=$dir/my/sock user=root'
ENV
  ;;
stop)
  if [[ -f $dir/pg/data/postmaster.pid ]]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null || true
  fi
  if [[ -f $dir/pgb/pgbouncer.pid ]]; then
    pid=$(cat "$dir/pgb/pgbouncer.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -f $dir/my/pid ]]; then
    pid=$(cat "$dir/my/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  ;;
esac
