package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/ingress"
	"github.com/rtcloud/rtcloud/internal/sip"
)

// hostPort turns a listen address into host:port for a URL: an empty or
// unspecified host becomes 127.0.0.1.
func hostPort(addr, defPort string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1:" + defPort
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// gatewayAPI serves the gateway endpoints (/v1/ingress, /v1/sip/...) in
// front of next, the controller's API.
func gatewayAPI(ctx context.Context, c config.Config, b *bus.Client, next http.Handler) (http.Handler, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	keys, err := ingress.OpenKeys(setupCtx, b)
	if err != nil {
		return nil, err
	}
	rules, err := sip.OpenRules(setupCtx, b, c.SIP)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	registerIngressAPI(mux, c, keys, ingressURL(c))
	registerSIPAPI(mux, c, b, rules)
	mux.Handle("/", next)
	return mux, nil
}

// devGateways runs the RTMP ingest and SIP gateways inside `rtcloud dev`
// (SIP with sip:{room}@host joining room {room} of namespace default),
// joining rooms through the dev signaling server at httpAddr, and adds
// their API to mux. A gateway whose port is taken is left out with a
// warning: dev must start anyway.
type devGateways struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
	lines  []string // what the start banner prints
}

func startDevGateways(ctx context.Context, c config.Config, b *bus.Client, httpAddr string, mux *http.ServeMux, log *slog.Logger) *devGateways {
	gctx, cancel := context.WithCancel(ctx)
	g := &devGateways{cancel: cancel}
	ws := "ws://" + hostPort(httpAddr, "7800") + "/ws"
	if c.Ingress.RTMPAddr != "" {
		c.Ingress.SignalURL = ws
		srv, keys, err := startIngress(gctx, c, b, log)
		if err != nil {
			log.Warn("RTMP ingest not started", "err", err)
		} else {
			registerIngressAPI(mux, c, keys, srv.URL())
			g.lines = append(g.lines, "RTMP ingest:      "+srv.URL()+"  (stream key: a room token)")
			g.run(func() { _ = srv.Run(gctx) })
		}
	}
	if c.SIP.Addr != "" {
		c.SIP.SignalURL = ws
		c.SIP.RoomFromURI = true
		srv, rules, err := startSIP(gctx, c, b, log)
		if err != nil {
			log.Warn("SIP gateway not started", "err", err)
		} else {
			registerSIPAPI(mux, c, b, rules)
			g.lines = append(g.lines, "SIP:              sip:{room}@"+hostPort(srv.Addr().String(), "5060")+"  (UDP and TCP)")
			g.run(func() { _ = srv.Run(gctx) })
		}
	}
	return g
}

func (g *devGateways) run(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// banner is the gateways' lines of the dev start banner.
func (g *devGateways) banner() string {
	if len(g.lines) == 0 {
		return ""
	}
	return "  " + strings.Join(g.lines, "\n  ") + "\n"
}

// stop stops the gateways (their participants leave their rooms) and waits.
func (g *devGateways) stop() {
	g.cancel()
	g.wg.Wait()
}
