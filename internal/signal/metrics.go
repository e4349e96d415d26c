package signal

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what the server refuses or drops because of a limit.
type metrics struct {
	refused *prometheus.CounterVec // requests refused, by reason
	dropped *prometheus.CounterVec // events not delivered to a client, by type
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtcloud_signal_refused_total",
			Help: "Client requests refused by a limit, by reason (rate, size, offer, join, candidates, unauthenticated).",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtcloud_signal_dropped_events_total",
			Help: "Room events not delivered to a client whose queue was filling up, by event type.",
		}, []string{"type"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.refused, m.dropped} {
			if err := reg.Register(c); err != nil {
				// Another server of this process registered them first.
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					if cv, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
						if c == m.refused {
							m.refused = cv
						} else {
							m.dropped = cv
						}
					}
				}
			}
		}
	}
	return m
}
