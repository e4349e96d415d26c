package bench

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/rtcloud/rtcloud/pkg/client"
)

// Report is the outcome of one run. Rates are over the measured window;
// loss, latency and join times cover every subscription from its start.
type Report struct {
	Label       string  `json:"label,omitempty"`
	Rooms       int     `json:"rooms"`
	Publishers  int     `json:"publishers_per_room"`
	Subscribers int     `json:"subscribers_per_room"`
	Codec       string  `json:"codec"`
	VideoKbps   int     `json:"video_kbps"`
	Simulcast   bool    `json:"simulcast"`
	AudioOnly   bool    `json:"audio_only"`
	WindowS     float64 `json:"window_s"`

	Joined      int       `json:"joined"`
	JoinFailed  int       `json:"join_failed"`
	JoinErrors  []string  `json:"join_errors,omitempty"`
	JoinsPerSec float64   `json:"joins_per_s"`
	JoinMs      Quantiles `json:"join_ms"` // token to first frame
	NoMedia     int       `json:"no_media"`
	// The join's phases: token to joined (WebSocket, join, first
	// negotiation), joined to subscribed (room state, subscribe and its
	// renegotiation), to media connected (ICE and DTLS; 0 when already up)
	// and to the first frame (mostly the wait for a keyframe).
	JoinPhasesMs struct {
		Joined     Quantiles `json:"joined"`
		Subscribed Quantiles `json:"subscribed"`
		Connected  Quantiles `json:"connected"`
		FirstFrame Quantiles `json:"first_frame"`
	} `json:"join_phases_ms"`

	RxPackets           uint64  `json:"rx_packets"`
	RxPacketsPerSec     float64 `json:"rx_packets_per_s"`
	RxMbps              float64 `json:"rx_mbps"`
	RxKbpsPerSubscriber float64 `json:"rx_kbps_per_subscriber"`
	// Loss is the fraction of packets never received, after NACK
	// recovery, from the gaps in each track's embedded counter.
	Loss                float64 `json:"loss"`
	MaxSubscriberLoss   float64 `json:"max_subscriber_loss"`
	SubscribersOver1Pct int     `json:"subscribers_over_1pct_loss"`
	NACKsSent           uint64  `json:"nacks_sent"`
	// LatencyMs is from the send timestamp in each packet to its receipt,
	// over the window; LatencyAllMs since each subscription started
	// (joins included).
	LatencyMs    Quantiles `json:"latency_ms"`
	LatencyAllMs Quantiles `json:"latency_all_ms"`

	// MediaGapMs: per subscriber, the longest time in the window without a
	// received packet (sampled every 20 ms), as quantiles over subscribers.
	// Recovered counts subscribers whose media came back after an
	// interruption over 200 ms; Lost those receiving nothing for the last
	// 5 s of the window.
	MediaGapMs Quantiles `json:"media_gap_ms"`
	// The same, over the subscribers the server moved to another node
	// (their node failed or drained) and over those it did not.
	MediaGapMovedMs  Quantiles `json:"media_gap_moved_ms"`
	MediaGapStayedMs Quantiles `json:"media_gap_stayed_ms"`
	Recovered        int       `json:"recovered"`
	Lost             int       `json:"lost"`
	// Moves counts sessions the server ended to move them (node failed or
	// draining) and the bench joined again.
	Moves int `json:"moves"`

	GeneratorCPU            float64 `json:"generator_cpu_cores"`
	GeneratorMicrosPerRxPkt float64 `json:"generator_us_per_rx_packet"`

	Server *ServerReport `json:"server,omitempty"`
}

// Quantiles of a distribution, in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95,omitempty"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ServerReport is what the server's /metrics said over the window.
type ServerReport struct {
	PacketsOutPerSec   float64 `json:"packets_out_per_s"`
	PacketsInPerSec    float64 `json:"packets_in_per_s"`
	MbpsOut            float64 `json:"mbps_out"`
	CPU                float64 `json:"cpu_cores"`
	CPUMicrosPerPacket float64 `json:"cpu_us_per_forwarded_packet"`
	RSSBytes           float64 `json:"rss_bytes"`
	RSSBytesPerSub     float64 `json:"rss_bytes_per_subscriber"`
	NACKs              float64 `json:"nacks_received"`
	Retransmissions    float64 `json:"retransmissions"`
	RtxSkipped         float64 `json:"retransmissions_skipped"`
	// ForwardMs is the time the server takes from reading a packet to the
	// last write of its fan-out (its own histogram), over the window.
	ForwardMs Quantiles `json:"forward_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *run) report(a, b totals, sa, sb serverSample, joinDur time.Duration) *Report {
	o := r.o
	rep := &Report{Rooms: o.Rooms, Publishers: o.Publishers, Subscribers: o.Subscribers, Codec: o.Codec,
		VideoKbps: o.VideoKbps, Simulcast: o.Simulcast, AudioOnly: o.AudioOnly,
		WindowS: b.At.Sub(a.At).Seconds(), JoinFailed: r.failed, JoinErrors: r.errors}
	var joins, joined, subscribed, connected, first []time.Duration
	var lat client.Histogram
	for _, s := range r.subs {
		rep.Joined++
		joined = append(joined, s.joined.Sub(s.start))
		subscribed = append(subscribed, s.subscribed.Sub(s.joined))
		if f := s.firstFrame(); f.IsZero() {
			rep.NoMedia++
		} else {
			joins = append(joins, f.Sub(s.start))
			up := s.subscribed // media was up already, or came up after subscribing
			if at := s.client().ConnectedAt(); at.After(up) {
				up = at
			}
			connected = append(connected, up.Sub(s.subscribed))
			first = append(first, max(f.Sub(up), 0))
		}
		var pk, gaps uint64
		for _, t := range s.allTracks() {
			st := t.Stats()
			pk += st.Packets
			gaps += st.CounterGaps
			lat.Merge(t.Latency())
		}
		if pk+gaps > 0 {
			l := float64(gaps) / float64(pk+gaps)
			rep.MaxSubscriberLoss = max(rep.MaxSubscriberLoss, l)
			if l > 0.01 {
				rep.SubscribersOver1Pct++
			}
		}
		rep.NACKsSent += s.client().NACKsSent()
	}
	if joinDur > 0 && rep.Joined > 0 {
		rep.JoinsPerSec = float64(rep.Joined) / joinDur.Seconds()
	}
	rep.JoinMs = quantiles(joins)
	rep.JoinPhasesMs.Joined = quantiles(joined)
	rep.JoinPhasesMs.Subscribed = quantiles(subscribed)
	rep.JoinPhasesMs.Connected = quantiles(connected)
	rep.JoinPhasesMs.FirstFrame = quantiles(first)
	rep.LatencyAllMs = Quantiles{P50: ms(lat.Quantile(0.5)), P99: ms(lat.Quantile(0.99)), Max: ms(lat.Max())}
	lat.Subtract(&r.latStart)
	rep.LatencyMs = Quantiles{P50: ms(lat.Quantile(0.5)), P99: ms(lat.Quantile(0.99)), Max: ms(lat.Max())}
	if b.Packets+b.Gaps > 0 {
		rep.Loss = float64(b.Gaps) / float64(b.Packets+b.Gaps)
	}
	dt := rep.WindowS
	if dt > 0 {
		rep.RxPackets = b.Packets - a.Packets
		rep.RxPacketsPerSec = float64(rep.RxPackets) / dt
		rep.RxMbps = float64(b.Bytes-a.Bytes) * 8 / dt / 1e6
		if rep.Joined > 0 {
			rep.RxKbpsPerSubscriber = rep.RxMbps * 1000 / float64(rep.Joined)
		}
		rep.GeneratorCPU = (b.CPU - a.CPU).Seconds() / dt
		if rep.RxPackets > 0 {
			rep.GeneratorMicrosPerRxPkt = float64((b.CPU - a.CPU).Microseconds()) / float64(rep.RxPackets)
		}
	}
	if sa.OK && sb.OK {
		sdt := sb.At.Sub(sa.At).Seconds()
		out := sb.PacketsOut - sa.PacketsOut
		srv := &ServerReport{PacketsOutPerSec: out / sdt, PacketsInPerSec: (sb.PacketsIn - sa.PacketsIn) / sdt,
			MbpsOut: (sb.BytesOut - sa.BytesOut) * 8 / sdt / 1e6, CPU: (sb.CPUSeconds - sa.CPUSeconds) / sdt,
			RSSBytes: sb.RSSBytes, NACKs: sb.NACKs - sa.NACKs, Retransmissions: sb.Retransmits - sa.Retransmits,
			RtxSkipped: sb.RtxSkipped - sa.RtxSkipped,
			ForwardMs: Quantiles{P50: 1e3 * histQuantile(sa.Forward, sb.Forward, 0.5),
				P99: 1e3 * histQuantile(sa.Forward, sb.Forward, 0.99), Max: 1e3 * histQuantile(sa.Forward, sb.Forward, 1)}}
		if out > 0 {
			srv.CPUMicrosPerPacket = (sb.CPUSeconds - sa.CPUSeconds) * 1e6 / out
		}
		if n := rep.Joined + o.Rooms*o.Publishers; n > 0 {
			srv.RSSBytesPerSub = sb.RSSBytes / float64(n)
		}
		rep.Server = srv
	}
	return rep
}

// pick returns the q quantile of sorted values (0 when empty).
func pick(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)))
	return sorted[min(i, len(sorted)-1)]
}

// quantiles sorts ds and returns their quantiles in milliseconds.
func quantiles(ds []time.Duration) Quantiles {
	slices.Sort(ds)
	return Quantiles{P50: ms(pick(ds, 0.5)), P95: ms(pick(ds, 0.95)), P99: ms(pick(ds, 0.99)), Max: ms(pick(ds, 1))}
}

// WriteTable writes the report as a table.
func (r *Report) WriteTable(w io.Writer) {
	p := func(k, f string, a ...any) { fmt.Fprintf(w, "  %-34s "+f+"\n", append([]any{k}, a...)...) }
	fmt.Fprintf(w, "rtcloud bench %s\n", r.Label)
	p("load", "%d room(s) x %d publisher(s) x %d subscriber(s), %s %d kbit/s simulcast=%v audio-only=%v",
		r.Rooms, r.Publishers, r.Subscribers, r.Codec, r.VideoKbps, r.Simulcast, r.AudioOnly)
	p("window", "%.1f s", r.WindowS)
	p("joined / failed / no media", "%d / %d / %d", r.Joined, r.JoinFailed, r.NoMedia)
	p("joins per second", "%.1f", r.JoinsPerSec)
	p("join: token to first frame", "p50 %.0f ms  p95 %.0f ms  p99 %.0f ms  max %.0f ms", r.JoinMs.P50, r.JoinMs.P95, r.JoinMs.P99, r.JoinMs.Max)
	ph := r.JoinPhasesMs
	p("  phases p50 / p99", "joined %.0f / %.0f, subscribed %.0f / %.0f, media up %.0f / %.0f, first frame %.0f / %.0f ms",
		ph.Joined.P50, ph.Joined.P99, ph.Subscribed.P50, ph.Subscribed.P99, ph.Connected.P50, ph.Connected.P99,
		ph.FirstFrame.P50, ph.FirstFrame.P99)
	p("received", "%.0f packets/s, %.1f Mbit/s, %.0f kbit/s per subscriber", r.RxPacketsPerSec, r.RxMbps, r.RxKbpsPerSubscriber)
	p("loss after NACK", "%.4f%% (worst subscriber %.4f%%, %d over 1%%), %d NACKed", r.Loss*100, r.MaxSubscriberLoss*100, r.SubscribersOver1Pct, r.NACKsSent)
	p("latency: send to receive", "p50 %.2f ms  p99 %.2f ms  max %.1f ms (with joins: p99 %.1f ms)",
		r.LatencyMs.P50, r.LatencyMs.P99, r.LatencyMs.Max, r.LatencyAllMs.P99)
	p("media gap (longest per subscriber)", "p50 %.0f ms  p95 %.0f ms  max %.0f ms; %d recovered, %d lost, %d sessions moved",
		r.MediaGapMs.P50, r.MediaGapMs.P95, r.MediaGapMs.Max, r.Recovered, r.Lost, r.Moves)
	if r.Moves > 0 {
		p("  moved / stayed subscribers p95", "%.0f ms / %.0f ms (max %.0f / %.0f)",
			r.MediaGapMovedMs.P95, r.MediaGapStayedMs.P95, r.MediaGapMovedMs.Max, r.MediaGapStayedMs.Max)
	}
	p("generator CPU", "%.2f cores, %.2f us per received packet", r.GeneratorCPU, r.GeneratorMicrosPerRxPkt)
	if s := r.Server; s != nil {
		p("server forwarded", "%.0f packets/s (%.0f in), %.1f Mbit/s", s.PacketsOutPerSec, s.PacketsInPerSec, s.MbpsOut)
		p("server CPU", "%.2f cores, %.2f us per forwarded packet", s.CPU, s.CPUMicrosPerPacket)
		p("server RSS", "%.1f MB, %.0f kB per participant", s.RSSBytes/1e6, s.RSSBytesPerSub/1e3)
		p("server NACKs / resent / skipped", "%.0f / %.0f / %.0f", s.NACKs, s.Retransmissions, s.RtxSkipped)
		p("server read -> last write", "p50 %.3f ms  p99 %.3f ms  (max bucket %.1f ms)", s.ForwardMs.P50, s.ForwardMs.P99, s.ForwardMs.Max)
	} else {
		p("server", "no /metrics")
	}
}

// WriteComparison writes r's main figures as ratios to base (for example
// rtcloud against the naive forwarder on the same load).
func (r *Report) WriteComparison(w io.Writer, base *Report) {
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	fmt.Fprintf(w, "%s vs %s\n", r.Label, base.Label)
	row := func(k string, a, b float64, unit string) {
		fmt.Fprintf(w, "  %-30s %12.2f %12.2f  %s  %s\n", k, a, b, unit, ratio(a, b))
	}
	fmt.Fprintf(w, "  %-30s %12s %12s\n", "", r.Label, base.Label)
	if r.Server != nil && base.Server != nil {
		row("server us per forwarded packet", r.Server.CPUMicrosPerPacket, base.Server.CPUMicrosPerPacket, "us")
		row("server forwarded packets/s", r.Server.PacketsOutPerSec, base.Server.PacketsOutPerSec, "/s")
		row("server CPU", r.Server.CPU, base.Server.CPU, "cores")
		row("server RSS", r.Server.RSSBytes/1e6, base.Server.RSSBytes/1e6, "MB")
	}
	row("received packets/s", r.RxPacketsPerSec, base.RxPacketsPerSec, "/s")
	row("loss after NACK", r.Loss*100, base.Loss*100, "%")
	row("latency p50", r.LatencyMs.P50, base.LatencyMs.P50, "ms")
	row("latency p99", r.LatencyMs.P99, base.LatencyMs.P99, "ms")
	row("join p99", r.JoinMs.P99, base.JoinMs.P99, "ms")
}
