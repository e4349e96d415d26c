package config

import (
	"errors"
	"time"
)

// HTTP bounds how long every HTTP server of rtcloud (signaling,
// controller, metrics) gives a client, so a request whose headers or body
// never arrive cannot hold a connection forever. Streaming endpoints
// (WebSocket, server-sent events) clear the read and write deadlines of
// their connection once accepted. Zero values take the defaults below.
type HTTP struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
}

// Defaults of HTTP.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// WithDefaults returns h with zero values replaced by the defaults.
func (h HTTP) WithDefaults() HTTP {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&h.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&h.ReadTimeout, DefaultReadTimeout)
	def(&h.WriteTimeout, DefaultWriteTimeout)
	def(&h.IdleTimeout, DefaultIdleTimeout)
	return h
}

func (h HTTP) validate() []error {
	if h.ReadHeaderTimeout < 0 || h.ReadTimeout < 0 || h.WriteTimeout < 0 || h.IdleTimeout < 0 {
		return []error{errors.New("http: timeouts must not be negative")}
	}
	return nil
}
