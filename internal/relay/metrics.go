package relay

import "github.com/prometheus/client_golang/prometheus"

// collector exports a transport's counters at scrape time, so the packet
// path only does atomic adds on its own fields.
type collector struct {
	t                                  *Transport
	packets, bytes, nacks              *prometheus.Desc
	rtx, fecSent, fecRecovered, lost   *prometheus.Desc
	drops, up, rtt, jitter, loss, fecM *prometheus.Desc
}

func newCollector(t *Transport) *collector {
	labels := prometheus.Labels{"node": t.cfg.NodeID}
	desc := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("rtcloud_relay_"+name, help, vars, labels)
	}
	return &collector{t: t,
		packets:      desc("packets_total", "Relay datagrams by peer and direction.", "peer", "direction"),
		bytes:        desc("bytes_total", "Relay datagram bytes by peer and direction.", "peer", "direction"),
		nacks:        desc("nacks_total", "Link packets NACKed: sent (asked of the peer) or received (asked by it).", "peer", "direction"),
		rtx:          desc("retransmissions_total", "Link packets resent from the cache.", "peer"),
		fecSent:      desc("fec_parity_total", "FEC parity packets sent.", "peer"),
		fecRecovered: desc("fec_recovered_total", "Lost link packets rebuilt from FEC parity.", "peer"),
		lost:         desc("lost_total", "Link packets never recovered.", "peer"),
		drops:        desc("dropped_total", "Received datagrams dropped, by reason.", "reason"),
		up:           desc("link_up", "1 while the peer is heard within the down timeout.", "peer"),
		rtt:          desc("link_rtt_seconds", "Smoothed round-trip time measured by probes.", "peer"),
		jitter:       desc("link_jitter_seconds", "Smoothed variation of the round-trip time.", "peer"),
		loss:         desc("link_loss_ratio", "Smoothed loss before recovery: out (as the peer measures it) or in.", "peer", "direction"),
		fecM:         desc("link_fec_parity", "Parity packets per FEC group currently sent.", "peer"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.nacks, c.rtx, c.fecSent, c.fecRecovered,
		c.lost, c.drops, c.up, c.rtt, c.jitter, c.loss, c.fecM} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for r, name := range dropNames {
		counter(c.drops, c.t.drops[r].Load(), name)
	}
	for _, l := range c.t.Links() {
		counter(c.packets, l.PacketsIn, l.Peer, "in")
		counter(c.packets, l.PacketsOut, l.Peer, "out")
		counter(c.bytes, l.BytesIn, l.Peer, "in")
		counter(c.bytes, l.BytesOut, l.Peer, "out")
		counter(c.nacks, l.NACKsSent, l.Peer, "sent")
		counter(c.nacks, l.NACKsReceived, l.Peer, "received")
		counter(c.rtx, l.Retransmits, l.Peer)
		counter(c.fecSent, l.FECSent, l.Peer)
		counter(c.fecRecovered, l.FECRecovered, l.Peer)
		counter(c.lost, l.Lost, l.Peer)
		up := 0.0
		if l.Up {
			up = 1
		}
		gauge(c.up, up, l.Peer)
		gauge(c.rtt, l.RTT.Seconds(), l.Peer)
		gauge(c.jitter, l.Jitter.Seconds(), l.Peer)
		gauge(c.loss, l.LossOut, l.Peer, "out")
		gauge(c.loss, l.LossIn, l.Peer, "in")
		gauge(c.fecM, float64(l.FECParity), l.Peer)
	}
}

// Drops returns the datagrams dropped so far by reason (the label values
// of rtcloud_relay_dropped_total).
func (t *Transport) Drops() map[string]uint64 {
	m := make(map[string]uint64, numDropReasons)
	for r, name := range dropNames {
		m[name] = t.drops[r].Load()
	}
	return m
}
