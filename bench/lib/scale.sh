# The scale tables of bench/run (sourced by it: uses its helpers, variables and exit trap).
#
# The same operations against two Portcullis servers in one run, first on SQLite, then on
# PostgreSQL (fresh databases, dropped at the end and by bench/run's exit trap): one whose
# database holds only the $USERS bench users ("small"), and one whose database also holds
# $SCALE_USERS filler users with $SCALE_SESSIONS_PER_USER sessions each ("large", filled by
# lib/fill.py while the server is stopped). The session cache is off on all of them
# (session.cache_ttl = 0s) so that every get-session reads the database. Each database also holds
# one administrator (`portcullis users create --role admin`) whose session runs the admin user
# searches. Results go to $RES/scale-*.json (SQLite) and $RES/scale-pg-*.json (PostgreSQL);
# lib/report.py prints the tables.

SCALE_USERS=${BENCH_SCALE_USERS:-1000000}
SCALE_SESSIONS_PER_USER=${BENCH_SCALE_SESSIONS_PER_USER:-10}
SCALE_EXPIRED_SHARE=${BENCH_SCALE_EXPIRED_SHARE:-0.1}
RSS_SETTLE=${BENCH_RSS_SETTLE:-60}   # seconds to wait before reading RSS again after a sign-in storm
ADMIN_CONNS=${BENCH_ADMIN_CONNECTIONS:-4}  # wrk connections for the admin user search
SCALE_ADMIN_EMAIL=bench.admin@example.com

# Resident memory of process $1 in MB (0 when it is gone).
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024; found = 1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# scale_env DATA_DIR [DATABASE_URL]: sets S_ENV, the environment of a scale server and of the
# command line on its database (SQLite in DATA_DIR unless DATABASE_URL is given).
scale_env() {
  S_ENV=(env -u PORTCULLIS_CONFIG -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_REDIS_URL -u PORTCULLIS_BIN
    PORTCULLIS_RATE_LIMITS_ENABLED=false
    PORTCULLIS_SESSION_CACHE_TTL=0s
    PORTCULLIS_DATA_DIR="$1")
  if [[ -n ${2:-} ]]; then S_ENV+=(PORTCULLIS_DATABASE_URL="$2"); fi
}

# scale_start NAME DATA_DIR [DATABASE_URL]: starts a Portcullis with the cache off; sets S_URL and
# S_PID, and writes the seconds from spawn to its first answer to $RES/NAME-startup.json.
scale_start() {
  local name=$1 data=$2 port t0 t1
  port=$(free_port)
  S_URL=http://127.0.0.1:$port
  mkdir -p "$data"
  scale_env "$data" "${3:-}"
  t0=$(date +%s.%N)
  "${S_ENV[@]}" PORTCULLIS_LISTEN="127.0.0.1:$port" PORTCULLIS_BASE_URL="$S_URL" \
    "$PORTCULLIS_BIN" serve >>"$LOGS/$name.log" 2>&1 &
  S_PID=$!
  PIDS+=("$S_PID")
  python3 "$BENCH_DIR/lib/seed.py" wait --base "$S_URL" --pid "$S_PID" --timeout "$READY_TIMEOUT" \
    || die "$name did not start: $(tail -n 20 "$LOGS/$name.log")"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v rss="$(rss_mb "$S_PID")" \
    'BEGIN {printf "{\"startup_s\": %.3f, \"rss_idle_mb\": %s}\n", b - a, rss}' >"$RES/$name-startup.json"
}

# scale_admin NAME URL DATA_DIR [DATABASE_URL]: makes an administrator with the command line (the
# documented way to make the first one), signs it in at URL, and writes the admin searches that
# scale_measure runs: $WORK/NAME-search-starts_with.txt and -contains.txt (lua/requests.lua lines).
# Every search asks for a slice of the bench users (`bench.user.0001`: ten of them), which the
# filler users never match, so both databases answer the same users.
scale_admin() {
  local name=$1 url=$2 password how value
  password=$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
  scale_env "$3" "${4:-}"
  printf '%s\n' "$password" | "${S_ENV[@]}" "$PORTCULLIS_BIN" users create \
    --email "$SCALE_ADMIN_EMAIL" --role admin --password-stdin >>"$LOGS/$name-admin.log" 2>&1 \
    || die "$name: portcullis users create failed: $(tail -n 5 "$LOGS/$name-admin.log")"
  printf '%s\t%s\tBench Admin\n' "$SCALE_ADMIN_EMAIL" "$password" >"$WORK/$name-admin.tsv"
  python3 "$BENCH_DIR/lib/seed.py" seed --base "$url" --users "$WORK/$name-admin.tsv" --existing \
    --auth bearer --out "$WORK/$name-admin-session.txt"
  for how in starts_with contains; do
    cut -f1 "$WORK/users.tsv" | sed 's/.@example\.com$//' | sort -u | while read -r value; do
      # contains: the same slice without its first word, so the pattern starts with a wildcard.
      [[ $how == contains ]] && value=${value#bench.}
      printf 'GET\t/api/auth/admin/list-users?searchField=email&searchOperator=%s&searchValue=%s\t-\t%s\n' \
        "$how" "$value" "$(cat "$WORK/$name-admin-session.txt")"
    done >"$WORK/$name-search-$how.txt"
  done
}

# scale_check_search URL REQUESTS: the first search of REQUESTS answers 200 with at least one user,
# every one of them a bench user: the measurement is of real answers, not of refusals.
scale_check_search() {
  python3 - "$1" "$2" <<'PY' || die "the admin search does not answer bench users: see above"
import json, sys, urllib.request
base, path = sys.argv[1], sys.argv[2]
method, target, _, header = open(path).readline().rstrip("\n").split("\t")[:4]
name, value = header.split(":", 1)
req = urllib.request.Request(base + target, headers={name: value.strip()})
with urllib.request.urlopen(req, timeout=60) as resp:
    body = json.load(resp)
emails = [u["email"] for u in body["users"]]
if not emails or body["total"] != len(emails) or not all(e.startswith("bench.user.") for e in emails):
    sys.exit(f"{target}: {len(emails)} users, total {body.get('total')}: {emails[:3]}")
PY
}

# scale_measure NAME URL PID: get-session (cache off), list-sessions, the admin searches, sign-in and
# refresh, each after a warm-up, with the bench users' sessions.
scale_measure() {
  local name=$1 url=$2 op how
  SERVER_PID=$3
  export BENCH_SESSIONS=$WORK/$name-sessions.txt BENCH_USERS=$WORK/users.tsv
  for op in get-session list-sessions; do
    log "$name: $op, $GET_CONNS connections"
    if (( WARMUP > 0 )); then
      BENCH_PATH=/api/auth/$op run_wrk "warmup-$name-$op" "$url" get-session.lua "$GET_CONNS" "$WARMUP"
    fi
    BENCH_PATH=/api/auth/$op run_wrk "$name-$op" "$url" get-session.lua "$GET_CONNS" "$DURATION"
  done
  echo "{\"rss_mb\": $(rss_mb "$SERVER_PID")}" >"$RES/$name-rss-load.json"
  for how in starts_with contains; do
    log "$name: admin user search ($how), $ADMIN_CONNS connections"
    scale_check_search "$url" "$WORK/$name-search-$how.txt"
    if (( WARMUP > 0 )); then
      BENCH_REQUESTS=$WORK/$name-search-$how.txt \
        run_wrk "warmup-$name-search-$how" "$url" requests.lua "$ADMIN_CONNS" "$WARMUP"
    fi
    BENCH_REQUESTS=$WORK/$name-search-$how.txt \
      run_wrk "$name-search-$how" "$url" requests.lua "$ADMIN_CONNS" "$DURATION"
  done
  log "$name: sign-in, $SIGNIN_CONNS connections"
  run_wrk "$name-sign-in" "$url" sign-in.lua "$SIGNIN_CONNS" "$DURATION"
  echo "{\"rss_mb\": $(rss_mb "$SERVER_PID")}" >"$RES/$name-rss-storm.json"
  measure_refresh "$name" "$url" "$SERVER_PID"
}

# scale_pg_database: creates a fresh PostgreSQL database (dropped by the exit trap if the run
# stops early); sets S_DB and S_DB_URL.
scale_pg_database() {
  S_DB=portcullis_bench_scale_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  PG_DB_CREATED="${PG_DB_CREATED:+$PG_DB_CREATED }$S_DB"
  timeout 30 createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$S_DB" || die "createdb $S_DB failed"
  S_DB_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$S_DB?sslmode=$PG_SSLMODE"
}

# scale_backend PREFIX sqlite|postgres: the small and the large database of one backend; results
# are named PREFIX-small-*, PREFIX-large-*, PREFIX-fill.json, PREFIX-db-size.json, PREFIX-sweep.json.
scale_backend() {
  local p=$1 backend=$2 small_db="" large_db="" small_url="" large_url=""
  if [[ $backend == postgres ]]; then
    scale_pg_database
    small_db=$S_DB small_url=$S_DB_URL
    scale_pg_database
    large_db=$S_DB large_url=$S_DB_URL
  fi

  # Small.
  scale_start "$p-small" "$WORK/$p-small" "$small_url"
  local small_pid=$S_PID small=$S_URL
  python3 "$BENCH_DIR/lib/seed.py" seed --base "$small" --users "$WORK/users.tsv" \
    --auth bearer --out "$WORK/$p-small-sessions.txt"
  scale_admin "$p-small" "$small" "$WORK/$p-small" "$small_url"
  scale_measure "$p-small" "$small" "$small_pid"
  if [[ $backend == sqlite ]]; then  # memory is the server's own: once is enough
    log "scale: memory $RSS_SETTLE s after the sign-in storm"
    sleep "$RSS_SETTLE"
    echo "{\"rss_mb\": $(rss_mb "$small_pid")}" >"$RES/$p-small-rss-settled.json"
  fi
  stop_server "$small_pid"

  # Large: the bench users and the administrator through the API, then the filler with the
  # server stopped.
  scale_start "$p-large-seed" "$WORK/$p-large" "$large_url"
  python3 "$BENCH_DIR/lib/seed.py" seed --base "$S_URL" --users "$WORK/users.tsv" \
    --auth bearer --out "$WORK/$p-large-sessions.txt"
  scale_admin "$p-large" "$S_URL" "$WORK/$p-large" "$large_url"
  stop_server "$S_PID"
  log "scale: filling $SCALE_USERS users × $SCALE_SESSIONS_PER_USER sessions into $backend (lib/fill.py)"
  local target=(--sqlite "$WORK/$p-large/portcullis.db")
  if [[ $backend == postgres ]]; then target=(--postgres "$large_url"); fi
  python3 "$BENCH_DIR/lib/fill.py" "${target[@]}" --users "$SCALE_USERS" \
    --sessions-per-user "$SCALE_SESSIONS_PER_USER" --expired-share "$SCALE_EXPIRED_SHARE" \
    >"$RES/$p-fill.json" 2>"$LOGS/$p-fill.log" || die "fill.py failed: $(tail -n 5 "$LOGS/$p-fill.log")"
  if [[ $backend == postgres ]]; then
    psql "$large_url" -Atc "SELECT pg_database_size(current_database())" \
      | awk '{printf "{\"bytes\": %d}\n", $1}' >"$RES/$p-db-size.json"
  else
    du -b "$WORK/$p-large/portcullis.db" | awk '{printf "{\"bytes\": %d}\n", $1}' >"$RES/$p-db-size.json"
  fi
  log "scale: filled: $(cat "$RES/$p-fill.json"); $(cat "$RES/$p-db-size.json")"

  # Start-up sweeps the expired filler sessions at once, in batches: get-session meanwhile shows
  # whether the sweep blocks requests.
  scale_start "$p-large" "$WORK/$p-large" "$large_url"
  local large_pid=$S_PID large=$S_URL
  export BENCH_SESSIONS=$WORK/$p-large-sessions.txt
  SERVER_PID=$large_pid
  log "scale: $backend: get-session while the sweep of expired sessions runs"
  run_wrk "$p-large-during-sweep" "$large" get-session.lua "$GET_CONNS" "$DURATION"
  for _ in $(seq 600); do
    grep -q -e "swept expired sessions" -e "session sweep failed" "$LOGS/$p-large.log" && break
    sleep 1
  done
  { grep -m 1 "swept expired sessions" "$LOGS/$p-large.log" || true; } | grep -o 'deleted[^ ]*' \
    | tr -dc '0-9' | awk '{printf "{\"deleted\": %d}\n", $1}' >"$RES/$p-sweep.json" || true
  scale_measure "$p-large" "$large" "$large_pid"
  stop_server "$large_pid"
  rm -rf "$WORK/$p-large" "$WORK/$p-small"
  local db
  for db in $small_db $large_db; do
    timeout 60 dropdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" --if-exists --force "$db" \
      || log "warning: could not drop the PostgreSQL database $db (the exit trap tries again)"
  done
}

log "scale: a small database ($USERS users) and a large one ($SCALE_USERS users, $(( SCALE_USERS * SCALE_SESSIONS_PER_USER )) sessions), session cache off"
scale_backend scale sqlite
if [[ -n $PG_SKIP ]]; then
  log "scale: skipping PostgreSQL: $PG_SKIP"
  echo "{\"skipped\": \"$PG_SKIP\"}" >"$RES/scale-pg-skipped.json"
else
  scale_backend scale-pg postgres
fi
