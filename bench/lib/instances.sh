# The two-instance table of bench/run (sourced by it: uses its helpers, variables and exit trap).
#
# Two Portcullis servers on one fresh PostgreSQL database and one Redis, sharing one master
# secret, with rate limits on (the general class set so high that it never refuses, the
# password-reset class at BENCH_INSTANCES_LIMIT): get-session throughput of one instance alone and
# of both at once (the load split between two wrk processes), how long a sign-out on one takes to
# be refused on the other (lib/instances.py propagation), and whether the shared limit is exact
# (lib/instances.py limit). Needs PG_DB_OK (bench/run's PostgreSQL checks passed) and Redis.

REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
INSTANCES_LIMIT=${BENCH_INSTANCES_LIMIT:-10}

instances_skip=""
if [[ $POSTGRES != 1 ]]; then
  instances_skip="BENCH_POSTGRES=0"
elif [[ -n ${PG_SKIP:-} ]]; then
  instances_skip="no PostgreSQL ($PG_SKIP)"
elif ! python3 - "$REDIS_URL" <<'PY' 2>/dev/null; then
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname, u.port or 6379), timeout=2)
s.sendall(b"PING\r\n")
sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
PY
  instances_skip="no Redis answering at $REDIS_URL (BENCH_REDIS_URL)"
fi

if [[ -n $instances_skip ]]; then
  log "skipping the two-instance table: $instances_skip"
  echo "{\"skipped\": \"$instances_skip\"}" >"$RES/instances-skipped.json"
else
  I_DB=portcullis_bench_two_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  timeout 30 createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$I_DB" || die "createdb $I_DB failed"
  PG_DB_CREATED="${PG_DB_CREATED:+$PG_DB_CREATED }$I_DB"
  I_SECRET=$(head -c 32 /dev/urandom | base64)
  instance_start() { # instance_start NAME -> I_URL, I_PID
    local name=$1 port
    port=$(free_port)
    I_URL=http://127.0.0.1:$port
    mkdir -p "$WORK/$name-data"
    env -u PORTCULLIS_CONFIG -u PORTCULLIS_BIN \
      PORTCULLIS_SECRET="$I_SECRET" \
      PORTCULLIS_DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$I_DB?sslmode=$PG_SSLMODE" \
      PORTCULLIS_REDIS_URL="$REDIS_URL" \
      PORTCULLIS_RATE_LIMITS_ENABLED=true \
      PORTCULLIS_RATE_LIMITS_GENERAL=1000000000/1s \
      PORTCULLIS_RATE_LIMITS_SIGN_IN=1000000000/1s \
      PORTCULLIS_RATE_LIMITS_SIGN_UP=1000000000/1s \
      PORTCULLIS_RATE_LIMITS_TOKEN_REFRESH=1000000000/1s \
      PORTCULLIS_RATE_LIMITS_PASSWORD_RESET="$INSTANCES_LIMIT/1h" \
      PORTCULLIS_DATA_DIR="$WORK/$name-data" \
      PORTCULLIS_LISTEN="127.0.0.1:$port" \
      PORTCULLIS_BASE_URL="$I_URL" \
      "$PORTCULLIS_BIN" serve >"$LOGS/$name.log" 2>&1 &
    I_PID=$!
    PIDS+=("$I_PID")
    python3 "$BENCH_DIR/lib/seed.py" wait --base "$I_URL" --pid "$I_PID" --timeout "$READY_TIMEOUT" \
      || die "$name did not start: $(tail -n 20 "$LOGS/$name.log")"
  }
  instance_start instance-a
  A_URL=$I_URL A_PID=$I_PID
  instance_start instance-b
  B_URL=$I_URL B_PID=$I_PID
  log "two instances on PostgreSQL $I_DB and Redis: $A_URL, $B_URL"
  python3 "$BENCH_DIR/lib/seed.py" seed --base "$A_URL" --users "$WORK/users.tsv" \
    --auth bearer --out "$WORK/instances-sessions.txt"
  export BENCH_SESSIONS=$WORK/instances-sessions.txt
  SERVER_PID=$A_PID
  if (( WARMUP > 0 )); then
    run_wrk warmup-instances-one "$A_URL" get-session.lua "$GET_CONNS" "$WARMUP"
  fi
  log "two instances: get-session on one, $GET_CONNS connections"
  run_wrk instances-one "$A_URL" get-session.lua "$GET_CONNS" "$DURATION"
  log "two instances: get-session on both at once, $(( GET_CONNS / 2 )) connections each"
  run_wrk instances-both-a "$A_URL" get-session.lua "$(( GET_CONNS / 2 ))" "$DURATION" "$(( THREADS > 1 ? THREADS / 2 : 1 ))" &
  BOTH_A=$!
  SERVER_PID=$B_PID run_wrk instances-both-b "$B_URL" get-session.lua "$(( GET_CONNS / 2 ))" "$DURATION" "$(( THREADS > 1 ? THREADS / 2 : 1 ))"
  wait "$BOTH_A" || die "wrk on instance A failed"
  log "two instances: revocation propagation (sign-out on A, refusal on B)"
  python3 "$BENCH_DIR/lib/instances.py" propagation --a "$A_URL" --b "$B_URL" \
    --users "$WORK/users.tsv" --samples "${BENCH_PROPAGATION_SAMPLES:-20}" \
    >"$RES/instances-propagation.json" 2>"$LOGS/propagation.log" \
    || die "propagation failed: $(tail -n 3 "$LOGS/propagation.log")"
  log "two instances: a shared limit of $INSTANCES_LIMIT password-reset requests"
  python3 "$BENCH_DIR/lib/instances.py" limit --a "$A_URL" --b "$B_URL" --limit "$INSTANCES_LIMIT" \
    >"$RES/instances-limit.json" 2>"$LOGS/instances-limit.log" \
    || die "the shared-limit check failed: $(tail -n 3 "$LOGS/instances-limit.log")"
  stop_server "$A_PID" "$B_PID"
fi
