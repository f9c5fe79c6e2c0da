#!/usr/bin/env bash
# The reduced matrix of docs/benchmarks.md (issue 19), for one idle sitting: K = 1, 2, 4 on one
# Redis and on a throwaway 3-shard Redis Cluster, two loads each (2,000 clients on one hot
# project at 10 mutations/s; 4,000 clients over 200 projects at 50 mutations/s). The full
# matrix (loadtest_matrix.sh) spends ~5 minutes on each 10,000-client hot-project run (the
# presence storm of 10,000 joins on one project); this one takes ~17 minutes in all.
set -u
cd "$(dirname "$0")/.."
export SECRET_KEY=loadtest-secret-0123456789abcdef
OUT=benchmarks/results/$(date +%F); BASE=18200; mkdir -p "$OUT"
for mode in single cluster; do
  DB=bench_matrix_$RANDOM
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $DB" postgres
  export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB REDIS_URL=redis://127.0.0.1:6379/0
  if [ $mode = cluster ]; then TAG=rc- EXTRA=(--redis-cluster); else TAG='' EXTRA=(); fi
  for K in 1 2 4; do
    echo "## $(date +%T) load average: $(cut -d' ' -f1-3 /proc/loadavg) -- $mode K=$K"
    CHANNEL_PREFIX="cs-bench-$RANDOM" .venv/bin/collabspace cluster --gateways "$K" --base-port $BASE \
      "${EXTRA[@]}" > "$OUT/${TAG}cluster-k$K.log" 2>&1 &
    CLUSTER=$!
    for _ in $(seq 240); do grep -q "Ctrl-C" "$OUT/${TAG}cluster-k$K.log" && break; sleep 0.5; done
    GW=(); for k in $(seq "$K"); do GW+=(--gateway "ws://127.0.0.1:$((BASE + k))/ws"); done
    lt() { .venv/bin/collabspace loadtest --api "http://127.0.0.1:$BASE" "${GW[@]}" --quiet \
             --drain 15 --label "gateways=$K" --label "redis=$mode" "$@"; }
    lt --clients 2000 --projects 1 --rate 10 --duration 10 --json "$OUT/${TAG}k$K-c2000-p1.json"
    lt --clients 4000 --projects 200 --rate 50 --duration 10 --json "$OUT/${TAG}k$K-c4000-p200.json"
    if [ $mode = cluster ]; then ps -o pid,time,args -C redis-server | grep -v 6379; fi
    kill -TERM $CLUSTER; wait $CLUSTER
  done
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE $DB WITH (FORCE)" postgres
done
.venv/bin/python benchmarks/summarize_loadtest.py $OUT/k?-c2000-p1.json $OUT/k?-c4000-p200.json $OUT/rc-k?-c2000-p1.json $OUT/rc-k?-c4000-p200.json
echo "## $(date +%T) done"
