package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/controller"
	"github.com/rtcloud/rtcloud/internal/dashboard"
	"github.com/rtcloud/rtcloud/internal/webhook"
)

// controllerServices are what runs beside a controller: the dashboard and,
// when URLs are configured, the webhook service.
type controllerServices struct {
	dash    *dashboard.Dashboard
	hooks   *webhook.Service
	metrics *prometheus.Registry
}

// startControllerServices starts them for ctl on b. devSignIn lets the
// dashboard sign in by itself (rtcloud dev).
func startControllerServices(ctx context.Context, c config.Config, b *bus.Client, ctl *controller.Controller, log *slog.Logger, devSignIn bool) (*controllerServices, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	s := &controllerServices{}
	var err error
	var signIn func() (string, error)
	if devSignIn {
		key, secret, _ := devCredentials(c)
		signIn = func() (string, error) { return dashboard.DevToken(key, secret, c.Controller.OperatorNamespace) }
	}
	s.dash, err = dashboard.New(setupCtx, dashboard.Options{Cluster: ctl, Bus: b, Verifier: auth.NewVerifier(c.APIKeys()), Logger: log, DevSignIn: signIn})
	if err != nil {
		return nil, err
	}
	if c.Webhooks.Enabled() {
		s.hooks, err = webhook.New(setupCtx, webhook.Options{Config: c.Webhooks, Keys: c.APIKeys(), Bus: b, Leader: ctl.IsLeader,
			Logger: log, Replicas: c.NATS.KVReplicas})
		if err != nil {
			s.dash.Close()
			return nil, err
		}
		s.hooks.Start()
	}
	s.metrics = controllerMetrics(ctl, s.hooks)
	return s, nil
}

// controllerMetrics is the registry of the controller's /metrics: the
// process, whether it leads, and the webhook deliveries.
func controllerMetrics(ctl *controller.Controller, hooks *webhook.Service) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rtcloud_controller_leader",
		Help: "1 while this controller holds the leader lease.", ConstLabels: prometheus.Labels{"controller": ctl.ID()}},
		func() float64 {
			if ctl.IsLeader() {
				return 1
			}
			return 0
		}))
	if hooks != nil {
		reg.MustRegister(hooks.Collectors()...)
	}
	return reg
}

// handler serves /dashboard in front of next.
func (s *controllerServices) handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	mux.Handle("/dashboard", s.dash.Handler())
	mux.Handle("/dashboard/", s.dash.Handler())
	mux.Handle("/", next)
	return mux
}

func (s *controllerServices) close() {
	if s.hooks != nil {
		s.hooks.Close()
	}
	s.dash.Close()
}

// startDevController runs a controller with its dashboard (signing in by
// itself) and webhooks inside `rtcloud dev`, on its own bus connection;
// stop closes all of it.
func startDevController(ctx context.Context, c config.Config, log *slog.Logger) (svc *controllerServices, stop func(), err error) {
	b, err := connectBus(c, "rtcloud-dev-controller", log)
	if err != nil {
		return nil, nil, err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ctl, err := controller.New(setupCtx, controller.Options{Config: c.Controller, Bus: b, Verifier: auth.NewVerifier(c.APIKeys()), Logger: log})
	cancel()
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	if svc, err = startControllerServices(ctx, c, b, ctl, log, true); err != nil {
		ctl.Close()
		b.Close()
		return nil, nil, err
	}
	return svc, func() { svc.close(); ctl.Close(); b.Close() }, nil
}
