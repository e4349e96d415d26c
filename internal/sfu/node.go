// Package sfu is the media node: Pion PeerConnections sharing one UDP and
// one TCP port, forwarding, simulcast, NACK/PLI/TWCC. It takes commands
// from the bus and publishes room events and heartbeats on it; it has no
// client-facing HTTP.
//
// Locks: Node.mu guards the session and track registries and is never held
// while calling into a session, a track or the bus. session.mu is held for
// a whole negotiation. downTrack.mu is the innermost lock.
package sfu

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/icemux"
	"github.com/rtcloud/rtcloud/internal/metrics"
	"github.com/rtcloud/rtcloud/internal/relay"
)

// Options configure a Node.
type Options struct {
	Config config.SFU
	Bus    *bus.Client
	Logger *slog.Logger
	// Forwarder selects the forwarding path: ForwarderRTCloud (default) or
	// ForwarderNaive, the textbook Pion way kept as a benchmark baseline.
	Forwarder string
	// RelaySecret is the cluster key of the relay (config relay.secret);
	// when set, the node listens on Config.RelayPort and joins rooms that
	// span nodes. Without it the node serves only its own participants.
	RelaySecret []byte
	// RelayFEC sets the relay's forward error correction (default
	// relay.FECAuto; relay.FECOff leaves loss to per-hop NACK).
	RelayFEC relay.FECMode
	// RelayLinks is config relay.links (empty: a full mesh): fast local
	// repair falls back on the direct link to a destination only where it
	// is allowed.
	RelayLinks [][]string
	// NoBatchSend sends every packet with its own sendto instead of
	// batching each fan-out into sendmmsg calls (to measure the gain).
	NoBatchSend bool
}

// Forwarders a node can run.
const (
	ForwarderRTCloud = "rtcloud"
	ForwarderNaive   = "naive"
)

// eventPublisher is what the node needs from the bus to send events.
type eventPublisher interface {
	Publish(subject string, v any) error
}

// Node is one SFU media node.
type Node struct {
	cfg       config.SFU
	bus       *bus.Client
	events    eventPublisher
	log       *slog.Logger
	id        string
	mux       *icemux.Mux
	api       *webrtc.API
	startedAt time.Time
	metrics   *metrics.SFU
	naive     *naiveForwarder // ForwarderNaive only
	relay     *relayNode      // nil without Options.RelaySecret
	streams   *streamDir      // with the relay: this node's stream records
	rtx       *rtxBudget
	fwdTime   prometheus.Histogram // see upTrack.forward
	certMu    sync.Mutex
	cert      *webrtc.Certificate // DTLS certificate shared by every PeerConnection

	// negotiateTimeout closes sessions created without an offer that never
	// negotiate.
	negotiateTimeout time.Duration

	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	ready    atomic.Bool
	draining atomic.Bool // bus.CmdDrain: no new sessions

	mu       sync.Mutex
	closing  bool
	sessions map[string]*session
	tracks   map[string]*upTrack
	wg       sync.WaitGroup
	load     loadSampler
	speakers map[string]string // room key -> last speaker set sent
	stopping chan struct{}     // closed when shutdown starts
	stopOnce sync.Once
}

// NewNode opens the node's media sockets.
func NewNode(o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Config.HeartbeatInterval <= 0 {
		o.Config.HeartbeatInterval = time.Second
	}
	id := o.Config.NodeID
	if id == "" {
		id = "sfu-" + randomID(10)
	}
	if !bus.ValidName(id) {
		return nil, fmt.Errorf("sfu: node id %q: use 1-128 of [A-Za-z0-9_-]", id)
	}
	naive := false
	switch o.Forwarder {
	case "", ForwarderRTCloud:
	case ForwarderNaive:
		naive = true
	default:
		return nil, fmt.Errorf("sfu: forwarder %q: want %q or %q", o.Forwarder, ForwarderRTCloud, ForwarderNaive)
	}
	m := metrics.NewSFU(id)
	var self atomic.Pointer[Node] // for the mux's hook, set below
	mux, err := icemux.Listen(icemux.Options{
		Port: o.Config.MediaPort, BindIP: o.Config.BindIP, AdvertiseIPs: o.Config.AdvertiseIPs,
		NoBatch: o.NoBatchSend, TCPWriteBuffer: o.Config.TCPWriteBufferBytes,
		OnTCPRecovered: func(remote net.Addr, dropped uint64) {
			if n := self.Load(); n != nil {
				n.tcpRecovered(remote, dropped)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	fwdTime := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rtcloud_sfu_forward_seconds", ConstLabels: prometheus.Labels{"node": id},
		Help: "Time from a packet's read to the last write of its fan-out to every subscriber.",
		// 10 us .. ~164 ms
		Buckets: prometheus.ExponentialBuckets(10e-6, 2, 15),
	})
	m.Registry.MustRegister(fwdTime)
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rtcloud_sfu_tcp_dropped_packets_total", ConstLabels: prometheus.Labels{"node": id},
		Help: "Packets dropped because an ICE-TCP subscriber read too slowly.",
	}, func() float64 { return float64(mux.TCPDropped()) }))
	readBuffer := o.Config.ReadBufferBytes
	if readBuffer <= 0 {
		readBuffer = 1 << 20 // about 4 s of 2 Mbit/s video, Pion's own default
	}
	api, err := newAPI(mux, m, naive, readBuffer)
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	n := &Node{
		cfg: o.Config, bus: o.Bus, log: o.Logger.With("component", "sfu", "node", id), id: id,
		mux: mux, api: api, startedAt: time.Now(), metrics: m, negotiateTimeout: 30 * time.Second,
		sessions: map[string]*session{}, tracks: map[string]*upTrack{}, speakers: map[string]string{},
		stopping: make(chan struct{}),
		fwdTime:  fwdTime,
		rtx:      newRTXBudget(o.Config.Retransmit, m.Registry, map[string]string{"node": id}),
	}
	if naive {
		n.naive = newNaiveForwarder()
	}
	if len(o.RelaySecret) > 0 {
		if err := n.startRelay(o); err != nil {
			_ = mux.Close()
			return nil, err
		}
	}
	if o.Bus != nil {
		n.events = o.Bus
	}
	self.Store(n)
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// RelayAddr is the address other nodes reach the node's relay on, or ""
// without a relay.
func (n *Node) RelayAddr() string {
	if n.relay == nil {
		return ""
	}
	return n.relay.relayAddr()
}

// MediaPort is the UDP and TCP port clients reach the node on.
func (n *Node) MediaPort() int { return n.mux.Port() }

// Metrics are the node's Prometheus collectors; serve Metrics().Registry
// (see MetricsHandler).
func (n *Node) Metrics() *metrics.SFU { return n.metrics }

// MetricsHandler serves the node's registry in the Prometheus text format.
func (n *Node) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(n.metrics.Registry, promhttp.HandlerOpts{})
}

// Ready reports whether the node serves commands.
func (n *Node) Ready() bool { return n.ready.Load() }

// Draining reports whether the node refuses new sessions (bus.CmdDrain).
func (n *Node) Draining() bool { return n.draining.Load() }

// Run serves bus commands until ctx ends, then closes every session and
// the media sockets.
func (n *Node) Run(ctx context.Context) error {
	if n.bus == nil {
		n.shutdown()
		return errors.New("sfu: no bus client")
	}
	subs, err := n.serveCommands()
	if err != nil {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		n.shutdown()
		return err
	}
	subs = append(subs, n.followCluster(ctx)...)
	n.ready.Store(true)
	n.log.Info("sfu node running", "media_port", n.MediaPort(), "advertise", n.mux.AdvertiseIPs(), "relay", n.RelayAddr())
	tickDone, beatDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(tickDone); n.tick(ctx) }()
	go func() { defer close(beatDone); n.beatAlive(ctx, n.cfg.AliveInterval) }()
	<-ctx.Done()
	n.ready.Store(false)
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	<-tickDone
	<-beatDone
	n.shutdown()
	return nil
}

// shutdown closes every session, the sockets, and waits for every
// goroutine the node started.
func (n *Node) shutdown() {
	n.stopOnce.Do(func() { close(n.stopping) })
	n.mu.Lock()
	n.closing = true
	all := slices.Collect(maps.Values(n.sessions))
	n.mu.Unlock()
	for _, s := range all {
		s.close("node shutting down", true)
	}
	if n.relay != nil {
		n.relay.close()
	}
	_ = n.mux.Close()
	n.wg.Wait()
}

// goroutine runs fn on a goroutine the node waits for on shutdown. It does
// nothing once the node is closing.
func (n *Node) goroutine(fn func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

func (n *Node) emit(subject string, ev bus.Event) {
	if n.events == nil {
		return
	}
	ev.Node = n.id
	if err := n.events.Publish(subject, ev); err != nil {
		n.log.Warn("publish event", "type", ev.Type, "err", err)
	}
}

// emitRoom publishes ev on the room events of its participant's room.
func (n *Node) emitRoom(ev bus.Event) {
	if ev.Participant != nil {
		ev.Namespace, ev.Room = ev.Participant.Namespace, ev.Participant.Room
	}
	n.emit(bus.RoomEvents(ev.Namespace, ev.Room), ev)
}

func (n *Node) layerChanged(p bus.Participant) func(d *downTrack, layer int) {
	return func(d *downTrack, layer int) {
		n.emit(bus.SessionEvents(p.SessionID), bus.Event{
			Type: bus.EventLayerChanged, Namespace: p.Namespace, Room: p.Room, MID: d.mid, Layer: layerNames[layer],
		})
	}
}

func (n *Node) session(id string) (*session, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.sessions[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSession, id)
	}
	return s, nil
}

func (n *Node) removeSession(s *session) {
	n.mu.Lock()
	if n.sessions[s.p.SessionID] == s {
		delete(n.sessions, s.p.SessionID)
	}
	n.mu.Unlock()
}

// registerTracks makes freshly negotiated tracks visible to subscribers
// and announces them.
func (n *Node) registerTracks(ups []*upTrack) {
	n.mu.Lock()
	for _, up := range ups {
		n.tracks[up.id] = up
	}
	n.mu.Unlock()
	for _, up := range ups {
		info := up.trackInfo()
		p := up.owner
		n.emitRoom(bus.Event{Type: bus.EventTrackPublished, Participant: &p, Track: &info})
		if n.streams != nil {
			n.streams.published(up)
		}
	}
}

// unpublish removes a track, detaches its subscribers and announces it.
func (n *Node) unpublish(up *upTrack) {
	if !up.closed.CompareAndSwap(false, true) {
		return
	}
	n.mu.Lock()
	delete(n.tracks, up.id)
	n.mu.Unlock()
	for _, d := range up.downTracks() {
		_ = n.setSource(d, nil, autoLayer)
	}
	info := up.trackInfo()
	p := up.owner
	n.emitRoom(bus.Event{Type: bus.EventTrackUnpublished, Participant: &p, Track: &info})
	if n.streams != nil {
		n.streams.unpublished(up)
	}
}

// setSource makes d forward up (nil: nothing) from layer want, through
// the node's forwarder.
func (n *Node) setSource(d *downTrack, up *upTrack, want int) error {
	if n.naive != nil {
		return n.naive.setSource(d, up, want)
	}
	if err := d.setSource(up, want); err != nil {
		return err
	}
	if up != nil && n.relay != nil {
		if in := n.relay.ingressOf(up); in != nil {
			in.refresh(time.Now()) // tell the origin at once
		}
	}
	return nil
}

// checkSubscriptions finds the tracks subs refer to and checks s may
// receive them on the given mids of an offer (infos) or, when infos is
// nil, on its existing down tracks.
func (n *Node) checkSubscriptions(ctx context.Context, s *session, infos []mediaInfo, subs []bus.Subscription) ([]*upTrack, error) {
	if len(subs) > 0 && !s.grants.Subscribe {
		return nil, fmt.Errorf("%w: subscribe", ErrForbidden)
	}
	out := make([]*upTrack, len(subs))
	for i, sub := range subs {
		if sub.Layer != "" {
			if _, ok := layerIndex(sub.Layer); !ok {
				return nil, fmt.Errorf("%w: layer %q", ErrBadRequest, sub.Layer)
			}
		}
		n.mu.Lock()
		up := n.tracks[sub.TrackID]
		n.mu.Unlock()
		if up == nil && n.relay != nil {
			// Published on another node: received over the relay.
			up, _ = n.relay.ingress(ctx, s.p.Namespace, s.p.Room, sub.TrackID)
		}
		if up == nil || up.owner.Namespace != s.p.Namespace || up.owner.Room != s.p.Room {
			return nil, fmt.Errorf("%w: %s", ErrNoTrack, sub.TrackID)
		}
		if infos != nil {
			mi, ok := findMID(infos, sub.MID)
			if !ok || !mi.receives() || mi.kind != up.kind {
				return nil, fmt.Errorf("%w: %s is not a %s m-line the client receives on", ErrNoMID, sub.MID, up.kind)
			}
			if !hasMime(mi, up.mime) {
				return nil, fmt.Errorf("%w: %s on mid %s", ErrCodec, up.mime, sub.MID)
			}
		}
		out[i] = up
	}
	return out, nil
}

func randomID(n int) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// tcpRecovered resyncs the video of the session whose ICE-TCP connection
// comes from remote: packets to it were dropped while it read too slowly,
// so it needs keyframes to decode again.
func (n *Node) tcpRecovered(remote net.Addr, dropped uint64) {
	ta, ok := remote.(*net.TCPAddr)
	if !ok {
		return
	}
	sessions, _ := n.snapshot()
	for _, s := range sessions {
		if !s.usesRemote(ta) {
			continue
		}
		s.log.Debug("ICE-TCP peer caught up after drops", "dropped", dropped)
		s.mu.Lock()
		downs := slices.Collect(maps.Values(s.downs))
		s.mu.Unlock()
		for _, d := range downs {
			d.resync()
		}
	}
}

// certificate returns the node's DTLS certificate, made on first use and
// again a day before it expires. One certificate for every PeerConnection
// spares a key generation and its memory per session; the fingerprint in
// each answer is the node's.
func (n *Node) certificate() (webrtc.Certificate, error) {
	n.certMu.Lock()
	defer n.certMu.Unlock()
	if n.cert == nil || time.Until(n.cert.Expires()) < 24*time.Hour {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, err
		}
		c, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Certificate{}, err
		}
		n.cert = c
	}
	return *n.cert, nil
}
