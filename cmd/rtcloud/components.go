package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/sfu"
	"github.com/rtcloud/rtcloud/internal/signal"
	"github.com/rtcloud/rtcloud/internal/version"
)

// commonFlags are the flags every long-running component understands;
// they override the config file and the environment.
type commonFlags struct {
	configPath  string
	nats        string
	httpAddr    string
	mediaPort   optionalInt
	relayPort   optionalInt
	advertiseIP string
	nodeID      string
	region      string
	logLevel    string
	forwarder   string
	metricsAddr string
	pprof       bool
	noBatch     bool
	devKeys     bool
}

func (f *commonFlags) register(fs *flag.FlagSet, withHTTP, withMedia bool) {
	fs.StringVar(&f.configPath, "config", "", "YAML config file (unknown keys are errors)")
	fs.StringVar(&f.nats, "nats", "", "NATS server URLs, comma-separated (env RTCLOUD_NATS_URL)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&f.devKeys, "dev-keys", false, "also accept the public dev key (env RTCLOUD_DEV_KEYS; development only)")
	if withHTTP {
		fs.StringVar(&f.httpAddr, "http", "", "HTTP and WebSocket listen address (default :7800)")
	}
	if withMedia {
		fs.Var(&f.mediaPort, "media-port", "the one UDP and TCP media `port`; 0 picks a free one (default 7801)")
		fs.Var(&f.relayPort, "relay-port", "the UDP `port` of the node-to-node relay (with relay.secret); 0 picks a free one (default 7802)")
		fs.StringVar(&f.advertiseIP, "advertise-ip", "", "IP addresses put in ICE candidates, comma-separated (default: this machine's)")
		fs.StringVar(&f.nodeID, "node-id", "", "SFU node id (default: generated)")
		fs.StringVar(&f.region, "region", "", "SFU node region label")
		fs.StringVar(&f.forwarder, "forwarder", sfu.ForwarderRTCloud, "SFU forwarding path: rtcloud, or naive (the textbook Pion way, a benchmark baseline)")
		fs.BoolVar(&f.noBatch, "no-batch-send", false, "one sendto per packet instead of sendmmsg batches per fan-out (to measure the gain)")
		fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve the SFU node's Prometheus /metrics (and /healthz) on this address (rtcloud sfu; dev serves them on --http)")
		fs.BoolVar(&f.pprof, "pprof", false, "serve /debug/pprof next to the SFU node's /metrics")
	}
}

// load builds the configuration: defaults, file, environment, flags, then
// validation.
func (f *commonFlags) load() (config.Config, error) {
	c, err := config.Load(f.configPath)
	if err != nil {
		return c, err
	}
	if f.nats != "" {
		c.NATS.URL = f.nats
	}
	if f.httpAddr != "" {
		c.Signal.HTTPAddr = f.httpAddr
	}
	if f.mediaPort.set {
		c.SFU.MediaPort = f.mediaPort.n
	}
	if f.relayPort.set {
		c.SFU.RelayPort = f.relayPort.n
	}
	if f.advertiseIP != "" {
		c.SFU.AdvertiseIPs = config.SplitList(f.advertiseIP)
	}
	if f.nodeID != "" {
		c.SFU.NodeID = f.nodeID
	}
	if f.region != "" {
		c.SFU.Region = f.region
	}
	if f.logLevel != "" {
		c.Log.Level = f.logLevel
	}
	if f.metricsAddr != "" {
		c.SFU.MetricsAddr = f.metricsAddr
	}
	if f.devKeys {
		c.DevKeys = true
	}
	return c, c.Validate()
}

// parse parses the command line and builds the configuration.
func (f *commonFlags) parse(fs *flag.FlagSet, args []string) (config.Config, error) {
	if err := parseFlags(fs, args); err != nil {
		return config.Config{}, err
	}
	return f.load()
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

func runSignal(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud signal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, true, false)
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	if err := c.ValidateKeys(); err != nil {
		return err
	}
	b, log, err := connect(c, "rtcloud-signal", stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	logKeys(log, c)
	sig, err := startSignal(ctx, c, b, log)
	if err != nil {
		return err
	}
	defer sig.Close()
	return serveHTTP(ctx, c.Signal.HTTPAddr, httpHandler(sig, nil), c.HTTP, log)
}

func runSFU(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud sfu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, false, true)
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	if err := regionFromKubernetes(ctx, &c.SFU); err != nil {
		return err
	}
	b, log, err := connect(c, "rtcloud-sfu", stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	if c.SFU.KubernetesNode != "" {
		log.Info("location from the Kubernetes node", "node", c.SFU.KubernetesNode, "region", c.SFU.Region, "zone", c.SFU.Zone)
	}
	node, err := sfu.NewNode(sfu.Options{Config: c.SFU, Bus: b, Logger: log, Forwarder: f.forwarder, NoBatchSend: f.noBatch,
		RelaySecret: []byte(c.Relay.Secret), RelayLinks: c.Relay.Links})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	if c.SFU.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", node.MetricsHandler())
		mux.HandleFunc("/healthz", healthz(node.Ready))
		mux.Handle("GET /version", version.Handler())
		if f.pprof {
			mountPprof(mux)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveHTTP(ctx, c.SFU.MetricsAddr, mux, c.HTTP, log); err != nil {
				log.Error("metrics server", "err", err)
			}
		}()
	}
	// The node runs until the signal context ends and, with
	// sfu.migrate_on_shutdown, its clients have moved to other nodes.
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		if grace := c.SFU.MigrateOnShutdown; grace > 0 {
			mctx, cancel := context.WithTimeout(context.Background(), grace)
			if err := node.Migrate(mctx); err != nil {
				log.Warn("sessions left when the shutdown grace ended", "left", node.SessionCount(), "err", err)
			}
			cancel()
		}
		stop()
	}()
	err = node.Run(runCtx)
	stop()
	wg.Wait()
	return err
}

// mountPprof serves the Go profiler's endpoints on mux.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// connect starts every component that runs against an external NATS: it
// requires a NATS URL, makes the logger and connects to the bus.
func connect(c config.Config, name string, stderr io.Writer) (*bus.Client, *slog.Logger, error) {
	if c.NATS.URL == "" {
		return nil, nil, errors.New("--nats (or nats.url) is required; `rtcloud dev` runs with an embedded NATS")
	}
	log := newLogger(c.Log.Level, c.Log.Format, stderr)
	b, err := connectBus(c, name, log)
	return b, log, err
}

func connectBus(c config.Config, name string, log *slog.Logger) (*bus.Client, error) {
	return bus.Connect(bus.Options{URLs: c.NATS.URL, Name: name, KVReplicas: c.NATS.KVReplicas, Logger: log})
}

func startSignal(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger) (*signal.Server, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return signal.NewServer(setupCtx, signal.Options{
		Config:   c.Signal,
		Bus:      b,
		Verifier: auth.NewVerifier(c.APIKeys()),
		Keys:     c.APIKeys(),
		Logger:   log,
		Metrics:  prometheus.DefaultRegisterer,
		Limits:   signalLimits(c.Signal.Limits),
		// The fallback placement when no controller answers.
		Placement: c.Controller, RoomsSpanNodes: c.Relay.Secret != "",
	})
}

// signalLimits maps the configured limits onto the signaling server's
// (zero values take its defaults).
func signalLimits(l config.SignalLimits) signal.Limits {
	return signal.Limits{DataRate: l.DataRate, DataBurst: l.DataBurst, DataBytesRate: l.DataBytesRate,
		MediaSections: l.MediaSections, PublishedTracks: l.PublishedTracks, Candidates: l.Candidates}
}

// logKeys logs the ids of the API keys tokens are checked against (never
// the secrets), and warns when the public dev key is among them.
func logKeys(log *slog.Logger, c config.Config) {
	log.Info("API keys active", "ids", c.KeyIDs())
	if c.DevKeyActive() {
		log.Warn("the public dev key is accepted: development only, never in production", "key", auth.DevKey)
	}
	if c.Signal.DevTokens {
		log.Warn("GET /dev/token mints tokens for anyone (signal.dev_tokens): development only, never in production")
	}
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, h http.Handler, t config.HTTP, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return serveListener(ctx, ln, h, t, log)
}

// serveListener serves h on ln with the read, write and idle timeouts of
// t, so no request holds a connection forever. Streaming handlers
// (WebSocket, server-sent events) clear their connection's deadlines with
// http.ResponseController once they have accepted the stream.
func serveListener(ctx context.Context, ln net.Listener, h http.Handler, t config.HTTP, log *slog.Logger) error {
	t = t.WithDefaults()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeaderTimeout, ReadTimeout: t.ReadTimeout,
		WriteTimeout: t.WriteTimeout, IdleTimeout: t.IdleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func healthz(ready ...func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Rtcloud-Version", version.String())
		for _, r := range ready {
			if !r() {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	}
}

// httpBase turns a listen address into a URL people can open. A server
// listening on every address is shown as localhost: browsers grant camera
// and microphone only to secure contexts, and http://localhost is one.
func httpBase(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "http://" + addr
	}
	return "http://" + net.JoinHostPort(host, port)
}

// optionalInt is an int flag that knows whether it was given, so an
// explicit 0 differs from "not set" and the usage shows no bogus default.
type optionalInt struct {
	n   int
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.n)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	o.n, o.set = n, true
	return nil
}
