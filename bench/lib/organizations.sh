# The organizations table of bench/run (sourced by it: uses its helpers, variables and exit trap).
#
# One organization of BENCH_ORG_MEMBERS members (10,000) in a Portcullis on a fresh SQLite data
# directory and in the better-auth reference with its organization plugin (REF_ORGANIZATION=1), the
# same data in both: the owner signs up and creates the organization through each API, then
# lib/organizations.py inserts the filler users and memberships directly into each SQLite file with
# the servers stopped (copying the owner's own rows, so each server reads what it writes). Then,
# the owner's session on each: list-members pages of 100 (every page in turn, limit/offset) and
# has-permission {"member": ["create"]}, better-auth first, with wrk. Last, a Portcullis on the same
# data logging its SQL (RUST_LOG=sqlx::query=debug) answers each request once more, and the
# statements it ran are counted: the members page is one query, whatever the page size.

ORG_MEMBERS=${BENCH_ORG_MEMBERS:-10000}
ORG_CONNS=${BENCH_ORG_CONNECTIONS:-8}
[[ $ORG_MEMBERS =~ ^[0-9]+$ && $ORG_MEMBERS -ge 2 ]] || die "BENCH_ORG_MEMBERS must be a whole number >= 2"
[[ $ORG_CONNS =~ ^[0-9]+$ && $ORG_CONNS -gt 0 ]] || die "BENCH_ORG_CONNECTIONS must be a positive whole number"

org_skip=""
wants better-auth || org_skip="better-auth is not among BENCH_TARGETS (the table is a comparison)"

# org_portcullis NAME [VAR=VALUE...]: a Portcullis on $WORK/org-portcullis; sets O_URL and O_PID.
org_portcullis() {
  local name=$1
  shift
  O_PORT=$(free_port)
  O_URL=http://127.0.0.1:$O_PORT
  env -u PORTCULLIS_CONFIG -u PORTCULLIS_DATABASE_URL -u PORTCULLIS_REDIS_URL -u PORTCULLIS_BIN \
    PORTCULLIS_RATE_LIMITS_ENABLED="$P_RATE_LIMITS" \
    PORTCULLIS_DATA_DIR="$WORK/org-portcullis" \
    PORTCULLIS_LISTEN="127.0.0.1:$O_PORT" \
    PORTCULLIS_BASE_URL="$O_URL" \
    "$@" "$PORTCULLIS_BIN" serve >"$LOGS/$name.log" 2>&1 &
  O_PID=$!
  PIDS+=("$O_PID")
  python3 "$BENCH_DIR/lib/seed.py" wait --base "$O_URL" --pid "$O_PID" --timeout "$READY_TIMEOUT" \
    || die "Portcullis ($name) did not start: $(tail -n 20 "$LOGS/$name.log")"
}

# org_reference: the better-auth reference with the organization plugin on $WORK/org-better-auth;
# sets R_URL and R_PID. Its secret stays the same across restarts (the session cookie is signed).
ORG_SECRET=$(head -c 32 /dev/urandom | base64)
org_reference() {
  R_PORT=$(free_port)
  R_URL=http://127.0.0.1:$R_PORT
  NODE_ENV=production PORT=$R_PORT REF_DATA_DIR="$WORK/org-better-auth" REF_ORGANIZATION=1 \
    BETTER_AUTH_SECRET=$ORG_SECRET \
    node "$BENCH_DIR/reference/server.mjs" >>"$LOGS/org-better-auth.log" 2>&1 &
  R_PID=$!
  PIDS+=("$R_PID")
  python3 "$BENCH_DIR/lib/seed.py" wait --base "$R_URL" --pid "$R_PID" --timeout "$READY_TIMEOUT" \
    || die "better-auth (organizations) did not start: $(tail -n 20 "$LOGS/org-better-auth.log")"
}

# org_measure TARGET URL PID [REQUESTS...]: list-members pages and has-permission (or the
# request kinds named), each after a warm-up. TARGET names the results; the request lines are
# those of portcullis or better-auth.
org_measure() {
  local target=$1 url=$2 what lines=${1%-unkept}
  SERVER_PID=$3
  shift 3
  local kinds=("$@")
  (( ${#kinds[@]} )) || kinds=(list-members has-permission)
  for what in "${kinds[@]}"; do
    export BENCH_REQUESTS=$WORK/org-$lines-$what.txt
    log "organizations: $target $what, $ORG_CONNS connections, ${WARMUP}s warm-up + ${DURATION}s"
    if (( WARMUP > 0 )); then
      run_wrk "warmup-org-$target-$what" "$url" requests.lua "$ORG_CONNS" "$WARMUP"
    fi
    run_wrk "org-$target-$what" "$url" requests.lua "$ORG_CONNS" "$DURATION"
  done
}

if [[ -n $org_skip ]]; then
  log "skipping the organizations table: $org_skip"
  echo "{\"skipped\": \"$org_skip\"}" >"$RES/organizations-skipped.json"
else
  mkdir -p "$WORK/org-portcullis" "$WORK/org-better-auth"
  python3 "$BENCH_DIR/lib/seed.py" users --count 1 --out "$WORK/org-owner.tsv"
  org_portcullis org-portcullis-seed
  org_reference
  log "organizations: the owner signs up and creates the organization in each"
  python3 "$BENCH_DIR/lib/seed.py" seed --base "$O_URL" --users "$WORK/org-owner.tsv" \
    --auth bearer --out "$WORK/org-portcullis-session.txt"
  python3 "$BENCH_DIR/lib/seed.py" seed --base "$R_URL" --users "$WORK/org-owner.tsv" \
    --auth cookie --out "$WORK/org-better-auth-session.txt"
  declare -A ORG_ID
  for t in portcullis better-auth; do
    url=$O_URL
    [[ $t == better-auth ]] && url=$R_URL
    ORG_ID[$t]=$(python3 "$BENCH_DIR/lib/organizations.py" create --base "$url" \
      --session "$WORK/org-$t-session.txt" --slug bench-org \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') \
      || die "could not create the organization in $t"
  done
  stop_server "$O_PID" "$R_PID"

  log "organizations: filling $ORG_MEMBERS members into each SQLite file (lib/organizations.py)"
  python3 "$BENCH_DIR/lib/organizations.py" fill --target portcullis \
    --sqlite "$WORK/org-portcullis/portcullis.db" --organization "${ORG_ID[portcullis]}" \
    --members "$ORG_MEMBERS" >"$RES/org-fill-portcullis.json" 2>>"$LOGS/org-fill.log" \
    || die "filling Portcullis failed: $(tail -n 5 "$LOGS/org-fill.log")"
  python3 "$BENCH_DIR/lib/organizations.py" fill --target better-auth \
    --sqlite "$WORK/org-better-auth/better-auth.sqlite" --organization "${ORG_ID[better-auth]}" \
    --members "$ORG_MEMBERS" >"$RES/org-fill-better-auth.json" 2>>"$LOGS/org-fill.log" \
    || die "filling better-auth failed: $(tail -n 5 "$LOGS/org-fill.log")"
  log "organizations: filled: portcullis $(cat "$RES/org-fill-portcullis.json"), better-auth $(cat "$RES/org-fill-better-auth.json")"

  org_portcullis org-portcullis
  org_reference
  for t in portcullis better-auth; do
    url=$O_URL
    [[ $t == better-auth ]] && url=$R_URL
    python3 "$BENCH_DIR/lib/organizations.py" requests --base "$url" --target "$t" \
      --session "$WORK/org-$t-session.txt" --organization "${ORG_ID[$t]}" \
      --members "$ORG_MEMBERS" --out-prefix "$WORK/org-$t" 2>>"$LOGS/org-requests.log" \
      || die "$t's organization answers are wrong: $(tail -n 3 "$LOGS/org-requests.log")"
  done
  org_measure better-auth "$R_URL" "$R_PID"
  org_measure portcullis "$O_URL" "$O_PID"
  stop_server "$O_PID" "$R_PID"
  # The same pages with none kept in memory (every page read from the database): what a page
  # costs the first time, or in an organization whose members change all the time.
  org_portcullis org-portcullis-unkept PORTCULLIS_ORGANIZATION_MEMBER_PAGE_CACHE_MB=0
  org_measure portcullis-unkept "$O_URL" "$O_PID" list-members
  stop_server "$O_PID"

  # With no page kept, so that the page's own statement is the one counted.
  log "organizations: counting the SQL statements of each request (RUST_LOG=sqlx::query=debug)"
  org_portcullis org-portcullis-sql RUST_LOG=warn,sqlx::query=debug \
    PORTCULLIS_ORGANIZATION_MEMBER_PAGE_CACHE_MB=0
  python3 "$BENCH_DIR/lib/organizations.py" statements --base "$O_URL" \
    --log "$LOGS/org-portcullis-sql.log" --requests "$WORK/org-portcullis" \
    >"$RES/org-statements.json" 2>>"$LOGS/org-requests.log" \
    || log "warning: could not count the statements: $(tail -n 3 "$LOGS/org-requests.log")"
  stop_server "$O_PID"
  echo "{\"members\": $ORG_MEMBERS, \"connections\": $ORG_CONNS}" >"$RES/organizations.json"
fi
