package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/ingress"
)

// ingressFlags override the ingress section of the config.
type ingressFlags struct{ rtmpAddr, signalURL string }

func (f *ingressFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rtmpAddr, "rtmp", "", "RTMP listen address (default :1935)")
	fs.StringVar(&f.signalURL, "signal-url", "", "signaling WebSocket the gateway joins rooms through (default ws://127.0.0.1:7800/ws)")
}

func (f *ingressFlags) apply(c *config.Ingress) {
	if f.rtmpAddr != "" {
		c.RTMPAddr = f.rtmpAddr
	}
	if f.signalURL != "" {
		c.SignalURL = f.signalURL
	}
}

// runIngress runs the RTMP ingest gateway.
func runIngress(ctx context.Context, args []string, stderr io.Writer) error {
	var inf ingressFlags
	return runGateway(ctx, "ingress", args, stderr, inf.register, func(c *config.Config) { inf.apply(&c.Ingress) },
		func(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger) (gateway, error) {
			srv, _, err := startIngress(ctx, c, b, log)
			if err != nil {
				return nil, err
			}
			return srv, nil
		})
}

// startIngress opens the ingress key store and the RTMP port.
func startIngress(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger) (*ingress.Server, *ingress.Keys, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	keys, err := ingress.OpenKeys(setupCtx, b)
	if err != nil {
		return nil, nil, err
	}
	key, secret := c.SigningKey(c.Ingress.APIKey)
	srv, err := ingress.Listen(ingress.Options{Config: c.Ingress, Verifier: auth.NewVerifier(c.APIKeys()),
		SigningKey: key, SigningSecret: secret, Keys: keys, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return srv, keys, nil
}

// ingressURL is the RTMP URL the API hands out when no ingress runs in
// this process: the configured public URL, else one on this host.
func ingressURL(c config.Config) string {
	if c.Ingress.PublicURL != "" {
		return c.Ingress.PublicURL
	}
	return "rtmp://" + hostPort(c.Ingress.RTMPAddr, "1935") + "/live"
}

// registerIngressAPI adds /v1/ingress to mux.
func registerIngressAPI(mux *http.ServeMux, c config.Config, keys *ingress.Keys, url string) {
	api := &ingress.API{Keys: keys, Verifier: auth.NewVerifier(c.APIKeys()), URL: url}
	api.Register(mux)
}
