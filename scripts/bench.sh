#!/usr/bin/env bash
# Reproduces the figures of docs/benchmarks.md on one machine with at least
# 2 cores: the server (`rtcloud dev`) pinned to core 0, the load generator
# (`rtcloud bench`) to core 1, over loopback. Long: run it on purpose, not
# in CI.
#
#   scripts/bench.sh            every run
#   scripts/bench.sh p1 p4      some of them (p1 p1nobatch p1naive p2 p2naive p2x p2xnaive p4 p5 p6 p7 p7x)
#   BIN=/tmp/old-rtcloud scripts/bench.sh p2x   the same run with another build
#
# Results: one JSON report and one table per run in $OUT (default
# /tmp/rtcloud-bench), the server's /metrics at the end of each run, the
# pprof CPU and allocation profiles of the server during P1 and its heap
# profile at P6.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rtcloud-bench}
DUR=${DUR:-20s}
URL=ws://127.0.0.1:7800
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
	go build -o bin/rtcloud ./cmd/rtcloud
	BIN=bin/rtcloud
fi

SERVER=""
start_server() { # cores, then extra flags of rtcloud dev
	local cores=$1
	shift
	taskset -c "$cores" "$BIN" dev --http 127.0.0.1:7800 --media-port 7801 \
		--advertise-ip 127.0.0.1 --pprof --log-level error "$@" >"$OUT/server.log" 2>&1 &
	SERVER=$!
	for _ in $(seq 100); do
		curl -fs http://127.0.0.1:7800/healthz >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server did not start" >&2
	exit 1
}
LAST=""
stop_server() {
	if [ -n "$SERVER" ] && [ -n "$LAST" ]; then
		curl -fs -o "$OUT/$LAST-metrics.txt" http://127.0.0.1:7800/metrics || true
	fi
	[ -n "$SERVER" ] && kill "$SERVER" && wait "$SERVER" || true
	SERVER=""
}
trap stop_server EXIT

run() { # name, generator cores, then bench flags
	local name=$1 cores=$2
	shift 2
	echo "== $name"
	LAST=$name
	taskset -c "$cores" "$BIN" bench --url $URL --quiet --label "$name" \
		--json-out "$OUT/$name.json" "$@" | tee "$OUT/$name.txt"
}

# P1/P3: 1 VP8 publisher at 2 Mbit/s (~1,100-byte packets) to 200 subscribers.
P1="--subscribers 200 --video-kbps 2000 --join-rate 50/s --duration $DUR"
# P2: as many forwarded packets as the generator's core can receive.
P2="--subscribers 300 --video-kbps 2000 --join-rate 50/s --duration $DUR"
# P2x: twice that, beyond what one core of either side sustains.
P2X="--rooms 2 --subscribers 300 --video-kbps 2000 --join-rate 50/s --duration $DUR"

p1() {
	start_server 0
	run p1 1 $P1 &
	local b=$!
	sleep 10 # joins (4 s) and settle, then profile 10 s of the window
	# allocations over 8 s of the same window: what the whole server
	# allocates per forwarded packet (go tool pprof -sample_index=alloc_objects)
	curl -fs -o "$OUT/p1-allocs.prof" "http://127.0.0.1:7800/debug/pprof/allocs?seconds=8" &
	curl -fs -o "$OUT/p1-cpu.prof" "http://127.0.0.1:7800/debug/pprof/profile?seconds=10" || true
	wait $b
	stop_server
}
p1nobatch() { start_server 0 --no-batch-send; run p1-nobatch 1 $P1; stop_server; }
p1naive() {
	start_server 0 --forwarder naive
	run p1-naive 1 $P1
	stop_server
}
p2() { start_server 0; run p2 1 $P2; stop_server; }
p2x() { start_server 0; run p2x 1 $P2X; stop_server; }
p2xnaive() { start_server 0 --forwarder naive; run p2x-naive 1 $P2X; stop_server; }
p2naive() { start_server 0 --forwarder naive; run p2-naive 1 $P2; stop_server; }
p4() { go test -run '^$' -bench 'BenchmarkForward' -benchmem -count 3 ./internal/sfu/ | tee "$OUT/p4.txt"; }
# P5: the server on both cores (the generator shares them).
p5() { start_server 0,1; run p5 0,1 $P2; stop_server; }
# P6: 1,000 audio-only subscribers, resident memory.
p6() {
	start_server 0
	run p6 1 --subscribers 1000 --audio-only --join-rate 100/s --duration 10s &
	local b=$!
	# Once every subscriber has joined: the heap, the goroutines, the memory.
	for _ in $(seq 600); do
		curl -fs http://127.0.0.1:7800/metrics | grep -q '^rtcloud_sfu_sessions{.*} 1001$' && break
		sleep 0.1
	done
	sleep 2
	curl -fs -o "$OUT/p6-heap.prof" "http://127.0.0.1:7800/debug/pprof/heap?gc=1" || true
	curl -fs -o "$OUT/p6-goroutines.txt" "http://127.0.0.1:7800/debug/pprof/goroutine?debug=1" || true
	curl -fs -o "$OUT/p6-memory.txt" http://127.0.0.1:7800/metrics || true
	wait $b
	stop_server
}
# P7: joins at 100/s, token to first frame.
p7() { start_server 0; run p7 1 --subscribers 300 --video-kbps 500 --join-rate 100/s --duration 5s; stop_server; }
# P7 offered faster than the target, to see what one node sustains.
p7x() { start_server 0; run p7x 1 --subscribers 300 --video-kbps 500 --join-rate 130/s --duration 5s; stop_server; }

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(p1 p1nobatch p1naive p2 p2naive p2x p2xnaive p4 p5 p6 p7 p7x)
for s in "${steps[@]}"; do "$s"; done
if [ -f "$OUT/p1.json" ] && [ -f "$OUT/p1-naive.json" ]; then
	echo "== rtcloud vs naive (P1 load)"
	"$BIN" bench --compare "$OUT/p1-naive.json" --from "$OUT/p1.json" | tee "$OUT/p1-vs-naive.txt"
fi
