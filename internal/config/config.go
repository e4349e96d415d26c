// Package config holds every rtcloud setting: defaults, strict YAML
// (unknown keys are errors), environment overrides and validation. Flags
// are applied by cmd/rtcloud between Load and Validate.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of any rtcloud component.
type Config struct {
	NATS NATS `yaml:"nats"`
	// Keys are the API keys (key -> secret) tokens are signed with. A YAML
	// `keys:` section, or RTCLOUD_API_KEY/RTCLOUD_API_SECRET, replaces
	// whatever was set before; there is no built-in key.
	Keys map[string]string `yaml:"keys"`
	// DevKeys also accepts the public dev key (auth.DevKey). Only for
	// development: `rtcloud dev` sets it when no key is configured.
	DevKeys bool   `yaml:"dev_keys"`
	Signal  Signal `yaml:"signal"`
	SFU     SFU    `yaml:"sfu"`
	Log     Log    `yaml:"log"`
	// Controller configures `rtcloud controller`.
	Controller Controller `yaml:"controller"`
	// HTTP holds the timeouts of every HTTP server (http.go).
	HTTP HTTP `yaml:"http"`
	// Ingress and SIP configure the gateways (`rtcloud ingress`, `rtcloud sip`).
	Ingress Ingress `yaml:"ingress"`
	SIP     SIP     `yaml:"sip"`
	// Webhooks configures the controller's HTTP callbacks.
	Webhooks Webhooks `yaml:"webhooks"`
	// Relay configures node-to-node relaying and routing.
	Relay Relay `yaml:"relay"`
	// Egress configures `rtcloud egress` (see egress.go).
	Egress Egress `yaml:"egress"`
}

// NATS is the bus connection.
type NATS struct {
	// URL is a comma-separated list of NATS servers; empty in `rtcloud dev`
	// means an embedded server.
	URL        string `yaml:"url"`
	KVReplicas int    `yaml:"kv_replicas"`
}

// Signal configures the signaling server.
type Signal struct {
	HTTPAddr string `yaml:"http_addr"`
	// PublicURL is the externally visible base URL (for Location headers and
	// printed links); derived from HTTPAddr when empty.
	PublicURL string `yaml:"public_url"`
	// AllowedOrigins for WebSocket and WHIP/WHEP CORS; empty allows all.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// DevTokens enables GET /dev/token (never in production).
	DevTokens bool `yaml:"dev_tokens"`
	// TrustedProxies are the load balancers and reverse proxies (CIDRs or
	// addresses) in front of the server: for requests from them the
	// client's address, used for placement, is read from X-Forwarded-For.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Limits bound what one client may send (signallimits.go).
	Limits SignalLimits `yaml:"limits"`
}

// SFU configures a media node.
type SFU struct {
	NodeID string `yaml:"node_id"`
	Region string `yaml:"region"`
	Zone   string `yaml:"zone"`
	ISP    string `yaml:"isp"`
	// KubernetesNode names the Kubernetes node the SFU pod runs on (set
	// from spec.nodeName): the region and zone left empty are read from
	// that node's topology.kubernetes.io labels at startup.
	KubernetesNode string `yaml:"kubernetes_node"`
	// MediaPort is the one UDP port and the one TCP port all clients use.
	MediaPort int `yaml:"media_port"`
	// RelayPort is the UDP port other nodes send relay traffic to (rooms
	// that span nodes); 0 picks a free port. The relay runs when
	// relay.secret is set.
	RelayPort int `yaml:"relay_port"`
	// BindIP is the address the media sockets listen on (default all).
	BindIP string `yaml:"bind_ip"`
	// AdvertiseIPs are put in ICE candidates; default: the machine's
	// non-loopback addresses (loopback if there is none).
	AdvertiseIPs []string `yaml:"advertise_ips"`
	// Capacity is the most participants the node takes; 0 is unlimited.
	Capacity int `yaml:"capacity"`
	// MetricsAddr serves Prometheus /metrics when set.
	MetricsAddr string `yaml:"metrics_addr"`
	// HeartbeatInterval is how often the node reports to the bus.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// AliveInterval is how often the node publishes its liveness beat
	// (default 250ms): followers suspect it after a few missed beats.
	AliveInterval time.Duration `yaml:"alive_interval"`
	// MigrateOnShutdown: on SIGTERM, `rtcloud sfu` first moves its clients
	// to other nodes (a drain with migration) and waits up to this long
	// for them to leave before it stops. 0 stops at once.
	MigrateOnShutdown time.Duration `yaml:"migrate_on_shutdown"`
	// ReadBufferBytes bounds the bytes of one received stream waiting for
	// the node's read loop; beyond it packets are dropped at the input
	// (and NACKed upstream) rather than forwarded late. 0 means 1 MiB.
	ReadBufferBytes int `yaml:"read_buffer_bytes"`
	// TCPWriteBufferBytes is how much each ICE-TCP connection queues
	// before packets to it are dropped. 0 means 4 MiB.
	TCPWriteBufferBytes int `yaml:"tcp_write_buffer_bytes"`
	// Retransmit bounds the retransmissions subscribers' NACKs cause.
	Retransmit Retransmit `yaml:"retransmit"`
}

// Retransmit bounds the work subscribers' NACKs can make a node do, so
// loss on some links never starves forwarding. Zero values take defaults.
type Retransmit struct {
	// MaxAge: a packet that arrived longer ago is not resent; the
	// receiver's jitter buffer has given up on it. Default 500ms.
	MaxAge time.Duration `yaml:"max_age"`
	// MinGap: one packet is resent to one subscriber at most once per
	// MinGap (repeated NACKs within an RTT are ignored). Default 50ms.
	MinGap time.Duration `yaml:"min_gap"`
	// PerSubscriber is the retransmissions per second one subscription may
	// cause, with a burst of one second's worth. Default 200.
	PerSubscriber int `yaml:"per_subscriber"`
	// NodeShare and NodeMin bound the node as a whole: per second, at most
	// NodeShare of the packets it forwarded recently, and never less than
	// NodeMin. Defaults 0.1 and 2000.
	NodeShare float64 `yaml:"node_share"`
	NodeMin   int     `yaml:"node_min"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the defaults of every setting.
func Default() Config {
	return Config{
		NATS:   NATS{KVReplicas: 1},
		Signal: Signal{HTTPAddr: ":7800"},
		SFU: SFU{
			MediaPort:         7801,
			RelayPort:         7802,
			HeartbeatInterval: time.Second,
		},
		Log:        Log{Level: "info", Format: "text"},
		Controller: DefaultController(),
		Ingress:    DefaultIngress(),
		SIP:        DefaultSIP(),
		Webhooks:   DefaultWebhooks(),
		Relay:      DefaultRelay(),
		Egress:     DefaultEgress(),
	}
}

// Load returns the defaults overridden by the YAML file at path (if not
// empty) and then by the environment.
func Load(path string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decodeStrict(data, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.applyEnv(os.LookupEnv); err != nil {
		return c, err
	}
	return c, nil
}

func decodeStrict(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file is a valid, empty configuration.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// applyEnv applies RTCLOUD_* environment variables.
func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	str := map[string]*string{
		"RTCLOUD_NATS_URL":        &c.NATS.URL,
		"RTCLOUD_HTTP_ADDR":       &c.Signal.HTTPAddr,
		"RTCLOUD_PUBLIC_URL":      &c.Signal.PublicURL,
		"RTCLOUD_NODE_ID":         &c.SFU.NodeID,
		"RTCLOUD_REGION":          &c.SFU.Region,
		"RTCLOUD_ZONE":            &c.SFU.Zone,
		"RTCLOUD_ISP":             &c.SFU.ISP,
		"RTCLOUD_KUBERNETES_NODE": &c.SFU.KubernetesNode,
		"RTCLOUD_BIND_IP":         &c.SFU.BindIP,
		"RTCLOUD_METRICS_ADDR":    &c.SFU.MetricsAddr,
		"RTCLOUD_LOG_LEVEL":       &c.Log.Level,
		"RTCLOUD_LOG_FORMAT":      &c.Log.Format,
		"RTCLOUD_RELAY_SECRET":    &c.Relay.Secret,
	}
	for k, p := range str {
		if v, ok := lookup(k); ok {
			*p = v
		}
	}
	if v, ok := lookup("RTCLOUD_MIGRATE_ON_SHUTDOWN"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("RTCLOUD_MIGRATE_ON_SHUTDOWN=%q: not a duration (e.g. 30s)", v)
		}
		c.SFU.MigrateOnShutdown = d
	}
	if v, ok := lookup("RTCLOUD_MEDIA_PORT"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("RTCLOUD_MEDIA_PORT=%q: not a number", v)
		}
		c.SFU.MediaPort = n
	}
	if v, ok := lookup("RTCLOUD_ADVERTISE_IP"); ok {
		c.SFU.AdvertiseIPs = splitList(v)
	}
	key, hasKey := lookup("RTCLOUD_API_KEY")
	secret, hasSecret := lookup("RTCLOUD_API_SECRET")
	if hasKey != hasSecret {
		return errors.New("set both RTCLOUD_API_KEY and RTCLOUD_API_SECRET, or neither")
	}
	if hasKey {
		c.Keys = map[string]string{key: secret}
	}
	if v, ok := lookup("RTCLOUD_DEV_KEYS"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("RTCLOUD_DEV_KEYS=%q: want true or false", v)
		}
		c.DevKeys = b
	}
	c.Webhooks.applyEnv(lookup)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// SplitList splits a comma-separated flag value.
func SplitList(s string) []string { return splitList(s) }

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	for k, s := range c.Keys {
		if k == "" || s == "" {
			errs = append(errs, errors.New("keys: API keys and secrets must not be empty"))
		}
	}
	if c.SFU.MediaPort < 0 || c.SFU.MediaPort > 65535 {
		errs = append(errs, fmt.Errorf("sfu.media_port %d: must be 0-65535", c.SFU.MediaPort))
	}
	for _, ip := range c.SFU.AdvertiseIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, fmt.Errorf("sfu.advertise_ips: %q is not an IP address", ip))
		}
	}
	if c.SFU.BindIP != "" {
		if _, err := netip.ParseAddr(c.SFU.BindIP); err != nil {
			errs = append(errs, fmt.Errorf("sfu.bind_ip: %q is not an IP address", c.SFU.BindIP))
		}
	}
	if c.Signal.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.Signal.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("signal.http_addr %q: want host:port or :port", c.Signal.HTTPAddr))
		}
	}
	for _, p := range c.Signal.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("signal.trusted_proxies: %q is not a CIDR or an IP address", p))
			}
		}
	}
	if c.SFU.Capacity < 0 {
		errs = append(errs, errors.New("sfu.capacity: must not be negative"))
	}
	if c.SFU.ReadBufferBytes < 0 || c.SFU.TCPWriteBufferBytes < 0 {
		errs = append(errs, errors.New("sfu.read_buffer_bytes, sfu.tcp_write_buffer_bytes: must not be negative"))
	}
	if r := c.SFU.Retransmit; r.MaxAge < 0 || r.MinGap < 0 || r.PerSubscriber < 0 || r.NodeMin < 0 || r.NodeShare < 0 || r.NodeShare > 1 {
		errs = append(errs, errors.New("sfu.retransmit: values must not be negative, node_share at most 1"))
	}
	if c.SFU.MigrateOnShutdown < 0 || c.SFU.AliveInterval < 0 {
		errs = append(errs, errors.New("sfu.migrate_on_shutdown, sfu.alive_interval: must not be negative"))
	}
	if c.SFU.HeartbeatInterval <= 0 {
		errs = append(errs, errors.New("sfu.heartbeat_interval: must be positive"))
	}
	if c.NATS.KVReplicas < 1 || c.NATS.KVReplicas > 5 {
		errs = append(errs, errors.New("nats.kv_replicas: must be 1-5"))
	}
	errs = append(errs, c.Controller.validate()...)
	errs = append(errs, c.HTTP.validate()...)
	errs = append(errs, c.Signal.Limits.validate()...)
	errs = append(errs, c.validateIngress()...)
	errs = append(errs, c.validateSIP()...)
	errs = append(errs, c.Webhooks.validate(c.APIKeys())...)
	errs = append(errs, c.Relay.validate()...)
	if err := c.Egress.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: use debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: use text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// EnvNames lists every environment variable Load reads, sorted (for docs
// and for checking deployment manifests against the code).
func EnvNames() []string {
	var names []string
	c := Default()
	_ = c.applyEnv(func(k string) (string, bool) {
		names = append(names, k)
		return "", false
	})
	slices.Sort(names)
	return slices.Compact(names)
}
