package webhook

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the service's Prometheus metrics, for the controller's
// /metrics: deliveries, retries, events given up and events in flight.
func (s *Service) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	return []prometheus.Collector{
		counter("rtcloud_webhook_delivered_total", "Webhook requests a receiver accepted (2xx).", s.metrics.delivered.Load),
		counter("rtcloud_webhook_retries_total", "Webhook requests that failed and were retried.", s.metrics.retries.Load),
		counter("rtcloud_webhook_given_up_total", "Webhook events given up after retrying for webhooks.retry_for.", s.metrics.givenUp.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rtcloud_webhook_in_flight",
			Help: "Webhook requests queued or being retried on this controller (0 unless it leads)."},
			func() float64 { return float64(s.metrics.inFlight.Load()) }),
	}
}
