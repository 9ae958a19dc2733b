#!/usr/bin/env bash
# End-to-end test of deploy/haproxy/haproxy.cfg on one machine: three backends
# (`guess serve --proxy-protocol`) on 127.0.0.11, .12 and .13, HAProxy on
# 127.0.0.10, and nothing on any other address. Prints PASS or FAIL per check
# of issue 13, then "HAProxy checks: N passed, N failed"; exits 1 on any FAIL.
#
#   deploy/haproxy/test.sh            (or: deno task haproxy-test)
#
# Needs haproxy, python3, and cc for check 6. GUESS_TEST_PORT picks the port
# (default 14321) on all four addresses; DENO the deno binary. Every process it
# starts is killed by PID on exit, also on failure or Ctrl-C; a watchdog ends
# the whole run after 170 s.
set -uo pipefail
cd "$(dirname "$0")/../.."

PORT=${GUESS_TEST_PORT:-14321}
DIRECT_PORT=$((PORT + 1))
LB=127.0.0.10
HOSTS=(127.0.0.11 127.0.0.12 127.0.0.13)
# The client timeout of the probes (check 4), and the stated limits.
CLIENT_TIMEOUT=3
DOWN_DEAD_WITHIN=5 # a killed backend is marked DOWN within this many seconds
DOWN_HUNG_WITHIN=7 # a frozen one (connects succeed, no answer)
UP_WITHIN=5        # a restarted one is taken back
LOAD_SECONDS=${GUESS_LOAD_SECONDS:-5}
# Checks 1 to 5 read the backends' connection lines; check 6 measures without them.
VERBOSE=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/guess-haproxy.XXXXXX")
PIDS=()
WATCHDOG=
passed=0
failed=0

cleanup() {
  trap - EXIT INT TERM
  kill -TERM "$WATCHDOG" 2>/dev/null # it kills its sleep
  for pid in "${PIDS[@]}"; do
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "${KEEP_LOGS:-}" = 1 ]; then echo "Logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "FAIL interrupted"; echo "HAProxy checks: $passed passed, $((failed + 1)) failed"; exit 130' INT TERM
# Bounded in time even if something hangs: every step below has its own timeout, and this
# ends the script (the EXIT trap still cleans up) if they add up to too much.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep 170 &
  sleeper=$!
  wait "$sleeper" && echo "FAIL the whole run took over 170 s" && kill -TERM $$
) &
WATCHDOG=$!

pass() {
  echo "PASS $1 [${SECONDS} s]"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL $1 [${SECONDS} s]"
  failed=$((failed + 1))
}
# verdict OK NAME: PASS NAME when OK is 1, else FAIL NAME.
verdict() {
  if [ "$1" = 1 ]; then pass "$2"; else fail "$2"; fi
}
note() { echo "     $*"; }

probe() { timeout 60 python3 deploy/haproxy/probe.py "$@"; }

need() {
  if ! command -v "$1" >/dev/null; then
    echo "FAIL setup: $1 is not installed ($2)"
    echo "HAProxy checks: 0 passed, 1 failed"
    exit 1
  fi
}
need haproxy "apt-get install haproxy"
need python3 "apt-get install python3"
# The real binary, so that the PIDs below are the servers themselves (not an npx wrapper).
DENO=$("${DENO:-deno}" eval 'console.log(Deno.execPath())' 2>/dev/null) || need deno "set DENO"
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# start_backend N LOG [extra serve flags...]: starts backend N (1..3), sets BACKEND_PID.
start_backend() {
  local n=$1 log=$2
  shift 2
  "$DENO" run --allow-net --v8-flags=--max-semi-space-size=4 main.ts serve \
    --hostname "${HOSTS[$((n - 1))]}" --port "$PORT" --proxy-protocol --grace 5 \
    --log-format json ${VERBOSE:+--verbose} "$@" 2>"$log" &
  BACKEND_PID=$!
  PIDS+=("$BACKEND_PID")
}

# wait_listening LOG: until the server's log says it listens (at most 15 s).
wait_listening() {
  for _ in $(seq 150); do
    grep -q 'Listening on' "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "Not listening after 15 s: $1"
  cat "$1"
  return 1
}

# The three backends' logs, in order.
logs() { echo "$WORK/s1.log" "$WORK/s2.log" "$WORK/s3.log"; }

declare -a BPID
for n in 1 2 3; do
  start_backend "$n" "$WORK/s$n.log"
  BPID[n]=$BACKEND_PID
done
for n in 1 2 3; do wait_listening "$WORK/s$n.log" || exit 1; done

GUESS_BIND="$LB:$PORT" GUESS_SOURCE="$LB" GUESS_MAXCONN=4000 \
  GUESS_S1="${HOSTS[0]}:$PORT" GUESS_S2="${HOSTS[1]}:$PORT" GUESS_S3="${HOSTS[2]}:$PORT" \
  GUESS_ADMIN_SOCKET="$WORK/admin.sock" \
  haproxy -db -f deploy/haproxy/haproxy.cfg 2>"$WORK/haproxy.log" &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
for _ in $(seq 100); do [ -S "$WORK/admin.sock" ] && break; sleep 0.1; done
for n in 1 2 3; do
  if ! probe wait "$WORK/admin.sock" "s$n" UP 10 >/dev/null; then
    echo "FAIL setup: backend s$n never came UP in HAProxy"
    cat "$WORK/haproxy.log" "$WORK/s$n.log"
    echo "HAProxy checks: 0 passed, 1 failed"
    exit 1
  fi
done
echo "== 3 backends on ${HOSTS[*]}:$PORT, HAProxy on $LB:$PORT (logs in $WORK) [${SECONDS} s]"

# json FILE EXPRESSION: evaluates a Python expression over the JSON in FILE (as `d`).
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- 1. Seed client, play --connect, 300 concurrent games spread over all three ------
check1() {
  local ok=1
  if ! timeout 20 python3 -c '
import asyncio, sys
sys.path.insert(0, "interop")
import seed
for number, outcome in asyncio.run(seed.run_async_client((sys.argv[1], int(sys.argv[2])),
                                                         [(1, 5, 3), (10, 15, 12)])):
    print(f"Client: {number} is {outcome}")' "$LB" "$PORT" >"$WORK/seed.out" 2>&1 ||
    ! grep -qx "Client: 3 is Correct" "$WORK/seed.out"; then
    note "the seed client failed through the balancer:"
    sed 's/^/       /' "$WORK/seed.out"
    ok=0
  fi
  if ! timeout 20 "$DENO" run --allow-net main.ts play --connect "$LB:$PORT" \
    >"$WORK/play.out" 2>&1 || ! grep -qx "Client: 3 is Correct" "$WORK/play.out"; then
    note "play --connect failed through the balancer:"
    sed 's/^/       /' "$WORK/play.out"
    ok=0
  fi
  if ! probe games "$LB" "$PORT" 300 >"$WORK/games300.json"; then
    note "300 concurrent games: $(cat "$WORK/games300.json")"
    ok=0
  fi
  probe where "$WORK/games300.json" $(logs) >"$WORK/where300.json"
  local spread
  spread=$(json "$WORK/where300.json" '" ".join(str(len(v)) for v in d["logs"].values())')
  note "seed client and play --connect played; 300 concurrent games, per backend: $spread"
  for count in $spread; do [ "$count" -gt 0 ] || ok=0; done
  verdict "$ok" "1 seed client, play --connect and 300 concurrent games through HAProxy"
}

# --- 2. The backends log the real client addresses (PROXY v2), not HAProxy's ---------
check2() {
  probe opened $(logs) >"$WORK/opened.json"
  local hosts vias missing
  hosts=$(json "$WORK/opened.json" '" ".join(sorted({h for v in d.values() for h in v["hosts"]}))')
  vias=$(json "$WORK/opened.json" '" ".join(sorted({h for v in d.values() for h in v["vias"]}))')
  missing=$(json "$WORK/where300.json" 'len(d["missing"])')
  note "client hosts in the logs: $hosts; via: $vias; of the 300 games' client ports, $missing not logged"
  local ok=0
  [ "$hosts" = "127.0.0.1" ] && [ "$vias" = "$LB" ] && [ "$missing" = 0 ] && ok=1
  verdict "$ok" "2 backends log the real client address and port, HAProxy's only as via"
}

# hold N NAME: starts N games through the balancer in the background (HOLD_PID), waits
# until they all got their first guess and sets VICTIMS_<n> (ports on backend n).
hold() {
  rm -f "$WORK/$2.ports" "$WORK/$2.go"
  timeout 90 python3 deploy/haproxy/probe.py hold "$LB" "$PORT" "$1" "$WORK/$2.ports" \
    "$WORK/$2.go" "$CLIENT_TIMEOUT" >"$WORK/$2.json" 2>&1 &
  HOLD_PID=$!
  PIDS+=("$HOLD_PID")
  for _ in $(seq 100); do [ -f "$WORK/$2.ports" ] && break; sleep 0.1; done
  probe where "$WORK/$2.ports" $(logs) >"$WORK/$2.where"
}

# results NAME LOG KIND: of the held games NAME, those on the backend of LOG are the victims;
# prints "others_ok others victims_of_KIND victims latest_victim_after first_victim_detail".
results() {
  python3 - "$WORK/$1.json" "$WORK/$1.where" "$2" "$3" <<'EOF'
import json, sys
results, where, log, kind = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
victims = set(where["logs"][log])
mine = [r for r in results if r["port"] in victims]
others = [r for r in results if r["port"] not in victims]
print(sum(r["outcome"] == "ok" for r in others), len(others),
      sum(r["outcome"] == kind for r in mine), len(mine),
      max([r["after"] for r in mine] or [0]),
      (mine[0]["detail"] if mine else "-").replace(" ", "_"))
EOF
}

# disturb NAME N SIGNAL KIND WITHIN: holds 30 games (NAME), sends SIGNAL to backend N, waits
# until HAProxy marks it DOWN (at most WITHIN s) and the held games end. Sets DOWN_AFTER, and
# OTHERS_OK OTHERS HIT VICTIMS AFTER DETAIL as `results` prints them (HIT: victims that ended as
# KIND). Fails unless it went DOWN, had victims, every victim ended as KIND and the others finished.
disturb() {
  local name=$1 n=$2 signal=$3 kind=$4 within=$5 down_ok=1
  hold 30 "$name"
  kill -"$signal" "${BPID[$n]}"
  if [ "$signal" = KILL ]; then
    { wait "${BPID[$n]}"; } 2>/dev/null # reaped here, without bash's "Killed" line
  fi
  touch "$WORK/$name.go"
  DOWN_AFTER=$(probe wait "$WORK/admin.sock" "s$n" DOWN "$within") || down_ok=0
  wait "$HOLD_PID"
  read -r OTHERS_OK OTHERS HIT VICTIMS AFTER DETAIL <<<"$(results "$name" "$WORK/s$n.log" "$kind")"
  [ "$down_ok" = 1 ] && [ "$VICTIMS" -gt 0 ] && [ "$HIT" = "$VICTIMS" ] && [ "$OTHERS_OK" = "$OTHERS" ]
}

# new_games WHEN FILE: 60 new games through HAProxy, each of which must finish; notes the result.
new_games() {
  if probe games "$LB" "$PORT" 60 >"$2"; then
    note "60 new games $1: all finished"
  else
    note "60 new games $1: $(cat "$2")"
    return 1
  fi
}

# --- 3. SIGKILL: clients see an error at once, DOWN within a stated time, back later ---
check3() {
  local ok=1
  disturb kill 1 KILL error "$DOWN_DEAD_WITHIN" || ok=0
  note "killed s1 with $VICTIMS of 30 games on it: $HIT got an error, the last after" \
    "${AFTER} s (${DETAIL//_/ }); $OTHERS_OK of $OTHERS on the others finished"
  awk "BEGIN { exit !($AFTER < 1.0) }" || ok=0
  note "s1 marked DOWN after: $DOWN_AFTER s (stated: within $DOWN_DEAD_WITHIN s)"
  new_games "while s1 is down" "$WORK/after-kill.json" || ok=0
  start_backend 1 "$WORK/s1-restarted.log"
  BPID[1]=$BACKEND_PID
  wait_listening "$WORK/s1-restarted.log" || ok=0
  local up
  up=$(probe wait "$WORK/admin.sock" s1 UP "$UP_WITHIN") || ok=0
  probe games "$LB" "$PORT" 60 >"$WORK/after-restart.json" || ok=0
  local back
  back=$(probe opened "$WORK/s1-restarted.log" | python3 -c 'import json,sys; print(list(json.load(sys.stdin).values())[0]["count"])')
  note "restarted s1: UP after $up s (stated: within $UP_WITHIN s), then took $back of 60 new games"
  [ "$back" -gt 0 ] || ok=0
  # From here on backend 1 logs to the new file.
  mv "$WORK/s1.log" "$WORK/s1-killed.log"
  ln -s "$WORK/s1-restarted.log" "$WORK/s1.log"
  verdict "$ok" "3 a killed backend: clients fail at once, DOWN, new games elsewhere, taken back"
}

# --- 4. SIGSTOP: clients time out within the client timeout, no new connections -------
check4() {
  local ok=1
  disturb stop 2 STOP timeout "$DOWN_HUNG_WITHIN" || ok=0
  note "froze s2 with $VICTIMS of 30 games on it: $HIT timed out, the last after ${AFTER} s" \
    "(client timeout $CLIENT_TIMEOUT s: ${DETAIL//_/ }); $OTHERS_OK of $OTHERS on the others finished"
  awk "BEGIN { exit !($AFTER < $CLIENT_TIMEOUT + 1.5) }" || ok=0
  note "s2 marked DOWN after: $DOWN_AFTER s (stated: within $DOWN_HUNG_WITHIN s)"
  new_games "while s2 is frozen" "$WORK/after-stop.json" || ok=0
  kill -CONT "${BPID[2]}"
  probe wait "$WORK/admin.sock" s2 UP "$UP_WITHIN" >/dev/null || ok=0
  verdict "$ok" "4 a frozen backend: clients time out with an error, DOWN, no new games there"
}

# --- 5. SIGTERM: games in progress finish, no new ones start there, exit 0 ------------
check5() {
  local ok=1 log=$WORK/s3.log
  disturb drain 3 TERM ok "$DOWN_DEAD_WITHIN" || ok=0
  note "SIGTERM to s3 with $VICTIMS of 30 games on it: $HIT finished, the last after" \
    "${AFTER} s; $OTHERS_OK of $OTHERS on the others finished; DOWN after $DOWN_AFTER s"
  probe games "$LB" "$PORT" 60 >"$WORK/after-drain.json" || ok=0
  local late
  late=$(python3 - "$log" <<'EOF'
import json, sys
stopping, late = False, 0
for line in open(sys.argv[1]):
    entry = json.loads(line)
    stopping = stopping or entry["msg"] == "Shutting down"
    late += stopping and entry["msg"] == "Connection opened"
print(late)
EOF
)
  local status=timeout
  for _ in $(seq 100); do
    if ! kill -0 "${BPID[3]}" 2>/dev/null; then
      wait "${BPID[3]}"
      status=$?
      break
    fi
    sleep 0.1
  done
  note "60 new games after the SIGTERM: $(json "$WORK/after-drain.json" 'd["ok"]') finished," \
    "$late connections opened on s3 after it began shutting down; s3 exit status: $status"
  [ "$late" = 0 ] && [ "$status" = 0 ] || ok=0
  verdict "$ok" "5 a drained backend: its games finish, no new ones, exit 0"
}

# --- 6. Load through the balancer vs one direct backend (C client, 1000 connections) --
check6() {
  local client=$WORK/epoll_client
  if ! command -v cc >/dev/null || ! cc -O2 -o "$client" bench/epoll_client.c 2>"$WORK/cc.log"; then
    note "no C compiler (apt-get install gcc): $(cat "$WORK/cc.log" 2>/dev/null)"
    fail "6 load through HAProxy vs one direct backend"
    return
  fi
  # Three fresh backends without --verbose (a log line per guess would be what is measured),
  # as the direct one below.
  for n in 1 2; do
    kill -TERM "${BPID[n]}"
    { wait "${BPID[n]}"; } 2>/dev/null
  done
  VERBOSE=
  for n in 1 2 3; do
    start_backend "$n" "$WORK/load-s$n.log"
    BPID[n]=$BACKEND_PID
  done
  for n in 1 2 3; do
    wait_listening "$WORK/load-s$n.log"
    probe wait "$WORK/admin.sock" "s$n" UP 10 >/dev/null
  done
  timeout 60 "$client" "$PORT" 1000 "$LOAD_SECONDS" 100 1 "$LB" >"$WORK/load-lb.json"
  # One backend alone, without the PROXY protocol (the C client sends no header).
  "$DENO" run --allow-net --v8-flags=--max-semi-space-size=4 main.ts serve \
    --hostname "${HOSTS[0]}" --port "$DIRECT_PORT" 2>"$WORK/direct.log" &
  local direct=$!
  PIDS+=("$direct")
  wait_listening "$WORK/direct.log"
  timeout 60 "$client" "$DIRECT_PORT" 1000 "$LOAD_SECONDS" 100 1 "${HOSTS[0]}" >"$WORK/load-direct.json"
  kill -TERM "$direct"
  note "through HAProxy (3 backends): $(cat "$WORK/load-lb.json")"
  note "one backend, direct:          $(cat "$WORK/load-direct.json")"
  local ok
  ok=$(python3 - "$WORK/load-lb.json" "$WORK/load-direct.json" <<'EOF'
import json, sys
runs = [json.load(open(path)) for path in sys.argv[1:]]
# A measurement: every reply must be valid; the fairness numbers (never answered,
# waited over 1 s) are printed above for BENCHMARKS.md, not judged here, because
# one event loop at 1000 connections can still leave some unanswered (issue 10).
print(int(all(r["errors"] == 0 and r["games"] > 0 for r in runs)))
EOF
)
  verdict "$ok" "6 1000 connections through HAProxy and direct: every reply valid (fairness printed)"
}

check1
check2
check3
check4
check5
check6
echo "HAProxy checks: $passed passed, $failed failed"
[ "$failed" = 0 ]
