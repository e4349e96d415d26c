// Package relay is the node-to-node media transport of an rtcloud cluster:
// one UDP socket per SFU node carries media and RTCP feedback to the node's
// relay peers, encrypted and authenticated with a key derived from the
// cluster secret, with per-link replay protection, per-hop NACK
// retransmission from the sending hop's cache, Reed-Solomon FEC whose
// redundancy follows the link's measured loss, and probes that measure
// RTT, loss and jitter per link. It knows nothing of rooms' semantics or of
// routing: the caller decides the next hop, the library moves packets over
// one link. The wire format is documented in docs/relay.md.
package relay

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Transport. Zero durations and sizes take defaults.
type Config struct {
	// NodeID names this node on the wire (1 to MaxIDLen bytes). Peers
	// derive their keys for this node from it.
	NodeID string
	// ListenAddr is the UDP address to bind, e.g. ":7882" or
	// "127.0.0.1:0".
	ListenAddr string
	// Secret is the cluster key shared by every node (at least 16 bytes).
	// Each directed link gets its own key derived from it (HKDF-SHA256).
	Secret []byte
	// Logger receives link up/down and errors; nil discards.
	Logger *slog.Logger
	// Registerer, if set, gets the transport's Prometheus collector
	// (rtcloud_relay_*); it is unregistered on Close.
	Registerer prometheus.Registerer
	// ProbeInterval is the time between probes to each peer (default 500 ms).
	ProbeInterval time.Duration
	// DownAfter marks a link down when nothing authenticated was heard from
	// the peer for this long (default 1 s).
	DownAfter time.Duration
	// MaxHops is the most links a packet may cross (default 8). Send
	// refuses a packet whose Hops already equals it; a received packet
	// whose hop count exceeds it is dropped.
	MaxHops uint8
	// CacheSize is the number of packets kept per link for retransmission
	// (default 512; rounded up to a power of two).
	CacheSize int
	// FEC sets the forward error correction policy; the zero value is
	// FECAuto.
	FEC FECMode
	// noNACK disables NACKs (measurements of FEC alone).
	noNACK bool

	// OnLinkState, if set, is called (from the transport's timer goroutine,
	// with no lock held) when a peer's link goes up or down. It must not
	// block.
	OnLinkState func(peer string, up bool)
}

// FECMode selects how much forward error correction a link sends.
type FECMode uint8

const (
	// FECAuto sends parity in proportion to the loss the peer reports on
	// the link: none on a clean link.
	FECAuto FECMode = iota
	// FECOff never sends parity (NACK only).
	FECOff
)

// Handler receives the media and feedback packets that arrive from peers.
// HandleRelay is called from the transport's single receive goroutine, in
// order of arrival: packets are delivered at once, never held back waiting
// for a gap, and a packet recovered later (by retransmission or FEC) is
// delivered when it is recovered. p and everything it points to (Payload,
// Dests) are valid only during the call: copy what must be kept. The
// strings in p are safe to keep. HandleRelay must not block; it may call
// Send (to forward the packet to a next hop).
type Handler interface {
	HandleRelay(from string, p *Packet)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(from string, p *Packet)

// HandleRelay calls f.
func (f HandlerFunc) HandleRelay(from string, p *Packet) { f(from, p) }

// PacketType is the kind of a relay packet. Only TypeMedia and TypeFeedback
// are sent by callers and delivered to the Handler; the others are the
// link's own traffic.
type PacketType uint8

const (
	TypeMedia      PacketType = 1 // publisher RTP, travelling away from the origin
	TypeFeedback   PacketType = 2 // RTCP (PLI, receiver reports...), travelling towards the origin
	TypeProbe      PacketType = 3 // link probe
	TypeProbeReply PacketType = 4 // answer to a probe
	TypeNACK       PacketType = 5 // per-link retransmission request
	TypeFEC        PacketType = 6 // Reed-Solomon parity over a group of link packets
)

func (t PacketType) String() string {
	switch t {
	case TypeMedia:
		return "media"
	case TypeFeedback:
		return "feedback"
	case TypeProbe:
		return "probe"
	case TypeProbeReply:
		return "probe-reply"
	case TypeNACK:
		return "nack"
	case TypeFEC:
		return "fec"
	}
	return "unknown"
}

// Limits of the framing.
const (
	// MaxIDLen bounds a node id, namespace, room or track id on the wire.
	MaxIDLen = 255
	// MaxDests bounds the destination set of one packet.
	MaxDests = 32
	// MaxPayload bounds Packet.Payload.
	MaxPayload = 1500
)

// StreamID names one relayed stream: a publisher's track and, for
// simulcast video, the layer (0 lowest; 0 for a track without layers).
type StreamID struct {
	Track string
	Layer uint8
}

// Packet is one relayed media or feedback packet.
type Packet struct {
	Type      PacketType
	Namespace string
	Room      string
	Stream    StreamID
	// Origin is the node the stream was published on (for feedback: the
	// node the feedback travels to).
	Origin string
	// Dests is the set of nodes the packet is for; a hop that forwards to
	// several next hops splits it.
	Dests []string
	// Hops is the number of links the packet has crossed: 0 when the
	// origin sends it, incremented on the wire by each Send.
	Hops uint8
	// Payload is plain RTP (media) or RTCP (feedback).
	Payload []byte

	via via // how a received packet arrived (tests and measurements)
}

// via tells a delivered packet's path through the link's recovery.
type via uint8

const (
	viaOriginal via = iota
	viaRTX
	viaFEC
)

// LinkStats describe the link to one peer. RTT, Jitter and the losses are
// smoothed (EWMA); counters are totals since SetPeer.
type LinkStats struct {
	Peer string
	Addr netip.AddrPort
	// Up: something authenticated was heard from the peer within
	// Config.DownAfter.
	Up        bool
	LastHeard time.Time // zero if never
	RTT       time.Duration
	Jitter    time.Duration // smoothed variation of RTT samples
	// LossOut is the loss on this node -> peer as the peer measures it
	// (before recovery); it drives FEC. LossIn is the loss on peer -> this
	// node measured here.
	LossOut, LossIn float64
	// FECParity is the number of parity packets currently sent per group
	// of FECGroup link packets (0: FEC off on this link).
	FECParity, FECGroup int

	PacketsOut, PacketsIn uint64 // datagrams
	BytesOut, BytesIn     uint64
	NACKsSent             uint64 // packets requested from the peer
	NACKsReceived         uint64 // packets the peer requested
	Retransmits           uint64 // packets resent from the cache
	FECSent               uint64 // parity packets sent
	FECRecovered          uint64 // lost packets rebuilt from parity
	Lost                  uint64 // packets given up on (not recovered)
}
