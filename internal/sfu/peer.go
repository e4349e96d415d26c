package sfu

import (
	"net"
	"time"

	"github.com/pion/webrtc/v4"
)

// newPeerConnection creates the session's PeerConnection; s.mu is held.
func (s *session) newPeerConnection() error {
	cert, err := s.n.certificate()
	if err != nil {
		return err
	}
	pc, err := s.n.api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		return err
	}
	s.pc = pc
	pc.OnTrack(s.onTrack)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			reason := "peer connection " + st.String()
			if st == webrtc.PeerConnectionStateFailed {
				// Which transport failed: ICE (no path) or DTLS (handshake).
				s.log.Info("peer connection failed", "ice", pc.ICEConnectionState().String(),
					"dtls", pc.SCTP().Transport().State().String())
			}
			s.n.goroutine(func() { s.close(reason, true) })
		}
	})
	return nil
}

// discard closes a session that never joined (its first offer failed).
func (s *session) discard() {
	s.mu.Lock()
	pc := s.pc
	s.closed = true
	s.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}

// down returns the down track on mid, or nil.
func (s *session) down(mid string) *downTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downs[mid]
}

// track returns the published track with id, or nil.
func (s *session) track(id string) *upTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, up := range s.ups {
		if up.id == id {
			return up
		}
	}
	return nil
}

// expireUnnegotiated closes s if it has not negotiated within the node's
// negotiate timeout. It holds no goroutine while it waits (sessions joined
// without an offer are the common case); the timer is stopped when the
// session negotiates or closes.
func (n *Node) expireUnnegotiated(s *session) {
	t := time.AfterFunc(n.negotiateTimeout, func() {
		n.goroutine(func() {
			s.mu.Lock()
			done := s.negotiated || s.closed
			s.mu.Unlock()
			if !done {
				s.close("no offer within "+n.negotiateTimeout.String(), true)
			}
		})
	})
	s.mu.Lock()
	s.expiry = t
	s.mu.Unlock()
}

// usesRemote reports whether the session's selected ICE pair is an
// ICE-TCP connection from addr.
func (s *session) usesRemote(addr *net.TCPAddr) bool {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil || pc.SCTP() == nil {
		return false
	}
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil || pair.Remote.Protocol != webrtc.ICEProtocolTCP {
		return false
	}
	return int(pair.Remote.Port) == addr.Port && net.ParseIP(pair.Remote.Address).Equal(addr.IP)
}
