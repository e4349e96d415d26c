package relay

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is one node's relay socket and its links to peers. Its methods
// are safe for concurrent use. Create it with Listen; Close stops it.
type Transport struct {
	cfg     Config
	log     *slog.Logger
	handler Handler
	conn    *net.UDPConn
	start   time.Time
	epoch   uint64
	hdrLen  int // outer header length of what this node sends

	peersMu sync.Mutex // serialises SetPeer/RemovePeer; readers use peers
	peers   atomic.Pointer[map[string]*peer]

	codecs codecs
	drops  [numDropReasons]atomic.Uint64

	// Receive goroutine only.
	dec     *decoder
	rebuilt []int64

	metrics   *collector
	closing   atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// Defaults.
const (
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultDownAfter     = time.Second
	DefaultMaxHops       = 8
	DefaultCacheSize     = 512
)

func (c *Config) setDefaults() error {
	if len(c.NodeID) == 0 || len(c.NodeID) > MaxIDLen {
		return fmt.Errorf("%w: node id of %d bytes", ErrBadConfig, len(c.NodeID))
	}
	if len(c.Secret) < 16 {
		return fmt.Errorf("%w: the cluster secret needs at least 16 bytes", ErrBadConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.DownAfter <= 0 {
		c.DownAfter = DefaultDownAfter
	}
	if c.DownAfter <= c.ProbeInterval {
		return fmt.Errorf("%w: down_after %v must exceed the probe interval %v", ErrBadConfig, c.DownAfter, c.ProbeInterval)
	}
	if c.MaxHops == 0 {
		c.MaxHops = DefaultMaxHops
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	size := 32
	for size < c.CacheSize {
		size <<= 1
	}
	c.CacheSize = size
	return nil
}

// Listen binds cfg.ListenAddr and starts the receive and timer goroutines;
// h receives the peers' media and feedback.
func Listen(cfg Config, h Handler) (*Transport, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: no handler", ErrBadConfig)
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address %q: %v", ErrBadConfig, cfg.ListenAddr, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: listen %s: %w", cfg.ListenAddr, err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	t := &Transport{cfg: cfg, log: cfg.Logger.With("relay", cfg.NodeID), handler: h, conn: conn,
		start: time.Now(), hdrLen: outerFixed + len(cfg.NodeID),
		dec: newDecoder(), rebuilt: make([]int64, 0, maxFECData), done: make(chan struct{})}
	// The epoch makes nonces unique across restarts of this node.
	t.epoch = uint64(t.start.UnixNano())
	t.peers.Store(&map[string]*peer{})
	if cfg.Registerer != nil {
		t.metrics = newCollector(t)
		if err := cfg.Registerer.Register(t.metrics); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("relay: metrics: %w", err)
		}
	}
	t.wg.Add(2)
	go t.readLoop()
	go t.tickLoop()
	t.log.Info("relay listening", "addr", conn.LocalAddr())
	return t, nil
}

// now is the transport's monotonic clock in ns, never 0.
func (t *Transport) now() int64 { return int64(time.Since(t.start)) + 1 }

// Addr is the bound UDP address.
func (t *Transport) Addr() netip.AddrPort { return t.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// SetPeer adds a relay peer or changes its address. Packets from a node are
// accepted only while it is a peer.
func (t *Transport) SetPeer(nodeID string, addr netip.AddrPort) {
	if nodeID == "" || len(nodeID) > MaxIDLen || nodeID == t.cfg.NodeID {
		t.log.Warn("relay: refused peer id", "peer", nodeID)
		return
	}
	t.peersMu.Lock()
	defer t.peersMu.Unlock()
	cur := *t.peers.Load()
	if p := cur[nodeID]; p != nil {
		p.sendMu.Lock()
		p.addr = addr
		p.sendMu.Unlock()
		return
	}
	p, err := newPeer(t, nodeID, addr)
	if err != nil {
		t.log.Error("relay: peer keys", "peer", nodeID, "err", err)
		return
	}
	next := maps.Clone(cur)
	next[nodeID] = p
	t.peers.Store(&next)
}

// RemovePeer forgets a peer and its link state.
func (t *Transport) RemovePeer(nodeID string) {
	t.peersMu.Lock()
	defer t.peersMu.Unlock()
	cur := *t.peers.Load()
	if cur[nodeID] == nil {
		return
	}
	next := maps.Clone(cur)
	delete(next, nodeID)
	t.peers.Store(&next)
}

// Send sends p to the peer nextHop with p.Hops+1 on the wire. It copies p
// (the caller may reuse it at once), allocates nothing, and does not wait
// for the network beyond one UDP write.
func (t *Transport) Send(nextHop string, p *Packet) error {
	if t.closing.Load() {
		return ErrClosed
	}
	if p.Type != TypeMedia && p.Type != TypeFeedback {
		return ErrPacketType
	}
	if p.Hops >= t.cfg.MaxHops {
		return ErrHopLimit
	}
	if _, err := dataLen(p); err != nil {
		return err
	}
	pe := (*t.peers.Load())[nextHop]
	if pe == nil {
		return ErrUnknownPeer
	}
	return pe.send(p)
}

// Links describes every peer's link, sorted by peer id.
func (t *Transport) Links() []LinkStats {
	peers := *t.peers.Load()
	out := make([]LinkStats, 0, len(peers))
	for _, p := range peers {
		out = append(out, p.stats())
	}
	slices.SortFunc(out, func(a, b LinkStats) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// Close stops the goroutines and closes the socket.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		close(t.done)
		t.closeErr = t.conn.Close()
		t.wg.Wait()
		if t.metrics != nil {
			t.cfg.Registerer.Unregister(t.metrics)
		}
		if errors.Is(t.closeErr, net.ErrClosed) {
			t.closeErr = nil
		}
	})
	return t.closeErr
}
