#!/usr/bin/env bash
# Follows "Running on a lab cluster" in apps/reference/README.md on one machine: starts Redis
# on a free loopback port, two `exitless worker`s, runs a small study through the queue, runs
# the same study locally, and checks that the two wrote the same files, byte for byte.
#
#   scripts/cluster-demo.sh    # from this working tree (what test/queue-cluster.test.ts runs;
#                              # in CI that tree is a fresh clone, as a lab machine's would be)
#
# Needs redis-server (Debian: apt-get install -y redis-server). Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/exitless-cluster-demo.XXXXXX")"
groups=()

cleanup() {
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  # A worker finishes the run in hand before it stops: wait for every process of the groups.
  for _ in $(seq 1 100); do
    alive=0
    for g in "${groups[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { echo "cluster-demo: $*" >&2; }
fail() {
  say "FAILED: $*"
  for log in "$work"/*.log; do
    [[ -f "$log" ]] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

if ! command -v redis-server >/dev/null 2>&1; then
  fail "redis-server is not installed: apt-get install -y redis-server"
fi

cd "$here"

port="$(node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")"
queue="redis://127.0.0.1:$port"

# Step 1 of the README: Redis. (The README's lab Redis listens on the network; this one on
# the loopback address, since every worker is on this machine.)
say "1. Redis on $queue"
setsid redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
groups+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null 2>&1 || fail "redis-server did not start on port $port"

# Step 2: a worker on each machine (here: two on this one).
for n in 1 2; do
  say "2. worker-$n"
  setsid pnpm -s exitless worker --queue "$queue" --name "worker-$n" >"$work/worker-$n.log" 2>&1 &
  groups+=($!)
done
# Both listen before the study starts, so that each takes a share of its runs.
for n in 1 2; do
  for _ in $(seq 1 600); do
    grep -q 'waiting for runs on' "$work/worker-$n.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q 'waiting for runs on' "$work/worker-$n.log" || fail "worker-$n did not start listening within 60 s"
done

# Step 3: the study, through the queue; then the same study on this machine's threads.
study=(reproduce --workloads netperf-tcp-stream,memcached --modes bare-metal,baseline,eli --duration 20 --warmup 5)
say "3. exitless ${study[*]} --queue $queue"
timeout 300 pnpm -s exitless "${study[@]}" --queue "$queue" --out "$work/cluster" >"$work/cluster.txt" 2>"$work/coordinator.log" ||
  fail "the study through the queue"
say "   the same study locally"
timeout 300 pnpm -s exitless "${study[@]}" --out "$work/local" >"$work/local.txt" 2>"$work/local.log" || fail "the local study"

diff -r "$work/cluster" "$work/local" >&2 || fail "the files of the queued and the local study differ"
diff "$work/cluster.txt" "$work/local.txt" >&2 || fail "the tables of the queued and the local study differ"
ran="worker-1: $(grep -c '^worker worker-1: ran ' "$work/worker-1.log"), worker-2: $(grep -c '^worker worker-2: ran ' "$work/worker-2.log")"
grep -q '^queue: 6 runs: 6 run by workers' "$work/coordinator.log" || fail "the coordinator's summary"
say "OK: 6 runs on the workers ($ran), the same files as the local study: $(cd "$work/cluster" && ls | paste -sd' ' -)"
