#!/usr/bin/env bash
# A local Redis Cluster from Debian's redis-server, for tests and benchmarks (no Docker here).
#
#   scripts/redis-cluster.sh start [--replicas]   3 masters on 7101-7103; with --replicas, 6
#                                                 nodes on 7101-7106, one replica per master
#   scripts/redis-cluster.sh stop
#   scripts/redis-cluster.sh nodes                prints the seed list for REDIS_CLUSTER_NODES
#
# Nodes keep nothing on disk beyond their temp dir (no RDB, no AOF): a test cluster.
set -euo pipefail

BASE_PORT="${REDIS_CLUSTER_BASE_PORT:-7101}"
DIR="${REDIS_CLUSTER_DIR:-/tmp/chat-redis-cluster}"

ports() {
  local n=3
  [ -f "$DIR/replicas" ] && n=6
  seq "$BASE_PORT" $((BASE_PORT + n - 1))
}

nodes() {
  ports | sed 's/^/127.0.0.1:/' | paste -sd, -
}

start() {
  local replicas=0 n=3
  if [ "${1:-}" = "--replicas" ]; then replicas=1; n=6; fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$DIR"
  [ "$replicas" = 1 ] && touch "$DIR/replicas"
  local list=()
  for port in $(seq "$BASE_PORT" $((BASE_PORT + n - 1))); do
    mkdir -p "$DIR/$port"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
      --cluster-enabled yes --cluster-config-file "$DIR/$port/nodes.conf" --cluster-node-timeout 2000 \
      --dir "$DIR/$port" --save "" --appendonly no --logfile "$DIR/$port/redis.log" \
      --repl-diskless-sync-delay 0 \
      --pidfile "$DIR/$port/redis.pid"
    list+=("127.0.0.1:$port")
  done
  for port in $(seq "$BASE_PORT" $((BASE_PORT + n - 1))); do
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${list[@]}" --cluster-replicas "$replicas" --cluster-yes >"$DIR/create.log"
  for _ in $(seq 1 100); do
    if redis-cli -p "$BASE_PORT" cluster info | grep -q "cluster_state:ok"; then
      # Replicas serve a failover only once their first sync is done.
      if [ "$replicas" = 1 ]; then
        for port in $(seq "$BASE_PORT" $((BASE_PORT + n - 1))); do
          for _ in $(seq 1 100); do
            redis-cli -p "$port" info replication | grep -q "role:master\|master_link_status:up" && break
            sleep 0.1
          done
        done
      fi
      echo "Redis Cluster up: $(nodes)"
      return 0
    fi
    sleep 0.1
  done
  echo "Redis Cluster did not reach cluster_state:ok" >&2
  return 1
}

stop() {
  [ -d "$DIR" ] || return 0
  for pidfile in "$DIR"/*/redis.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 0.3
  rm -rf "$DIR"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  nodes) nodes ;;
  *) echo "usage: $0 start [--replicas] | stop | nodes" >&2; exit 2 ;;
esac
