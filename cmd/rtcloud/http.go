package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rtcloud/rtcloud/internal/signal"
	"github.com/rtcloud/rtcloud/internal/version"
	"github.com/rtcloud/rtcloud/web"
)

// httpHandler is the HTTP surface of a signaling server: the signaling
// endpoints, /healthz, /metrics, and the web pages.
func httpHandler(sig *signal.Server, extraReady []func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", web.HandlerWith(sig.Handler())) // pages; everything else goes to signaling
	mux.Handle("/metrics", metricsHandler())
	mux.Handle("GET /version", version.Handler())
	mux.HandleFunc("/healthz", healthz(append([]func() bool{sig.Ready}, extraReady...)...))
	return mux
}

func metricsHandler() http.Handler { return promhttp.Handler() }
