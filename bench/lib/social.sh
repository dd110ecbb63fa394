# The social sign-in table of bench/run (sourced by it: uses its helpers, variables and exit trap).
#
# The loopback OpenID Connect provider of the tests (tests/oidc-provider/server.mjs, panva's
# oidc-provider) with its per-request timing on (PORTCULLIS_OIDC_TIMING=1), a Portcullis on a fresh
# SQLite data directory with that provider as `acme` (social.allow_insecure_loopback), and
# lib/social.py playing the browser: BENCH_SOCIAL_SIGNINS full sign-ins of new users, then of the
# same users again, one at a time, timing each callback as the client sees it and the provider's
# own time for Portcullis' requests to it during that callback. Portcullis' share = the difference.

SOCIAL_SIGNINS=${BENCH_SOCIAL_SIGNINS:-200}
SOCIAL_WARMUP=${BENCH_SOCIAL_WARMUP:-20}
[[ $SOCIAL_SIGNINS =~ ^[0-9]+$ && $SOCIAL_SIGNINS -gt 0 ]] || die "BENCH_SOCIAL_SIGNINS must be a positive whole number"
[[ $SOCIAL_WARMUP =~ ^[0-9]+$ ]] || die "BENCH_SOCIAL_WARMUP must be a whole number"

social_skip=""
IDP_DIR=$ROOT/tests/oidc-provider
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  social_skip="node or npm not found (the loopback provider needs Node 20+)"
elif [[ ! -d $IDP_DIR/node_modules/oidc-provider ]]; then
  log "installing the loopback OpenID Connect provider: npm ci in tests/oidc-provider"
  (cd "$IDP_DIR" && npm ci --no-audit --no-fund) >&2 || social_skip="npm ci in tests/oidc-provider failed"
fi

if [[ -n $social_skip ]]; then
  log "skipping the social sign-in table: $social_skip"
  echo "{\"skipped\": \"$social_skip\"}" >"$RES/social-skipped.json"
else
  IDP_OUT=$LOGS/oidc-provider.out
  (cd "$IDP_DIR" && PORTCULLIS_OIDC_TIMING=1 exec node server.mjs) >"$IDP_OUT" 2>"$LOGS/oidc-provider.log" &
  IDP_PID=$!
  PIDS+=("$IDP_PID")
  IDP_ISSUER=""
  for _ in $(seq $(( READY_TIMEOUT * 10 ))); do
    IDP_ISSUER=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    try: print(json.loads(l)["issuer"]); break
    except Exception: pass' "$IDP_OUT" 2>/dev/null || true)
    [[ -n $IDP_ISSUER ]] && break
    kill -0 "$IDP_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $IDP_ISSUER ]] || die "the loopback provider did not start: $(tail -n 5 "$LOGS/oidc-provider.log")"
  S_PORT=$(free_port)
  S_URL=http://127.0.0.1:$S_PORT
  mkdir -p "$WORK/portcullis-social-data"
  log "social: provider $IDP_ISSUER, Portcullis on $S_URL (SQLite)"
  env -u PORTCULLIS_CONFIG -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_REDIS_URL -u PORTCULLIS_BIN \
    PORTCULLIS_RATE_LIMITS_ENABLED="$P_RATE_LIMITS" \
    PORTCULLIS_SOCIAL_ALLOW_INSECURE_LOOPBACK=true \
    PORTCULLIS_SOCIAL_ACME_ISSUER="$IDP_ISSUER" \
    PORTCULLIS_SOCIAL_ACME_CLIENT_ID=portcullis-bench \
    PORTCULLIS_SOCIAL_ACME_CLIENT_SECRET=portcullis-bench-secret \
    PORTCULLIS_DATA_DIR="$WORK/portcullis-social-data" \
    PORTCULLIS_LISTEN="127.0.0.1:$S_PORT" \
    PORTCULLIS_BASE_URL="$S_URL" \
    "$PORTCULLIS_BIN" serve >"$LOGS/portcullis-social.log" 2>&1 &
  S_PID=$!
  PIDS+=("$S_PID")
  python3 "$BENCH_DIR/lib/seed.py" wait --base "$S_URL" --pid "$S_PID" --timeout "$READY_TIMEOUT" \
    || die "Portcullis (social) did not start: $(tail -n 20 "$LOGS/portcullis-social.log")"
  log "social: $SOCIAL_WARMUP + $SOCIAL_SIGNINS sign-ins of new users, then of the same users again, one at a time"
  timeout --kill-after=5 $(( SOCIAL_SIGNINS * 4 + 300 )) python3 "$BENCH_DIR/lib/social.py" \
    --base "$S_URL" --issuer "$IDP_ISSUER" --timing "$IDP_OUT" \
    --count "$SOCIAL_SIGNINS" --warmup "$SOCIAL_WARMUP" \
    >"$RES/social.json" 2>"$LOGS/social.log" &
  wait "$!" || die "the social sign-in benchmark failed: $(tail -n 3 "$LOGS/social.log")"
  stop_server "$S_PID" "$IDP_PID"
fi
