# The hosted pages table of bench/run (sourced by it: uses its helpers, variables and exit trap).
#
# A Portcullis on a fresh SQLite data directory with the pages on (their default), and
# lib/pages.py playing a browser: BENCH_PAGES_REQUESTS GETs each of /sign-in, /account (signed in)
# and the baseline /api/auth/ok, one at a time, interleaved; page p50 - baseline p50 is the
# rendering. It also weighs each page with everything it links (stylesheet, script, images).

PAGES_REQUESTS=${BENCH_PAGES_REQUESTS:-2000}
PAGES_WARMUP=${BENCH_PAGES_WARMUP:-200}
[[ $PAGES_REQUESTS =~ ^[0-9]+$ && $PAGES_REQUESTS -gt 0 ]] || die "BENCH_PAGES_REQUESTS must be a positive whole number"
[[ $PAGES_WARMUP =~ ^[0-9]+$ ]] || die "BENCH_PAGES_WARMUP must be a whole number"

G_PORT=$(free_port)
G_URL=http://127.0.0.1:$G_PORT
mkdir -p "$WORK/portcullis-pages-data"
log "pages: Portcullis on $G_URL (SQLite), $PAGES_WARMUP + $PAGES_REQUESTS requests of each page, one at a time"
env -u PORTCULLIS_CONFIG -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_REDIS_URL -u PORTCULLIS_BIN \
  PORTCULLIS_RATE_LIMITS_ENABLED="$P_RATE_LIMITS" \
  PORTCULLIS_UI_ENABLED=true \
  PORTCULLIS_DATA_DIR="$WORK/portcullis-pages-data" \
  PORTCULLIS_LISTEN="127.0.0.1:$G_PORT" \
  PORTCULLIS_BASE_URL="$G_URL" \
  "$PORTCULLIS_BIN" serve >"$LOGS/portcullis-pages.log" 2>&1 &
G_PID=$!
PIDS+=("$G_PID")
python3 "$BENCH_DIR/lib/seed.py" wait --base "$G_URL" --pid "$G_PID" --timeout "$READY_TIMEOUT" \
  || die "Portcullis (pages) did not start: $(tail -n 20 "$LOGS/portcullis-pages.log")"
timeout --kill-after=5 $(( PAGES_REQUESTS / 10 + 300 )) python3 "$BENCH_DIR/lib/pages.py" \
  --base "$G_URL" --count "$PAGES_REQUESTS" --warmup "$PAGES_WARMUP" \
  ${PORTCULLIS_UI_LOGO_URL:+--logo "$PORTCULLIS_UI_LOGO_URL"} \
  >"$RES/pages.json" 2>"$LOGS/pages.log" &
wait "$!" || die "the pages benchmark failed: $(tail -n 3 "$LOGS/pages.log")"
stop_server "$G_PID"
