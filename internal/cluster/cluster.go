// Package cluster launches a local rtcloud cluster for trying things out
// and for tests: one embedded NATS server and, each as its own child
// process of the same binary, SFU nodes in several regions, signaling
// servers and controllers.
package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// Options describe the local cluster.
type Options struct {
	// Exe is the rtcloud binary each child runs (os.Executable()).
	Exe string
	// ExtraEnv is added to every child's environment.
	ExtraEnv []string
	// Nodes SFU nodes, spread over Regions in turn (default "local").
	Nodes   int
	Regions []string
	// Signals and Controllers count the other children (default 2 each).
	Signals, Controllers int
	// Host is the address the children listen on (default 127.0.0.1).
	Host string
	// SignalPort is the first signaling server's port; the others follow
	// in steps of 10 (7800, 7810, ...). SFU node i uses media port
	// SignalPort+1+i. ControllerPort is the first controller's port.
	SignalPort, ControllerPort int
	// RelayPorts are the nodes' relay UDP ports; Start picks free ones
	// when there are fewer than Nodes.
	RelayPorts []int
	// RelaySecret is the cluster's relay key; Start generates one when
	// it is empty (and relay.secret is not in the environment).
	RelaySecret string
	// Policy, when set, is the controllers' placement policy
	// (controller.policy: nearest, the default, or same-node).
	Policy string
	// RelayLinks are the allowed relay links (relay.links: pairs of
	// regions or node ids) given to the controllers; empty is a full mesh.
	RelayLinks [][]string
	// TrustedProxies are given to the signaling servers
	// (signal.trusted_proxies): clients behind them are placed by their
	// X-Forwarded-For address.
	TrustedProxies []string
	// AdvertiseIP is put in the nodes' ICE candidates (default: the
	// machine's addresses).
	AdvertiseIP string
	// Keys are the API keys the controllers and signaling servers accept
	// (written to their config file); DevKeys adds the public dev key,
	// which a cluster without Keys (a development cluster) always accepts.
	Keys    map[string]string
	DevKeys bool
	// DevTokens makes the signaling servers serve GET /dev/token, so the
	// conference page works against the cluster (rtcloud dev --nodes).
	DevTokens bool
	// NATSURL, when set, is used instead of an embedded server.
	NATSURL  string
	LogLevel string
	// Out receives the children's output, each line prefixed with the
	// child's name; Info receives the banner with the URLs.
	Out, Info io.Writer
	Logger    *slog.Logger
	// StopTimeout is how long children get to exit after the interrupt
	// before they are killed (default 5 s).
	StopTimeout time.Duration
}

// Child is one process of the cluster.
type Child struct {
	Name string
	Args []string
	// URL is the child's HTTP base URL (signaling and controllers).
	URL string
	cmd *exec.Cmd
}

func (o *Options) defaults() error {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if len(o.Regions) == 0 {
		o.Regions = []string{"local"}
	}
	if o.Signals <= 0 {
		o.Signals = 2
	}
	if o.Controllers <= 0 {
		o.Controllers = 2
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.SignalPort == 0 {
		o.SignalPort = 7800
	}
	if o.ControllerPort == 0 {
		o.ControllerPort = 7900
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 5 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Info == nil {
		o.Info = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Exe == "" {
		return errors.New("cluster: Exe is required")
	}
	if o.Nodes > 9 {
		return errors.New("cluster: at most 9 SFU nodes (their media ports sit between the signaling ports)")
	}
	for _, r := range o.Regions {
		if !bus.ValidName(r) {
			return fmt.Errorf("cluster: region %q: use letters, digits, _ and -", r)
		}
	}
	return nil
}

// Plan returns the children the cluster runs, in start order: nodes,
// controllers, then signaling servers.
func (o Options) Plan(natsURL, configPath string) []*Child {
	var out []*Child
	common := []string{"--nats", natsURL}
	if o.LogLevel != "" {
		common = append(common, "--log-level", o.LogLevel)
	}
	// Only the components that verify tokens get the keys.
	withKeys := []string{"--config", configPath}
	if o.DevKeys || len(o.Keys) == 0 {
		withKeys = append(withKeys, "--dev-keys")
	}
	perRegion := map[string]int{}
	for i := range o.Nodes {
		region := o.Regions[i%len(o.Regions)]
		perRegion[region]++
		name := fmt.Sprintf("sfu-%s-%d", region, perRegion[region])
		// Each node serves /metrics and /healthz next to the controllers' ports.
		metrics := o.Host + ":" + strconv.Itoa(o.ControllerPort+20+i)
		args := append([]string{"sfu", "--node-id", name, "--region", region, "--media-port", strconv.Itoa(o.SignalPort + 1 + i),
			"--metrics-addr", metrics}, common...)
		if i < len(o.RelayPorts) {
			args = append(args, "--relay-port", strconv.Itoa(o.RelayPorts[i]))
		}
		if o.AdvertiseIP != "" {
			args = append(args, "--advertise-ip", o.AdvertiseIP)
		}
		out = append(out, &Child{Name: name, Args: args, URL: "http://" + metrics})
	}
	for i := range o.Controllers {
		addr := o.Host + ":" + strconv.Itoa(o.ControllerPort+i)
		args := append([]string{"controller", "--http", addr, "--id", fmt.Sprintf("controller-%d", i+1), "--dashboard-dev-sign-in"}, common...)
		args = append(args, withKeys...)
		out = append(out, &Child{Name: fmt.Sprintf("controller-%d", i+1), Args: args, URL: "http://" + addr})
	}
	for i := range o.Signals {
		addr := o.Host + ":" + strconv.Itoa(o.SignalPort+10*i)
		args := append([]string{"signal", "--http", addr}, common...)
		args = append(args, withKeys...)
		out = append(out, &Child{Name: fmt.Sprintf("signal-%d", i+1), Args: args, URL: "http://" + addr})
	}
	return out
}

// DemoCIDRs maps 10.<i+1>.0.0/16 to region i, and loopback to the first
// region, so `?ip=10.2.0.1` shows placement in the second region.
func DemoCIDRs(regions []string) string {
	var b strings.Builder
	b.WriteString("controller:\n  geoip:\n    cidrs:\n")
	for i, r := range regions {
		fmt.Fprintf(&b, "      - {cidr: 10.%d.0.0/16, region: %s}\n", i+1, r)
	}
	fmt.Fprintf(&b, "      - {cidr: 127.0.0.0/8, region: %s}\n", regions[0])
	return b.String()
}

// keysYAML is the `keys:` section of the children's config file.
func keysYAML(keys map[string]string) string {
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("keys:\n")
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		fmt.Fprintf(&b, "  %s: %s\n", strconv.Quote(k), strconv.Quote(keys[k]))
	}
	return b.String()
}

// Cluster is a running local cluster.
type Cluster struct {
	Children []*Child
	NATSURL  string
	g        *group
	cleanup  []func()
}

// Start starts the embedded NATS server (unless NATSURL is set) and every
// child, and prints the banner.
func Start(o Options) (*Cluster, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	cl := &Cluster{NATSURL: o.NATSURL}
	if cl.NATSURL == "" {
		nats, err := bus.StartEmbedded(bus.EmbeddedOptions{Host: o.Host})
		if err != nil {
			return nil, err
		}
		cl.cleanup = append(cl.cleanup, nats.Shutdown)
		cl.NATSURL = nats.ClientURL()
	}
	dir, err := os.MkdirTemp("", "rtcloud-cluster-")
	if err != nil {
		cl.Stop()
		return nil, err
	}
	cl.cleanup = append(cl.cleanup, func() { _ = os.RemoveAll(dir) })
	cfgPath := filepath.Join(dir, "controller.yaml")
	cfg := DemoCIDRs(o.Regions)
	if o.Policy != "" {
		cfg += "  policy: " + o.Policy + "\n" // in DemoCIDRs' controller section
	}
	cfg += keysYAML(o.Keys)
	if o.DevTokens || len(o.TrustedProxies) > 0 {
		cfg += "signal:\n"
	}
	if o.DevTokens {
		cfg += "  dev_tokens: true\n"
	}
	if len(o.TrustedProxies) > 0 {
		cfg += "  trusted_proxies: [" + strings.Join(o.TrustedProxies, ", ") + "]\n"
	}
	if len(o.RelayLinks) > 0 {
		cfg += "relay:\n  links:\n"
		for _, l := range o.RelayLinks {
			cfg += "    - [" + strings.Join(l, ", ") + "]\n"
		}
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		cl.Stop()
		return nil, err
	}
	if err := o.relaySetup(); err != nil {
		cl.Stop()
		return nil, err
	}
	cl.Children = o.Plan(cl.NATSURL, cfgPath)
	cl.g = &group{opts: o, exited: make(chan string, len(cl.Children))}
	for _, c := range cl.Children {
		if err := cl.g.start(c); err != nil {
			cl.Stop()
			return nil, err
		}
	}
	printBanner(o, cl.NATSURL, cl.Children)
	return cl, nil
}

// Kill ends child name at once (SIGKILL), as a crash would.
func (cl *Cluster) Kill(name string) error {
	for _, c := range cl.Children {
		if c.Name == name && c.cmd != nil {
			return c.cmd.Process.Kill()
		}
	}
	return fmt.Errorf("cluster: no child %q", name)
}

// Stop interrupts every child, kills those still running after
// StopTimeout, waits for them, and stops the embedded NATS server.
func (cl *Cluster) Stop() {
	if cl.g != nil {
		cl.g.stop()
	}
	for i := len(cl.cleanup) - 1; i >= 0; i-- {
		cl.cleanup[i]()
	}
	cl.cleanup = nil
}

// Run starts the cluster and keeps it up until ctx ends or no child is
// left; a child that dies stays dead (that is how failover is tried out).
func Run(ctx context.Context, o Options) error {
	cl, err := Start(o)
	if err != nil {
		return err
	}
	defer cl.Stop()
	for left := len(cl.Children); left > 0; left-- {
		select {
		case <-ctx.Done():
			return nil
		case name := <-cl.g.exited:
			cl.g.opts.Logger.Warn("cluster child is gone", "child", name, "still_running", left-1)
		}
	}
	return errors.New("cluster: every child process exited")
}

func printBanner(o Options, natsURL string, children []*Child) {
	w := o.Info
	fmt.Fprintf(w, "rtcloud local cluster is running (%d SFU nodes in %s)\n", o.Nodes, strings.Join(o.Regions, ","))
	for _, c := range children {
		switch {
		case strings.HasPrefix(c.Name, "signal"):
			page := ""
			if o.DevTokens {
				page = "conference page, "
			}
			fmt.Fprintf(w, "  %-14s %s/   (%sWebSocket ws%s/ws)\n", c.Name+":", c.URL, page, strings.TrimPrefix(c.URL, "http"))
		case strings.HasPrefix(c.Name, "controller"):
			fmt.Fprintf(w, "  %-14s %s/v1/allocate?room=demo&ip=10.2.0.1   (dashboard %s/dashboard/)\n", c.Name+":", c.URL, c.URL)
		default:
			fmt.Fprintf(w, "  %-14s %s   (metrics %s/metrics)\n", c.Name+":", strings.Join(c.Args[:7], " "), c.URL)
		}
	}
	fmt.Fprintf(w, "  NATS:          %s\n  client regions: 10.N.0.0/16 is region N (1=%s), loopback is %s\n  Ctrl-C stops every process.\n",
		natsURL, o.Regions[0], o.Regions[0])
}

// group owns the child processes and the goroutines that copy their
// output and wait for them.
type group struct {
	opts     Options
	mu       sync.Mutex // guards children
	children []*Child
	wg       sync.WaitGroup
	exited   chan string
}

func (g *group) start(c *Child) error {
	cmd := exec.Command(g.opts.Exe, c.Args...)
	cmd.Env = append(os.Environ(), g.opts.ExtraEnv...)
	// Own process group: a terminal's Ctrl-C reaches only the launcher,
	// which then stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("cluster: start %s: %w", c.Name, err)
	}
	c.cmd = cmd
	g.mu.Lock()
	g.children = append(g.children, c)
	g.mu.Unlock()
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(g.opts.Out, "[%s] %s\n", c.Name, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		defer g.wg.Done()
		err := cmd.Wait()
		pw.Close()
		g.opts.Logger.Info("child exited", "child", c.Name, "err", err)
		g.exited <- c.Name
	}()
	return nil
}

// stop interrupts every child, kills the ones still running after
// StopTimeout, and waits for all of them.
func (g *group) stop() {
	g.mu.Lock()
	children := g.children
	g.mu.Unlock()
	for _, c := range children {
		_ = c.cmd.Process.Signal(os.Interrupt)
	}
	all := make(chan struct{})
	go func() { g.wg.Wait(); close(all) }()
	select {
	case <-all:
		return
	case <-time.After(g.opts.StopTimeout):
	}
	for _, c := range children {
		_ = c.cmd.Process.Kill()
	}
	<-all
}
