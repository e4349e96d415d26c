package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Options configure one benchmark run.
type Options struct {
	URL        string // ws://HOST:PORT (the /ws path is added when missing)
	MetricsURL string // the server's /metrics; derived from URL when empty, "-" for none
	Key        string
	Secret     string
	Namespace  string
	RoomPrefix string // rooms are RoomPrefix-0, RoomPrefix-1, ...

	Rooms       int
	Publishers  int // per room
	Subscribers int // per room
	VideoKbps   int // per publisher (the highest layer with simulcast)
	Codec       string
	Simulcast   bool
	AudioOnly   bool
	Duration    time.Duration // measured window, after every join
	JoinRate    float64       // subscriber joins started per second
	Settle      time.Duration // pause between the last join and the window

	// SubscriberURLs, when set, spread the subscribers over these
	// signaling servers (subscriber i joins through SubscriberURLs[i mod
	// n]); publishers join through URL.
	SubscriberURLs []string
	// SubscriberIPs, when set, spread the subscribers over these client
	// addresses, sent as X-Forwarded-For (subscriber i as SubscriberIPs[i
	// mod n]): behind a signaling server that trusts this machine as a
	// proxy (signal.trusted_proxies) they are placed as if they came from
	// there, e.g. one address per region of `rtcloud dev --nodes 3
	// --regions eu,us,ap` (10.1.0.1, 10.2.0.1, 10.3.0.1).
	SubscriberIPs []string
	// Progress, when set, gets one line per second while the run lasts.
	Progress func(line string)
	// DuringWindow, when set, runs once when the measured window starts
	// (after every join), for example to kill a process and measure the
	// media gap its subscribers see. The window lasts Duration after it
	// returns.
	DuringWindow func(ctx context.Context)
	// ReceiveLoss drops received packets on every subscriber (tests).
	ReceiveLoss client.LossFunc
	Logger      *slog.Logger
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	if o.Key == "" {
		o.Key, o.Secret = auth.DevKey, auth.DevSecret
	}
	if o.Namespace == "" {
		o.Namespace = auth.DefaultNamespace
	}
	if o.RoomPrefix == "" {
		o.RoomPrefix = "bench-" + strconv.FormatInt(time.Now().Unix()%100000, 10)
	}
	if o.Rooms == 0 {
		o.Rooms = 1
	}
	if o.Publishers == 0 {
		o.Publishers = 1
	}
	if o.VideoKbps == 0 {
		o.VideoKbps = 1000
	}
	if o.Codec == "" {
		o.Codec = client.CodecVP8
	}
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
	}
	if o.JoinRate == 0 {
		o.JoinRate = 50
	}
	if o.Settle == 0 {
		o.Settle = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the options (after Defaults).
func (o *Options) Validate() error {
	switch {
	case o.URL == "":
		return fmt.Errorf("%w: --url is required", ErrOptions)
	case o.Rooms < 1 || o.Publishers < 1 || o.Subscribers < 0:
		return fmt.Errorf("%w: need at least 1 room and 1 publisher, subscribers >= 0", ErrOptions)
	case o.VideoKbps < 10:
		return fmt.Errorf("%w: --video-kbps %d is below 10", ErrOptions, o.VideoKbps)
	case o.Codec != client.CodecVP8 && o.Codec != client.CodecH264:
		return fmt.Errorf("%w: codec %q: want VP8 or H264", ErrOptions, o.Codec)
	case o.JoinRate <= 0:
		return fmt.Errorf("%w: join rate must be positive", ErrOptions)
	case o.Duration <= 0:
		return fmt.Errorf("%w: duration must be positive", ErrOptions)
	}
	if _, err := o.wsURL(); err != nil {
		return err
	}
	for _, u := range o.SubscriberURLs {
		if _, err := (&Options{URL: u}).wsURL(); err != nil {
			return err
		}
	}
	for _, ip := range o.SubscriberIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: subscriber ip %q is not an IP address", ErrOptions, ip)
		}
	}
	return nil
}

// subscriberDial is where subscriber i joins and the headers it sends.
func (o *Options) subscriberDial(i int, ws string) (string, http.Header) {
	if n := len(o.SubscriberURLs); n > 0 {
		ws, _ = (&Options{URL: o.SubscriberURLs[i%n]}).wsURL()
	}
	var h http.Header
	if n := len(o.SubscriberIPs); n > 0 {
		h = http.Header{"X-Forwarded-For": {o.SubscriberIPs[i%n]}}
	}
	return ws, h
}

// wsURL is the WebSocket endpoint.
func (o *Options) wsURL() (string, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", fmt.Errorf("%w: --url %q: want ws://HOST:PORT", ErrOptions, o.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	return u.String(), nil
}

// metricsURL is the server's /metrics, or "" when disabled.
func (o *Options) metricsURL() string {
	if o.MetricsURL == "-" {
		return ""
	}
	if o.MetricsURL != "" {
		return o.MetricsURL
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return ""
	}
	u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	u.Path = "/metrics"
	return u.String()
}

// loopback reports whether the server is on this machine's loopback; the
// clients then gather loopback candidates only.
func (o *Options) loopback() bool {
	u, err := url.Parse(o.URL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ParseRate parses a rate such as "50/s", "50" or "600/m" into events per
// second.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%w: rate %q: want N/s", ErrOptions, s)
	}
	switch unit {
	case "", "s":
		return v, nil
	case "m":
		return v / 60, nil
	}
	return 0, fmt.Errorf("%w: rate %q: unit must be s or m", ErrOptions, s)
}
