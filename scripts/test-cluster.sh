#!/usr/bin/env bash
# The part of the suite that also runs on Redis Cluster: the message path end to end (two API
# nodes, the pools, kill -9 of a worker and of an API, ordering under concurrent senders,
# rollback, read-your-writes), membership moves, receipts, sync, presence, typing, forwards,
# media events, message ops, push and the web client, against a local 3-master cluster
# (scripts/redis-cluster.sh); and the failover test, on a 6-node cluster of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  echo "test:cluster needs redis-server (apt-get install -y redis-server)" >&2
  exit 1
fi
bash scripts/redis-cluster.sh start
trap 'bash scripts/redis-cluster.sh stop' EXIT
TEST_REDIS_CLUSTER="$(bash scripts/redis-cluster.sh nodes)" npx vitest run \
  test/e2e/two-nodes.test.ts test/e2e/crash.test.ts test/e2e/groups.test.ts test/e2e/receipts.test.ts \
  test/e2e/sync.test.ts test/e2e/presence.test.ts test/e2e/typing.test.ts test/e2e/forward.test.ts \
  test/e2e/media.test.ts test/e2e/message-ops.test.ts test/e2e/notify.test.ts test/e2e/web-client.test.ts \
  test/unit/keys.test.ts test/integration/redis.mget.test.ts test/cluster/failover.test.ts "$@"
