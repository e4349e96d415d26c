// Package netsim impairs UDP traffic for tests where the kernel has no
// netem: a proxy between one client and a server's UDP port that limits
// the rate of what the server sends (a token bucket that drops beyond
// it) and drops packets at random from a seeded generator, so a failing
// run can be replayed with the same seed. It also delays what the server
// sends by a fixed time plus seeded jitter (delay.go). Only tests import
// it.
package netsim

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Proxy.
type Options struct {
	// Upstream is the server's UDP address.
	Upstream *net.UDPAddr
	// Listen is where the client reaches the proxy (default 127.0.0.1:0).
	Listen *net.UDPAddr
	// Rate limits the server-to-client direction in bits per second
	// (0: unlimited); Burst is the bucket's size in bytes (default 100 ms
	// of Rate, at least 8 KiB).
	Rate  uint64
	Burst int
	// Loss is the probability of dropping a server-to-client datagram.
	Loss float64
	// Seed seeds the loss and jitter generator.
	Seed uint64
	// Delay holds every server-to-client datagram this long, plus a
	// uniform random Jitter in [-Jitter, +Jitter] (never below zero).
	// Jitter reorders datagrams, as netem's does.
	Delay, Jitter time.Duration
	Logger        *slog.Logger
}

// Stats counts datagrams by direction and fate.
type Stats struct {
	Up, Down                 uint64 // forwarded
	DroppedRate, DroppedLoss uint64 // server-to-client drops
}

// Proxy forwards datagrams between one client (the last address that
// sent to Addr) and Upstream. Its two goroutines stop on Close.
type Proxy struct {
	log        *slog.Logger
	down       *net.UDPConn // faces the client
	up         *net.UDPConn // connected to the server
	client     atomic.Pointer[net.UDPAddr]
	rate       atomic.Uint64
	loss       atomic.Uint64 // math.Float64bits
	burst      int
	rng        *rand.Rand // downstream goroutine only
	tokens     float64    // downstream goroutine only
	last       time.Time  // downstream goroutine only
	up1, down1 atomic.Uint64
	dropRate   atomic.Uint64
	dropLoss   atomic.Uint64
	delay      delayLine
	closeOnce  sync.Once
	wg         sync.WaitGroup
}

// Listen starts a proxy to o.Upstream.
func Listen(o Options) (*Proxy, error) {
	if o.Upstream == nil {
		return nil, errors.New("netsim: no upstream address")
	}
	if o.Listen == nil {
		o.Listen = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Burst <= 0 {
		o.Burst = max(int(o.Rate/8/10), 8<<10)
	}
	down, err := net.ListenUDP("udp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("netsim: listen: %w", err)
	}
	up, err := net.DialUDP("udp", nil, o.Upstream)
	if err != nil {
		_ = down.Close()
		return nil, fmt.Errorf("netsim: dial %s: %w", o.Upstream, err)
	}
	// Only the configured impairment may drop packets, not a socket buffer
	// overflowing during a burst.
	for _, c := range []*net.UDPConn{down, up} {
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
	}
	p := &Proxy{log: o.Logger, down: down, up: up, burst: o.Burst,
		rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), tokens: float64(o.Burst)}
	p.rate.Store(o.Rate)
	p.loss.Store(math.Float64bits(o.Loss))
	p.delay.init(o.Delay, o.Jitter)
	p.log.Info("netsim proxy", "listen", down.LocalAddr(), "upstream", o.Upstream, "rate", o.Rate, "loss", o.Loss,
		"delay", o.Delay, "jitter", o.Jitter, "seed", o.Seed)
	p.wg.Add(3)
	go p.toServer()
	go p.toClient()
	go p.release()
	return p, nil
}

// Addr is where the client sends.
func (p *Proxy) Addr() *net.UDPAddr { return p.down.LocalAddr().(*net.UDPAddr) }

// UpstreamAddr is the address the server sees the proxy's datagrams come
// from: a server that sends there reaches the client through the proxy
// (once the client has sent a first datagram).
func (p *Proxy) UpstreamAddr() *net.UDPAddr { return p.up.LocalAddr().(*net.UDPAddr) }

// SetRate changes the server-to-client limit (0: unlimited).
func (p *Proxy) SetRate(bps uint64) { p.rate.Store(bps) }

// SetLoss changes the server-to-client drop probability.
func (p *Proxy) SetLoss(f float64) { p.loss.Store(math.Float64bits(f)) }

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Up: p.up1.Load(), Down: p.down1.Load(), DroppedRate: p.dropRate.Load(), DroppedLoss: p.dropLoss.Load()}
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		err = errors.Join(p.down.Close(), p.up.Close())
		p.delay.close()
		p.wg.Wait()
	})
	return err
}

// toServer forwards what the client sends and remembers its address.
func (p *Proxy) toServer() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.down.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if c := p.client.Load(); c == nil || !c.IP.Equal(from.IP) || c.Port != from.Port {
			p.client.Store(from)
		}
		if _, err := p.up.Write(buf[:n]); err == nil {
			p.up1.Add(1)
		}
	}
}

// toClient forwards what the server sends, impaired.
func (p *Proxy) toClient() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := p.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable and the like
		}
		c := p.client.Load()
		now := time.Now()
		if c == nil || !p.admit(n, now) {
			continue
		}
		if d, ok := p.delay.hold(p.rng); ok {
			p.delay.push(buf[:n], now.Add(d))
			continue
		}
		p.deliver(buf[:n])
	}
}

// deliver sends one datagram to the client.
func (p *Proxy) deliver(b []byte) {
	if c := p.client.Load(); c != nil {
		if _, err := p.down.WriteToUDP(b, c); err == nil {
			p.down1.Add(1)
		}
	}
}

// admit applies loss, then the token bucket, to one datagram of n bytes.
func (p *Proxy) admit(n int, now time.Time) bool {
	if loss := math.Float64frombits(p.loss.Load()); loss > 0 && p.rng.Float64() < loss {
		p.dropLoss.Add(1)
		return false
	}
	rate := p.rate.Load()
	if !p.last.IsZero() {
		p.tokens += now.Sub(p.last).Seconds() * float64(rate) / 8
	}
	p.last = now
	p.tokens = min(p.tokens, float64(p.burst))
	if rate == 0 {
		return true
	}
	if p.tokens < float64(n) {
		p.dropRate.Add(1)
		return false
	}
	p.tokens -= float64(n)
	return true
}
