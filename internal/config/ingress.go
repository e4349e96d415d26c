package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Ingress configures `rtcloud ingress`, the RTMP ingest gateway.
type Ingress struct {
	// RTMPAddr is where encoders connect (rtmp://HOST:1935/live); empty
	// turns RTMP ingest off in `rtcloud dev`.
	RTMPAddr string `yaml:"rtmp_addr"`
	// PublicURL is the RTMP URL handed out by POST /v1/ingress; derived
	// from RTMPAddr when empty.
	PublicURL string `yaml:"public_url"`
	// SignalURL is the WebSocket endpoint (ws://host:7800/ws) the gateway
	// joins rooms through, as any client does.
	SignalURL string `yaml:"signal_url"`
	// FFmpeg is the ffmpeg binary that transcodes AAC to Opus (and video
	// to simulcast layers when Simulcast is set).
	FFmpeg string `yaml:"ffmpeg"`
	// AudioKbps is the Opus bitrate of transcoded audio.
	AudioKbps int `yaml:"audio_kbps"`
	// Simulcast publishes the video in three simulcast layers: the
	// encoder's own (forwarded as is) and two that an ffmpeg subprocess
	// scales down to a half and a quarter (a decode and two encodes).
	Simulcast bool `yaml:"simulcast"`
	// APIKey is the key of `keys` that signs the tokens of ingress keys;
	// empty picks one.
	APIKey string `yaml:"api_key"`
}

// DefaultIngress returns the ingress defaults.
func DefaultIngress() Ingress {
	return Ingress{RTMPAddr: ":1935", SignalURL: "ws://127.0.0.1:7800/ws", FFmpeg: "ffmpeg", AudioKbps: 64}
}

func (c *Config) validateIngress() []error {
	in := c.Ingress
	var errs []error
	if _, _, err := net.SplitHostPort(in.RTMPAddr); err != nil && in.RTMPAddr != "" {
		errs = append(errs, fmt.Errorf("ingress.rtmp_addr %q: want host:port or :port", in.RTMPAddr))
	}
	if in.PublicURL != "" && !strings.HasPrefix(in.PublicURL, "rtmp://") {
		errs = append(errs, fmt.Errorf("ingress.public_url %q: want rtmp://host:port/live", in.PublicURL))
	}
	if !strings.HasPrefix(in.SignalURL, "ws://") && !strings.HasPrefix(in.SignalURL, "wss://") {
		errs = append(errs, fmt.Errorf("ingress.signal_url %q: want ws://host:port/ws", in.SignalURL))
	}
	if in.FFmpeg == "" {
		errs = append(errs, errors.New("ingress.ffmpeg: the ffmpeg binary is required"))
	}
	if in.AudioKbps < 6 || in.AudioKbps > 510 {
		errs = append(errs, fmt.Errorf("ingress.audio_kbps %d: Opus takes 6-510", in.AudioKbps))
	}
	if in.APIKey != "" {
		if _, ok := c.APIKeys()[in.APIKey]; !ok {
			errs = append(errs, fmt.Errorf("ingress.api_key %q: not in keys", in.APIKey))
		}
	}
	return errs
}

// SigningKey returns the API key and secret that sign tokens minted by a
// gateway: key if set, else the smallest key name of APIKeys.
func (c *Config) SigningKey(key string) (string, string) {
	keys := c.APIKeys()
	if key != "" {
		return key, keys[key]
	}
	best := ""
	for k := range keys {
		if best == "" || k < best {
			best = k
		}
	}
	return best, keys[best]
}
