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
	"github.com/rtcloud/rtcloud/internal/sip"
)

// sipFlags override the sip section of the config.
type sipFlags struct{ addr, signalURL, advertise string }

func (f *sipFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "sip", "", "SIP listen address, UDP and TCP (default :5060)")
	fs.StringVar(&f.signalURL, "signal-url", "", "signaling WebSocket the gateway joins rooms through (default ws://127.0.0.1:7800/ws)")
	fs.StringVar(&f.advertise, "advertise-ip", "", "address put in SIP Contact headers and SDP (default: the one that routes to the peer)")
}

func (f *sipFlags) apply(c *config.SIP) {
	if f.addr != "" {
		c.Addr = f.addr
	}
	if f.signalURL != "" {
		c.SignalURL = f.signalURL
	}
	if f.advertise != "" {
		c.AdvertiseIP = f.advertise
	}
}

// runSIP runs the SIP gateway.
func runSIP(ctx context.Context, args []string, stderr io.Writer) error {
	var sf sipFlags
	return runGateway(ctx, "sip", args, stderr, sf.register, func(c *config.Config) { sf.apply(&c.SIP) },
		func(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger) (gateway, error) {
			srv, _, err := startSIP(ctx, c, b, log)
			if err != nil {
				return nil, err
			}
			return srv, nil
		})
}

// startSIP opens the rule store and the SIP ports.
func startSIP(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger) (*sip.Server, *sip.Rules, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	rules, err := sip.OpenRules(setupCtx, b, c.SIP)
	if err != nil {
		return nil, nil, err
	}
	key, secret := c.SigningKey(c.SIP.APIKey)
	srv, err := sip.Listen(sip.Options{Config: c.SIP, Rules: rules, SigningKey: key, SigningSecret: secret, Bus: b, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return srv, rules, nil
}

// registerSIPAPI adds /v1/sip/ to mux.
func registerSIPAPI(mux *http.ServeMux, c config.Config, b *bus.Client, rules *sip.Rules) {
	(&sip.API{Rules: rules, Bus: b, Verifier: auth.NewVerifier(c.APIKeys())}).Register(mux)
}
