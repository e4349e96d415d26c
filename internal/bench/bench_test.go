package bench

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startStack runs an embedded NATS server, one SFU node with the given
// forwarder and one signaling server, serving the node's /metrics next to
// the signaling endpoints as `rtcloud dev` does. It returns the ws:// URL.
func startStack(t *testing.T, forwarder string) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	nats, err := bus.StartEmbedded(bus.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	c := config.Default()
	c.NATS.URL = nats.ClientURL()
	c.SFU.MediaPort, c.SFU.BindIP, c.SFU.AdvertiseIPs = 0, "127.0.0.1", []string{"127.0.0.1"}
	c.SFU.HeartbeatInterval = 200 * time.Millisecond
	connect := func(name string) *bus.Client {
		b, err := bus.Connect(bus.Options{URLs: c.NATS.URL, Name: name, KVReplicas: 1, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	node, err := sfu.NewNode(sfu.Options{Config: c.SFU, Bus: connect("sfu"), Logger: log, Forwarder: forwarder})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = node.Run(ctx) }()
	t.Cleanup(func() { stop(); wg.Wait() })

	sigBus := connect("signal")
	beat := make(chan struct{}, 1)
	sub, err := sigBus.Subscribe(bus.NodeHeartbeats, func(*natsgo.Msg) {
		select {
		case beat <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sig, err := signal.NewServer(sctx, signal.Options{Config: c.Signal, Bus: sigBus,
		Verifier: auth.NewVerifier(config.DevKeys()), Keys: config.DevKeys(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sig.Close)
	mux := http.NewServeMux()
	mux.Handle("/", sig.Handler())
	mux.Handle("/metrics", node.MetricsHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	select {
	case <-beat:
	case <-sctx.Done():
		t.Fatal("no node heartbeat")
	}
	for !node.Ready() || !sig.Ready() {
		if sctx.Err() != nil {
			t.Fatal("node or signaling not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func shortRun(url string) Options {
	return Options{URL: url, Subscribers: 3, VideoKbps: 500, Duration: 1500 * time.Millisecond,
		Settle: 500 * time.Millisecond, JoinRate: 20}
}

func runOK(t *testing.T, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var lines []string
	o.Progress = func(l string) { lines = append(lines, l) }
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Error("no progress line")
	}
	var b strings.Builder
	rep.WriteTable(&b)
	t.Log("\n" + b.String())
	return rep
}

// TestBenchReport: a short run against an in-process node has sane,
// non-zero figures and no loss on loopback.
func TestBenchReport(t *testing.T) {
	url := startStack(t, sfu.ForwarderRTCloud)
	rep := runOK(t, shortRun(url))
	if rep.Joined != 3 || rep.JoinFailed != 0 || rep.NoMedia != 0 {
		t.Fatalf("joined %d, failed %d (%v), no media %d", rep.Joined, rep.JoinFailed, rep.JoinErrors, rep.NoMedia)
	}
	// 3 subscribers x (500 kbit/s of ~1,100-byte video + 50 audio packets/s).
	if rep.RxPacketsPerSec < 3*50 || rep.RxKbpsPerSubscriber < 300 {
		t.Errorf("received %.0f packets/s, %.0f kbit/s per subscriber", rep.RxPacketsPerSec, rep.RxKbpsPerSubscriber)
	}
	if rep.Loss > 0.01 {
		t.Errorf("loss %.4f on loopback", rep.Loss)
	}
	if rep.JoinMs.P50 <= 0 || rep.JoinMs.P99 < rep.JoinMs.P50 || rep.JoinMs.P99 > 10000 {
		t.Errorf("join times %+v", rep.JoinMs)
	}
	// The phases follow one another and add up to each join: none is
	// empty, and the slowest of each together cover the slowest join.
	ph := rep.JoinPhasesMs
	if ph.Joined.P50 <= 0 || ph.Subscribed.P50 <= 0 || ph.FirstFrame.Max <= 0 ||
		ph.Joined.Max+ph.Subscribed.Max+ph.Connected.Max+ph.FirstFrame.Max < rep.JoinMs.Max ||
		ph.Joined.P50 > rep.JoinMs.Max || ph.FirstFrame.P50 > rep.JoinMs.Max {
		t.Errorf("join phases %+v, whole join %+v", ph, rep.JoinMs)
	}
	if rep.LatencyMs.Max <= 0 || rep.LatencyMs.P99 < rep.LatencyMs.P50 {
		t.Errorf("latency %+v", rep.LatencyMs)
	}
	s := rep.Server
	if s == nil {
		t.Fatal("no server figures")
	}
	if s.PacketsOutPerSec < rep.RxPacketsPerSec*0.5 || s.CPU <= 0 || s.CPUMicrosPerPacket <= 0 || s.RSSBytes <= 0 {
		t.Errorf("server %+v", *s)
	}
	if s.ForwardMs.P50 <= 0 || s.ForwardMs.P99 < s.ForwardMs.P50 {
		t.Errorf("server read -> last write %+v", s.ForwardMs)
	}
}

// TestBenchCountsLoss: packets dropped on every delivery (retransmissions
// too) show up as loss after NACK recovery.
func TestBenchCountsLoss(t *testing.T) {
	url := startStack(t, sfu.ForwarderRTCloud)
	o := shortRun(url)
	o.Subscribers = 2
	o.ReceiveLoss = func(_ uint32, seq uint16) bool { return seq%10 == 0 }
	rep := runOK(t, o)
	if rep.Loss < 0.03 || rep.Loss > 0.2 {
		t.Fatalf("loss %.4f with every 10th packet dropped, want about 0.1", rep.Loss)
	}
	if rep.NACKsSent == 0 {
		t.Error("no NACKs sent")
	}
}

// TestBenchNaiveForwarder: the same load runs through the naive
// forwarder, selected on the node.
func TestBenchNaiveForwarder(t *testing.T) {
	url := startStack(t, sfu.ForwarderNaive)
	rep := runOK(t, shortRun(url))
	if rep.Joined != 3 || rep.NoMedia != 0 || rep.RxPacketsPerSec < 3*50 {
		t.Fatalf("joined %d, no media %d, %.0f packets/s", rep.Joined, rep.NoMedia, rep.RxPacketsPerSec)
	}
	if rep.Server == nil || rep.Server.PacketsOutPerSec <= 0 {
		t.Fatalf("server %+v", rep.Server)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"50/s": 50, "50": 50, "120/m": 2} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x/s", "0/s", "5/h", "-1"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{}, {URL: "http://x"}, {URL: "ws://h:1", VideoKbps: 1}, {URL: "ws://h:1", Codec: "AV1"}} {
		o.Defaults()
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o := Options{URL: "ws://127.0.0.1:7800"}
	o.Defaults()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if ws, _ := o.wsURL(); ws != "ws://127.0.0.1:7800/ws" || o.metricsURL() != "http://127.0.0.1:7800/metrics" || !o.loopback() {
		t.Errorf("ws %q metrics %q", ws, o.metricsURL())
	}
}

func TestParseMetrics(t *testing.T) {
	body := `# HELP x
process_cpu_seconds_total 12.5
process_resident_memory_bytes 1.5e+08
rtcloud_sfu_packets_total{direction="out",kind="video",node="n"} 1000
rtcloud_sfu_packets_total{direction="out",kind="audio",node="n"} 20
rtcloud_sfu_packets_total{direction="in",kind="video",node="n"} 10
rtcloud_sfu_bytes_total{direction="out",kind="video",node="n"} 1.1e6
garbage{ 1
bad_value x
`
	s := parseMetrics([]byte(body))
	if !s.OK || s.CPUSeconds != 12.5 || s.RSSBytes != 1.5e8 || s.PacketsOut != 1020 || s.PacketsIn != 10 || s.BytesOut != 1.1e6 {
		t.Fatalf("%+v", s)
	}
}

// TestForwardHistogram: the server's forward-time histogram is read from
// its buckets, as the difference between two samples.
func TestForwardHistogram(t *testing.T) {
	sample := func(counts ...float64) serverSample {
		body := ""
		for i, le := range []string{"0.001", "0.002", "0.004", "+Inf"} {
			body += `rtcloud_sfu_forward_seconds_bucket{node="n",le="` + le + `"} ` + strconv.FormatFloat(counts[i], 'f', -1, 64) + "\n"
		}
		return parseMetrics([]byte(body))
	}
	a := sample(10, 10, 10, 10)
	b := sample(10, 60, 110, 110) // 50 in (1,2] ms, 50 in (2,4] ms
	if got := histQuantile(a.Forward, b.Forward, 0.5); got != 0.002 {
		t.Errorf("p50 = %v, want 0.002", got)
	}
	if got := histQuantile(a.Forward, b.Forward, 0.25); got != 0.0015 {
		t.Errorf("p25 = %v, want 0.0015", got)
	}
	if got := histQuantile(b.Forward, b.Forward, 0.5); got != 0 {
		t.Errorf("no observations: %v, want 0", got)
	}
	c := sample(10, 60, 110, 210) // 100 beyond the last bound
	if got := histQuantile(b.Forward, c.Forward, 0.99); got != 0.004 {
		t.Errorf("+Inf bucket: %v, want the last finite bound", got)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("process_cpu_seconds_total 1\nrtcloud_sfu_packets_total{direction=\"out\"} 2\n"))
	f.Add([]byte("a{b}}{ 1 2 3\n}{\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _ = parseMetrics(b) })
}

// TestBenchMeasuresMediaGap: every subscriber loses all its packets for
// 800 ms at the start of the window; the report shows that interruption
// for each of them, and that all recovered.
func TestBenchMeasuresMediaGap(t *testing.T) {
	url := startStack(t, sfu.ForwarderRTCloud)
	var blackout atomic.Bool
	o := shortRun(url)
	o.AudioOnly = true
	o.ReceiveLoss = func(uint32, uint16) bool { return blackout.Load() }
	o.DuringWindow = func(ctx context.Context) {
		blackout.Store(true)
		defer blackout.Store(false)
		t := time.NewTimer(800 * time.Millisecond) // the interruption itself
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	rep := runOK(t, o)
	if rep.MediaGapMs.P50 < 700 || rep.MediaGapMs.Max > 5000 {
		t.Errorf("media gaps %+v, want every subscriber's about 800 ms", rep.MediaGapMs)
	}
	if rep.Recovered != rep.Joined || rep.Lost != 0 {
		t.Errorf("recovered %d, lost %d of %d", rep.Recovered, rep.Lost, rep.Joined)
	}
}

func TestSubscriberSpread(t *testing.T) {
	o := Options{URL: "ws://127.0.0.1:7800", SubscriberURLs: []string{"ws://127.0.0.1:7810"}, SubscriberIPs: []string{"10.1.0.1", "10.2.0.1"}}
	o.Defaults()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"10.1.0.1", "10.2.0.1", "10.1.0.1"} {
		ws, h := o.subscriberDial(i, "ws://127.0.0.1:7800/ws")
		if ws != "ws://127.0.0.1:7810/ws" || h.Get("X-Forwarded-For") != want {
			t.Fatalf("subscriber %d: %s %v", i, ws, h)
		}
	}
	o.SubscriberIPs = []string{"eu"}
	if err := o.Validate(); err == nil {
		t.Fatal("a subscriber ip that is no address passed")
	}
}
