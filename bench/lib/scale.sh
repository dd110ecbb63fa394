# The scale table of bench/run (sourced by it: uses its helpers, variables and exit trap).
#
# The same operations against two Portcullis servers in one run: one whose SQLite database holds
# only the $USERS bench users ("small"), and one whose database also holds $SCALE_USERS filler
# users with $SCALE_SESSIONS_PER_USER sessions each ("large", filled by lib/fill.py while the
# server is stopped). The session cache is off on both (session.cache_ttl = 0s) so that every
# get-session reads the database. Results go to $RES/scale-*.json; lib/report.py prints the table.

SCALE_USERS=${BENCH_SCALE_USERS:-1000000}
SCALE_SESSIONS_PER_USER=${BENCH_SCALE_SESSIONS_PER_USER:-10}
SCALE_EXPIRED_SHARE=${BENCH_SCALE_EXPIRED_SHARE:-0.1}
RSS_SETTLE=${BENCH_RSS_SETTLE:-60}   # seconds to wait before reading RSS again after a sign-in storm

# Resident memory of process $1 in MB (0 when it is gone).
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024; found = 1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# scale_start NAME DATA_DIR: starts a Portcullis with the cache off on DATA_DIR; sets S_URL and
# S_PID, and writes the seconds from spawn to its first answer to $RES/NAME-startup.json.
scale_start() {
  local name=$1 data=$2 port t0 t1
  port=$(free_port)
  S_URL=http://127.0.0.1:$port
  mkdir -p "$data"
  t0=$(date +%s.%N)
  env -u PORTCULLIS_CONFIG -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_REDIS_URL -u PORTCULLIS_BIN \
    PORTCULLIS_RATE_LIMITS_ENABLED=false \
    PORTCULLIS_SESSION_CACHE_TTL=0s \
    PORTCULLIS_DATA_DIR="$data" \
    PORTCULLIS_LISTEN="127.0.0.1:$port" \
    PORTCULLIS_BASE_URL="$S_URL" \
    "$PORTCULLIS_BIN" serve >>"$LOGS/$name.log" 2>&1 &
  S_PID=$!
  PIDS+=("$S_PID")
  python3 "$BENCH_DIR/lib/seed.py" wait --base "$S_URL" --pid "$S_PID" --timeout "$READY_TIMEOUT" \
    || die "$name did not start: $(tail -n 20 "$LOGS/$name.log")"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v rss="$(rss_mb "$S_PID")" \
    'BEGIN {printf "{\"startup_s\": %.3f, \"rss_idle_mb\": %s}\n", b - a, rss}' >"$RES/$name-startup.json"
}

# scale_measure NAME URL PID: get-session (cache off), list-sessions, sign-in and refresh, each
# after a warm-up, with the bench users' sessions.
scale_measure() {
  local name=$1 url=$2
  SERVER_PID=$3
  export BENCH_SESSIONS=$WORK/$name-sessions.txt BENCH_USERS=$WORK/users.tsv
  local op
  for op in get-session list-sessions; do
    log "$name: $op, $GET_CONNS connections"
    if (( WARMUP > 0 )); then
      BENCH_PATH=/api/auth/$op run_wrk "warmup-$name-$op" "$url" get-session.lua "$GET_CONNS" "$WARMUP"
    fi
    BENCH_PATH=/api/auth/$op run_wrk "$name-$op" "$url" get-session.lua "$GET_CONNS" "$DURATION"
  done
  echo "{\"rss_mb\": $(rss_mb "$SERVER_PID")}" >"$RES/$name-rss-load.json"
  log "$name: sign-in, $SIGNIN_CONNS connections"
  run_wrk "$name-sign-in" "$url" sign-in.lua "$SIGNIN_CONNS" "$DURATION"
  echo "{\"rss_mb\": $(rss_mb "$SERVER_PID")}" >"$RES/$name-rss-storm.json"
  measure_refresh "$name" "$url" "$SERVER_PID"
}

log "scale: a small database ($USERS users) and a large one ($SCALE_USERS users, $(( SCALE_USERS * SCALE_SESSIONS_PER_USER )) sessions), session cache off"

# Small.
scale_start scale-small "$WORK/scale-small"
SMALL_PID=$S_PID SMALL_URL=$S_URL
python3 "$BENCH_DIR/lib/seed.py" seed --base "$SMALL_URL" --users "$WORK/users.tsv" \
  --auth bearer --out "$WORK/scale-small-sessions.txt"
scale_measure scale-small "$SMALL_URL" "$SMALL_PID"
log "scale: memory $RSS_SETTLE s after the sign-in storm"
sleep "$RSS_SETTLE"
echo "{\"rss_mb\": $(rss_mb "$SMALL_PID")}" >"$RES/scale-small-rss-settled.json"
stop_server "$SMALL_PID"

# Large: the bench users through the API, then the filler with the server stopped.
scale_start scale-large-seed "$WORK/scale-large"
python3 "$BENCH_DIR/lib/seed.py" seed --base "$S_URL" --users "$WORK/users.tsv" \
  --auth bearer --out "$WORK/scale-large-sessions.txt"
stop_server "$S_PID"
log "scale: filling $SCALE_USERS users × $SCALE_SESSIONS_PER_USER sessions into SQLite (lib/fill.py)"
python3 "$BENCH_DIR/lib/fill.py" --sqlite "$WORK/scale-large/portcullis.db" --users "$SCALE_USERS" \
  --sessions-per-user "$SCALE_SESSIONS_PER_USER" --expired-share "$SCALE_EXPIRED_SHARE" \
  >"$RES/scale-fill.json" 2>"$LOGS/fill.log" || die "fill.py failed: $(tail -n 5 "$LOGS/fill.log")"
log "scale: filled: $(cat "$RES/scale-fill.json"); $(du -m "$WORK/scale-large/portcullis.db" | cut -f1) MB"
du -b "$WORK/scale-large/portcullis.db" | awk '{printf "{\"bytes\": %d}\n", $1}' >"$RES/scale-db-size.json"

# Start-up sweeps the expired filler sessions at once, in batches: get-session meanwhile shows
# whether the sweep blocks requests.
scale_start scale-large "$WORK/scale-large"
LARGE_PID=$S_PID LARGE_URL=$S_URL
export BENCH_SESSIONS=$WORK/scale-large-sessions.txt
SERVER_PID=$LARGE_PID
log "scale: get-session while the sweep of expired sessions runs"
run_wrk scale-large-during-sweep "$LARGE_URL" get-session.lua "$GET_CONNS" "$DURATION"
for _ in $(seq 600); do
  grep -q "swept expired sessions" "$LOGS/scale-large.log" && break
  sleep 1
done
grep -o 'deleted[^ ]*' "$LOGS/scale-large.log" | head -n 1 | tr -dc '0-9' \
  | awk '{printf "{\"deleted\": %d}\n", $1}' >"$RES/scale-sweep.json"
scale_measure scale-large "$LARGE_URL" "$LARGE_PID"
stop_server "$LARGE_PID"
rm -rf "$WORK/scale-large" "$WORK/scale-small"
