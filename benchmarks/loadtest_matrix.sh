#!/usr/bin/env bash
# The runs behind docs/benchmarks.md: for K = 1, 2, 4 gateway nodes, a local cluster
# (`collabspace cluster`) and `collabspace loadtest` runs at 2,000 and 10,000 clients (one hot
# project, and 10,000 over 500 projects), then a mutation-rate sweep. JSON lands in
# benchmarks/results/; benchmarks/plot_sweep.py turns the sweep into docs/img/p99-vs-rate.png.
# Needs DATABASE_URL (an empty PostgreSQL database) and REDIS_URL; with REDIS_CLUSTER=1 the
# same runs go through a throwaway local 3-primary + 3-replica Redis Cluster instead
# (`collabspace cluster --redis-cluster`: SPUBLISH/SSUBSCRIBE), results named rc-k….
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?}"
if [ -n "${REDIS_CLUSTER:-}" ]; then
  TAG=rc- EXTRA=(--redis-cluster) REDIS=cluster
else
  : "${REDIS_URL:?}"
  TAG='' EXTRA=() REDIS=single
fi
export SECRET_KEY="${SECRET_KEY:-loadtest-secret-0123456789abcdef}"
OUT=benchmarks/results
RATES="${RATES:-10 50 100 200 400}"
KS="${KS:-1 2 4}"
BASE=18200
mkdir -p "$OUT"
for K in $KS; do
  CHANNEL_PREFIX="cs-bench-$RANDOM" .venv/bin/collabspace cluster --gateways "$K" --base-port $BASE \
    "${EXTRA[@]}" > "$OUT/${TAG}cluster-k$K.log" 2>&1 &
  CLUSTER=$!
  trap 'kill -TERM $CLUSTER 2>/dev/null; wait $CLUSTER' EXIT
  for _ in $(seq 120); do grep -q "Ctrl-C" "$OUT/${TAG}cluster-k$K.log" && break; sleep 0.5; done
  GW=(); for k in $(seq "$K"); do GW+=(--gateway "ws://127.0.0.1:$((BASE + k))/ws"); done
  lt() { .venv/bin/collabspace loadtest --api "http://127.0.0.1:$BASE" "${GW[@]}" --quiet \
           --drain 15 --label "gateways=$K" --label "redis=$REDIS" "$@"; }
  lt --clients 2000 --projects 1 --rate 10 --duration 10 --json "$OUT/${TAG}k$K-c2000-p1.json"
  lt --clients 10000 --projects 1 --rate 2 --duration 10 --json "$OUT/${TAG}k$K-c10000-p1.json"
  lt --clients 10000 --projects 500 --rate 50 --duration 10 --json "$OUT/${TAG}k$K-c10000-p500.json"
  for R in $RATES; do
    lt --clients 1000 --projects 10 --rate "$R" --duration 8 --label "sweep=1" \
       --json "$OUT/${TAG}sweep-k$K-r$R.json"
  done
  kill -TERM $CLUSTER; wait $CLUSTER || true
  trap - EXIT
done
