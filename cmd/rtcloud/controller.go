package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
)

// controllerFlags are the controller's own flags, over the config file.
type controllerFlags struct {
	httpAddr, policy, geoCIDRs, mmdb, id string
	dashSignIn                           bool
}

func (f *controllerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.httpAddr, "http", "", "controller HTTP listen address: allocate and admin API (default :7900)")
	fs.StringVar(&f.policy, "policy", "", "room placement policy: same-node or nearest (default same-node)")
	fs.StringVar(&f.geoCIDRs, "geoip-cidr", "", "client location table, comma-separated CIDR=REGION[:ISP] (added to the config's)")
	fs.StringVar(&f.mmdb, "geoip-mmdb", "", "MaxMind-format .mmdb database for client locations")
	fs.StringVar(&f.id, "id", "", "controller id (default: generated)")
	fs.BoolVar(&f.dashSignIn, "dashboard-dev-sign-in", false, "the dashboard signs in by itself with an operator token (development only: anyone who reaches it is an operator)")
}

func (f *controllerFlags) apply(c *config.Controller) error {
	if f.httpAddr != "" {
		c.HTTPAddr = f.httpAddr
	}
	if f.policy != "" {
		c.Policy = f.policy
	}
	if f.mmdb != "" {
		c.GeoIP.MMDB = f.mmdb
	}
	for _, e := range config.SplitList(f.geoCIDRs) {
		cidr, loc, ok := strings.Cut(e, "=")
		if !ok {
			return fmt.Errorf("--geoip-cidr %q: want CIDR=REGION[:ISP]", e)
		}
		region, isp, _ := strings.Cut(loc, ":")
		c.GeoIP.CIDRs = append(c.GeoIP.CIDRs, config.GeoCIDR{CIDR: cidr, Region: region, ISP: isp})
	}
	return nil
}

func runController(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, false, false)
	var cf controllerFlags
	cf.register(fs)
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	if err := cf.apply(&c.Controller); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.ValidateKeys(); err != nil {
		return err
	}
	b, log, err := connect(c, "rtcloud-controller", stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	logKeys(log, c)
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ctl, err := controller.New(setupCtx, controller.Options{
		Config: c.Controller, Relay: c.Relay, Bus: b, Verifier: auth.NewVerifier(c.APIKeys()), Logger: log, ID: cf.id,
		RoomsSpanNodes: c.Relay.Secret != "",
	})
	cancel()
	if err != nil {
		return err
	}
	defer ctl.Close()
	if cf.dashSignIn {
		log.Warn("the dashboard signs anyone in as an operator (--dashboard-dev-sign-in): development only, never in production")
	}
	svc, err := startControllerServices(ctx, c, b, ctl, log, cf.dashSignIn)
	if err != nil {
		return err
	}
	defer svc.close()
	egressAPI, err := newEgressAPI(ctx, c, b, log)
	if err != nil {
		return err
	}
	defer egressAPI.Close()
	log.Info("controller API listening", "addr", c.Controller.HTTPAddr, "id", ctl.ID(), "dashboard", "/dashboard/")
	h, err := gatewayAPI(ctx, c, b, withEgressAPI(svc.handler(ctl.Handler()), egressAPI))
	if err != nil {
		return err
	}
	return serveHTTP(ctx, c.Controller.HTTPAddr, h, c.HTTP, log)
}
