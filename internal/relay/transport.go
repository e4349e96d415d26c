package relay

import "net/netip"

// Transport is one node's relay socket and its links to peers. Its methods
// are safe for concurrent use. Create it with Listen; Close stops it.
type Transport struct{}

// Listen binds cfg.ListenAddr and starts the receive and timer goroutines;
// h receives the peers' media and feedback.
func Listen(cfg Config, h Handler) (*Transport, error) { return nil, ErrBadConfig }

// Addr is the bound UDP address.
func (t *Transport) Addr() netip.AddrPort { return netip.AddrPort{} }

// SetPeer adds a relay peer or changes its address. Packets from a node are
// accepted only while it is a peer.
func (t *Transport) SetPeer(nodeID string, addr netip.AddrPort) {}

// RemovePeer forgets a peer and its link state.
func (t *Transport) RemovePeer(nodeID string) {}

// Send sends p to the peer nextHop with p.Hops+1 on the wire. It copies p
// (the caller may reuse it at once), allocates nothing, and does not wait
// for the network beyond one UDP write.
func (t *Transport) Send(nextHop string, p *Packet) error { return ErrClosed }

// Links describes every peer's link, sorted by peer id.
func (t *Transport) Links() []LinkStats { return nil }

// Close stops the goroutines and closes the socket.
func (t *Transport) Close() error { return nil }
