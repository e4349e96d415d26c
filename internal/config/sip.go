package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// SIP configures `rtcloud sip`, the SIP gateway.
type SIP struct {
	// Addr is the SIP listen address, UDP and TCP; empty turns the SIP
	// gateway off in `rtcloud dev`.
	Addr string `yaml:"addr"`
	// AdvertiseIP is the address put in Contact headers and SDP; default:
	// the address of the interface a peer's packets arrive on is not
	// known with UDP, so this machine's first non-loopback address.
	AdvertiseIP string `yaml:"advertise_ip"`
	// RTPPortMin and RTPPortMax bound the UDP ports of calls' RTP (even
	// ports) and RTCP (the next odd port).
	RTPPortMin int `yaml:"rtp_port_min"`
	RTPPortMax int `yaml:"rtp_port_max"`
	// SignalURL is the WebSocket endpoint the gateway joins rooms through.
	SignalURL string `yaml:"signal_url"`
	// FFmpeg is the ffmpeg binary that encodes and decodes Opus.
	FFmpeg string `yaml:"ffmpeg"`
	// RTPTimeout ends a call whose caller sends no RTP for this long.
	RTPTimeout time.Duration `yaml:"rtp_timeout"`
	// PINTimeout is how long a caller has to key in a PIN.
	PINTimeout time.Duration `yaml:"pin_timeout"`
	// RoomFromURI lets a call to sip:{room}@host join room {room} of
	// namespace "default" when no rule matches (on in `rtcloud dev`).
	RoomFromURI bool `yaml:"room_from_uri"`
	// Rules map called numbers or URIs to rooms; the API adds more.
	Rules []DialRule `yaml:"rules"`
	// APIKey is the key of `keys` that signs callers' tokens; empty
	// picks one.
	APIKey string `yaml:"api_key"`
}

// DialRule maps a called number or SIP URI user part to a room, with an
// optional PIN the caller keys in as DTMF.
type DialRule struct {
	// To is the called number or user ("+15551234", "sales"), or a full
	// URI ("sip:sales@example.com"); "*" matches any call.
	To        string `yaml:"to" json:"to"`
	Namespace string `yaml:"namespace" json:"namespace"`
	Room      string `yaml:"room" json:"room"`
	PIN       string `yaml:"pin" json:"pin,omitempty"`
}

// Validate checks one rule.
func (r DialRule) Validate() error {
	if r.To == "" {
		return errors.New("to is required")
	}
	if r.Namespace != "" && !bus.ValidName(r.Namespace) {
		return fmt.Errorf("namespace %q: use 1-128 characters of A-Z a-z 0-9 _ -", r.Namespace)
	}
	if !bus.ValidName(r.Room) {
		return fmt.Errorf("room %q: use 1-128 characters of A-Z a-z 0-9 _ -", r.Room)
	}
	for _, c := range r.PIN {
		if !strings.ContainsRune("0123456789", c) {
			return fmt.Errorf("pin %q: digits only", r.PIN)
		}
	}
	if len(r.PIN) > 16 {
		return errors.New("pin: at most 16 digits")
	}
	return nil
}

// DefaultSIP returns the SIP defaults.
func DefaultSIP() SIP {
	return SIP{Addr: ":5060", RTPPortMin: 10000, RTPPortMax: 10199, SignalURL: "ws://127.0.0.1:7800/ws",
		FFmpeg: "ffmpeg", RTPTimeout: 15 * time.Second, PINTimeout: 20 * time.Second}
}

func (c *Config) validateSIP() []error {
	s := c.SIP
	var errs []error
	if _, _, err := net.SplitHostPort(s.Addr); err != nil && s.Addr != "" {
		errs = append(errs, fmt.Errorf("sip.addr %q: want host:port or :port", s.Addr))
	}
	if s.AdvertiseIP != "" {
		if _, err := netip.ParseAddr(s.AdvertiseIP); err != nil {
			errs = append(errs, fmt.Errorf("sip.advertise_ip %q: not an IP address", s.AdvertiseIP))
		}
	}
	if s.RTPPortMin < 1024 || s.RTPPortMax > 65535 || s.RTPPortMax < s.RTPPortMin+1 {
		errs = append(errs, fmt.Errorf("sip.rtp_port_min/max %d-%d: want 1024 <= min < max <= 65535", s.RTPPortMin, s.RTPPortMax))
	}
	if !strings.HasPrefix(s.SignalURL, "ws://") && !strings.HasPrefix(s.SignalURL, "wss://") {
		errs = append(errs, fmt.Errorf("sip.signal_url %q: want ws://host:port/ws", s.SignalURL))
	}
	if s.FFmpeg == "" {
		errs = append(errs, errors.New("sip.ffmpeg: the ffmpeg binary is required"))
	}
	if s.RTPTimeout <= 0 || s.PINTimeout <= 0 {
		errs = append(errs, errors.New("sip.rtp_timeout, sip.pin_timeout: must be positive"))
	}
	for i, r := range s.Rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("sip.rules[%d]: %w", i, err))
		}
	}
	if s.APIKey != "" {
		if _, ok := c.APIKeys()[s.APIKey]; !ok {
			errs = append(errs, fmt.Errorf("sip.api_key %q: not in keys", s.APIKey))
		}
	}
	return errs
}
