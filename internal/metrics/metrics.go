// Package metrics owns rtcloud's Prometheus collectors. Counters used on
// the per-packet path are resolved once (no label lookups per packet) so
// incrementing them is a single atomic add.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Direction and kind label values.
const (
	In    = "in"
	Out   = "out"
	Audio = "audio"
	Video = "video"
)

// KindCounters are per-kind packet and byte counters of one direction.
type KindCounters struct {
	AudioPackets, AudioBytes prometheus.Counter
	VideoPackets, VideoBytes prometheus.Counter
}

// Add counts one packet of n bytes; video selects the kind.
func (k *KindCounters) Add(video bool, n int) {
	if video {
		k.VideoPackets.Inc()
		k.VideoBytes.Add(float64(n))
		return
	}
	k.AudioPackets.Inc()
	k.AudioBytes.Add(float64(n))
}

// SFU holds a media node's collectors.
type SFU struct {
	Registry *prometheus.Registry

	In, Out         KindCounters
	NACKsReceived   prometheus.Counter // from subscribers
	NACKsSent       prometheus.Counter // to publishers
	Retransmissions prometheus.Counter // packets resent from the cache
	PLIs            prometheus.Counter // keyframe requests sent upstream
	Dropped         prometheus.Counter // packets not forwarded (queue full, waiting for keyframe)
	LayerSwitches   prometheus.Counter
	Sessions        prometheus.Gauge
	Rooms           prometheus.Gauge
	Tracks          prometheus.Gauge
}

// NewSFU creates and registers the SFU collectors, plus the process and Go
// runtime collectors (CPU seconds, resident memory), in a new registry.
func NewSFU(nodeID string) *SFU {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(collectors.NewGoCollector())
	constLabels := prometheus.Labels{"node": nodeID}
	packets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcloud_sfu_packets_total", Help: "RTP packets by direction and kind.", ConstLabels: constLabels,
	}, []string{"direction", "kind"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtcloud_sfu_bytes_total", Help: "RTP payload+header bytes by direction and kind.", ConstLabels: constLabels,
	}, []string{"direction", "kind"})
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: constLabels})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels})
	}
	m := &SFU{
		Registry:        reg,
		NACKsReceived:   counter("rtcloud_sfu_nacks_received_total", "NACKed packets requested by subscribers."),
		NACKsSent:       counter("rtcloud_sfu_nacks_sent_total", "NACKed packets requested from publishers."),
		Retransmissions: counter("rtcloud_sfu_retransmissions_total", "Packets retransmitted from the packet cache."),
		PLIs:            counter("rtcloud_sfu_plis_total", "Keyframe requests (PLI/FIR) sent to publishers."),
		Dropped:         counter("rtcloud_sfu_dropped_packets_total", "Packets not forwarded to a subscriber."),
		LayerSwitches:   counter("rtcloud_sfu_layer_switches_total", "Simulcast layer switches."),
		Sessions:        gauge("rtcloud_sfu_sessions", "Participant sessions on this node."),
		Rooms:           gauge("rtcloud_sfu_rooms", "Rooms with at least one session on this node."),
		Tracks:          gauge("rtcloud_sfu_tracks", "Published tracks on this node."),
	}
	reg.MustRegister(packets, bytes, m.NACKsReceived, m.NACKsSent, m.Retransmissions, m.PLIs,
		m.Dropped, m.LayerSwitches, m.Sessions, m.Rooms, m.Tracks)
	for _, d := range []struct {
		dir string
		k   *KindCounters
	}{{In, &m.In}, {Out, &m.Out}} {
		d.k.AudioPackets = packets.WithLabelValues(d.dir, Audio)
		d.k.AudioBytes = bytes.WithLabelValues(d.dir, Audio)
		d.k.VideoPackets = packets.WithLabelValues(d.dir, Video)
		d.k.VideoBytes = bytes.WithLabelValues(d.dir, Video)
	}
	return m
}
