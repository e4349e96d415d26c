#!/usr/bin/env bash
# Measures what each kind of process death costs a room: one publisher and
# SUBS subscribers (rtcloud bench) on a local cluster of four SFU nodes in
# three regions (rtcloud dev --nodes 4 --regions eu,us,ap,us: sfu-eu-1,
# sfu-us-1, sfu-ap-1, sfu-us-2, on three clustered NATS servers), where eu
# and ap may not talk directly (relay.links: eu-us, us-ap), so media from eu
# to ap crosses a us node. The publisher joins in eu, the subscribers half
# in us and half in ap (X-Forwarded-For through the trusted local proxy).
# When the measured window starts, one process is killed with SIGKILL (or a
# node is drained with migration), and the bench reports each subscriber's
# longest media gap. One row per case:
#
#   scripts/failover.sh                 # every case
#   SUBS=30 DUR=12s scripts/failover.sh publisher-node signal
#
# Cases: none (nothing killed: the measurement's floor), publisher-node (the SFU node of the room: the publisher and the
# subscribers move), signal (the signaling server the clients use),
# controller (the leading controller), nats (one of the three NATS servers),
# drain (POST /v1/admin/nodes/{id}/drain?migrate=true on the room's node),
# sigterm (SIGTERM to the room's node, which migrates its clients first).
#
# Uses the ports of `rtcloud dev --nodes 4` (7800-7810, 7900-7923) and
# 4301-4303/6301-6303 for NATS; results in $OUT (default /tmp/rtcloud-failover).
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS=${SUBS:-30}
DUR=${DUR:-12s}
OUT=${OUT:-/tmp/rtcloud-failover}
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(none signal controller nats publisher-node subscriber-node relay-hop drain sigterm)
mkdir -p "$OUT"

BIN="$OUT/rtcloud"
go build -o "$BIN" ./cmd/rtcloud
NATS_URLS=nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() { # url
  for _ in $(seq 1 150); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "failover: $1 never answered" >&2
  return 1
}

start_nats() {
  for i in 1 2 3; do
    routes=""
    for j in 1 2 3; do [ "$j" = "$i" ] || routes="$routes${routes:+,}nats://127.0.0.1:630$j"; done
    "$BIN" nats --name "n$i" --port "430$i" --cluster-port "630$i" --routes "$routes" >"$OUT/nats-$i.log" 2>&1 &
    NATS_PIDS[$i]=$!
    PIDS+=($!)
  done
}

start_cluster() {
  # A fresh set of NATS servers for each case, so a killed one is back.
  NATS_PIDS=()
  start_nats
  sleep 1
  printf 'relay:\n  links:\n    - [eu, us]\n    - [us, ap]\n' >"$OUT/links.yaml"
  RTCLOUD_MIGRATE_ON_SHUTDOWN=10s "$BIN" dev --nodes 4 --regions eu,us,ap,us --config "$OUT/links.yaml" \
    --nats "$NATS_URLS" --advertise-ip 127.0.0.1 >"$OUT/cluster-$1.log" 2>&1 &
  CLUSTER_PID=$!
  PIDS+=($!)
  wait_http http://127.0.0.1:7800/healthz
  wait_http http://127.0.0.1:7810/healthz
  wait_http http://127.0.0.1:7900/healthz
  for m in 7920 7921 7922 7923; do wait_http "http://127.0.0.1:$m/healthz"; done
  sleep 2 # every controller and node has heard every node (placement, routes)
}

stop_cluster() {
  kill -INT "$CLUSTER_PID" 2>/dev/null || true
  wait "$CLUSTER_PID" 2>/dev/null || true
  for i in 1 2 3; do kill "${NATS_PIDS[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

# The action each case takes when the window starts (run by bench's
# --at-window, through this script's "act" mode).
if [ "${1:-}" = act ]; then
  case_name=$2
  admin() { "$BIN" token --room '*' --identity ops --admin; }
  case "$case_name" in
    none) ;;
    publisher-node) pkill -9 -f -- "sfu --node-id sfu-eu-1 " ;;
    subscriber-node) pkill -9 -f -- "sfu --node-id sfu-ap-1 " ;;
    relay-hop)
      hop=$(curl -fs -H "Authorization: Bearer $(admin)" http://127.0.0.1:7900/v1/admin/routes |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["tables"]["sfu-eu-1"]["sfu-ap-1"])')
      echo "failover: killing the relay hop $hop" >&2
      pkill -9 -f -- "sfu --node-id $hop " ;;
    sigterm) pkill -TERM -f -- "sfu --node-id sfu-eu-1 " ;;
    signal) pkill -9 -f -- "signal --http 127.0.0.1:7800" ;;
    controller)
      for p in 7900 7901; do
        if curl -fs "http://127.0.0.1:$p/v1/status" | grep -q '"leader":true'; then
          pkill -9 -f -- "controller --http 127.0.0.1:$p"
        fi
      done ;;
    nats) pkill -9 -f -- "nats --name n1 " ;;
    drain)
      curl -fs -X POST -H "Authorization: Bearer $(admin)" "http://127.0.0.1:7900/v1/admin/nodes/sfu-eu-1/drain?migrate=true" >/dev/null ;;
  esac
  exit 0
fi

printf '%-16s %8s %8s %8s %10s %6s %6s %14s %14s\n' killed gap_p50 gap_p95 gap_max recovered lost moves moved_p95/max stayed_p95/max
for c in "${CASES[@]}"; do
  start_cluster "$c"
  ips=10.2.0.1,10.3.0.1
  [ "$c" = relay-hop ] && ips=10.3.0.1
  "$BIN" bench --url ws://127.0.0.1:7800 --metrics-url - --subscribers "$SUBS" --video-kbps 500 --subscriber-ips "$ips" \
    --duration "$DUR" --quiet --label "$c" --json-out "$OUT/$c.json" \
    --at-window "$0 act $c" >"$OUT/bench-$c.txt" 2>"$OUT/bench-$c.err" || echo "failover: bench failed for $c (see $OUT/bench-$c.err)" >&2
  stop_cluster
  if [ -f "$OUT/$c.json" ]; then
    python3 - "$OUT/$c.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
q = lambda k: {"p50": 0, "p95": 0, "max": 0} | r.get(k, {})
g = q("media_gap_ms")
m, s = q("media_gap_moved_ms"), q("media_gap_stayed_ms")
print(f'{r["label"]:<16} {g["p50"]:>6.0f}ms {g["p95"]:>6.0f}ms {g["max"]:>6.0f}ms {r["recovered"]:>6}/{r["joined"]:<3} {r["lost"]:>6} {r["moves"]:>6}'
      f' {m["p95"]:>6.0f}/{m["max"]:<5.0f}ms {s["p95"]:>6.0f}/{s["max"]:<5.0f}ms')
EOF
  fi
done
