#!/usr/bin/env bash
# Measures the CPU of the gateways: one RTMP ingest of a 720p30 H.264/AAC
# stream (video passed through, audio transcoded to Opus), and SIP calls
# (G.711 A-law <-> Opus) in one room. Each gateway runs as its own process
# (`rtcloud ingress`, `rtcloud sip`) beside `rtcloud dev`; what is counted
# is the gateway process and its ffmpeg children, over DUR seconds.
# Needs ffmpeg and sipp (scripts/test-deps.sh). Run on purpose; not part
# of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rtcloud-gw-bench}
DUR=${DUR:-30}
CALLS=${CALLS:-2}
mkdir -p "$OUT"
go build -o "$OUT/rtcloud" ./cmd/rtcloud
R="$OUT/rtcloud"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# ticks PID: user+system clock ticks of PID and its live children.
ticks() {
  local t=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    read -r -a f < "/proc/$p/stat" || continue
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
# measure NAME PID: per cent of one core over DUR seconds.
measure() {
  local a b hz
  hz=$(getconf CLK_TCK)
  a=$(ticks "$2"); sleep "$DUR"; b=$(ticks "$2")
  echo "$1: $(( (b - a) * 100 / hz / DUR )).$(( (b - a) * 1000 / hz / DUR % 10 ))% of one core"
}

printf 'ingress:\n  rtmp_addr: ""\nsip:\n  addr: ""\n' > "$OUT/dev.yaml"
rm -f "$OUT/dev.out"
"$R" dev --config "$OUT/dev.yaml" --http 127.0.0.1:17800 --media-port 0 > "$OUT/dev.out" 2> "$OUT/dev.log" &
pids+=($!)
for _ in $(seq 50); do grep -q "NATS:" "$OUT/dev.out" 2>/dev/null && break; sleep 0.2; done
NATS=$(awk '/NATS:/ {print $2}' "$OUT/dev.out")
WS=ws://127.0.0.1:17800/ws

# RTMP: a pre-encoded 720p30 stream (2.5 Mbit/s H.264, AAC), copied to the
# gateway in real time so the publishing ffmpeg costs almost nothing.
if [ ! -f "$OUT/720p30.flv" ]; then
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \
    -t $((DUR + 20)) -c:v libx264 -preset veryfast -tune zerolatency -g 60 -b:v 2500k -maxrate 2500k -bufsize 5000k \
    -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$OUT/720p30.flv"
fi
"$R" ingress --dev-keys --nats "$NATS" --signal-url "$WS" --rtmp 127.0.0.1:19350 2> "$OUT/ingress.log" &
ING=$!; pids+=($ING)
sleep 1
TOKEN=$("$R" token --room bench --identity encoder)
ffmpeg -hide_banner -loglevel error -re -i "$OUT/720p30.flv" -c copy -f flv "rtmp://127.0.0.1:19350/live/$TOKEN" &
pids+=($!)
sleep 8
measure "RTMP ingest, 720p30 H.264 2.5 Mbit/s passthrough + AAC->Opus (rtcloud ingress and its ffmpeg)" "$ING"
kill "$ING"; wait "$ING" 2>/dev/null || true

# The same stream with ingress.simulcast: two more layers scaled by ffmpeg.
printf 'ingress:\n  simulcast: true\n' > "$OUT/ingress-simulcast.yaml"
"$R" ingress --dev-keys --config "$OUT/ingress-simulcast.yaml" --nats "$NATS" --signal-url "$WS" --rtmp 127.0.0.1:19351 \
  2> "$OUT/ingress-simulcast.log" &
ING=$!; pids+=($ING)
sleep 1
ffmpeg -hide_banner -loglevel error -re -i "$OUT/720p30.flv" -c copy -f flv "rtmp://127.0.0.1:19351/live/$TOKEN" &
pids+=($!)
sleep 8
measure "RTMP ingest with simulcast, 720p30 + 640x360 + 320x180 (rtcloud ingress and its two ffmpeg)" "$ING"
kill "$ING"

# SIP: CALLS callers streaming a tone into one room; each hears the others.
ffmpeg -hide_banner -loglevel error -y -f lavfi -i sine=frequency=1000:duration=5 -ar 8000 -ac 1 -c:a pcm_alaw "$OUT/tone.wav"
cp scripts/gateways/uac_stream.xml "$OUT/"
# No dial rule: sip:{room}@ joins the room, as in dev.
printf 'sip:\n  rtp_port_min: 31000\n  rtp_port_max: 31199\n  room_from_uri: true\n' > "$OUT/sip.yaml"
"$R" sip --dev-keys --config "$OUT/sip.yaml" --nats "$NATS" --signal-url "$WS" --sip 127.0.0.1:15060 --advertise-ip 127.0.0.1 2> "$OUT/sip.log" &
SIP=$!; pids+=($SIP)
sleep 1
(cd "$OUT" && sipp -sf uac_stream.xml -s bench -m "$CALLS" -l "$CALLS" -r "$CALLS" -i 127.0.0.1 -p 15099 \
  -mp 32000 -nostdin 127.0.0.1:15060 > sipp.out 2>&1) &
pids+=($!)
sleep 8
measure "SIP, $CALLS calls in one room, G.711 A-law <-> Opus (rtcloud sip and its ffmpeg)" "$SIP"
grep -c "SIP caller joined the room" "$OUT/sip.log" | sed 's/^/calls joined: /'
