package sfu

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Limits of what one session may ask of the node. The signaling tier
// applies tighter, configurable limits first (internal/signal/limits.go);
// these are the node's own bounds, so no command can make it build
// thousands of transceivers or publish thousands of tracks.
const (
	// MaxMediaSections is the most m-lines of one offer, and so the most
	// transceivers of one session.
	MaxMediaSections = 256
	// MaxPublishedTracks is the most audio and video m-lines one offer may
	// send (each one a published track and a track_published event).
	MaxPublishedTracks = 32
	// MaxRemoteCandidates is the most remote ICE candidates a session
	// takes, in one offer and trickled over its life (ICE restarts
	// included): the ICE agent sends checks to each one.
	MaxRemoteCandidates = 128
	// MaxRoomStateBytes bounds the encoded state of one room (its
	// participants and tracks), well under bus.MaxMessageBytes, so room
	// state always fits one bus reply.
	MaxRoomStateBytes = bus.MaxMessageBytes / 2
	// Bounds of the participant fields the node stores and announces.
	maxIdentityBytes = 256
	maxNameBytes     = 256
	maxMetadataBytes = 4 << 10
)

// checkSDPLimits bounds the m-lines, sending tracks and candidates of an
// offer before any of it is applied.
func checkSDPLimits(sd *sdp.SessionDescription) error {
	if n := len(sd.MediaDescriptions); n > MaxMediaSections {
		return fmt.Errorf("%w: %d media sections, at most %d", ErrLimit, n, MaxMediaSections)
	}
	candidates := map[string]bool{}
	sending := 0
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		dir := "sendrecv"
		for _, a := range md.Attributes {
			switch a.Key {
			case "candidate":
				candidates[a.Value] = true
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
		if (kind == "audio" || kind == "video") && md.MediaName.Port.Value != 0 && (dir == "sendrecv" || dir == "sendonly") {
			sending++
		}
	}
	if sending > MaxPublishedTracks {
		return fmt.Errorf("%w: %d sending media sections, at most %d", ErrLimit, sending, MaxPublishedTracks)
	}
	if len(candidates) > MaxRemoteCandidates {
		return fmt.Errorf("%w: %d candidates, at most %d", ErrLimit, len(candidates), MaxRemoteCandidates)
	}
	return nil
}

// checkParticipant bounds the strings a participant shows its room.
func checkParticipant(p bus.Participant) error {
	if len(p.Identity) > maxIdentityBytes || len(p.Name) > maxNameBytes || len(p.Metadata) > maxMetadataBytes {
		return fmt.Errorf("%w: identity, name or metadata too long (%d, %d, %d bytes at most)", ErrLimit,
			maxIdentityBytes, maxNameBytes, maxMetadataBytes)
	}
	return nil
}

// roomStateFits reports whether the room of p, with p in it, still
// encodes within MaxRoomStateBytes. With the relay a room spans nodes and
// its state is their union: once this node's part is an eighth of the
// bound, the other nodes' parts are counted too (smaller parts skip the
// extra round trip on every join, so a room spread thinly over many
// nodes is not bounded exactly).
func (n *Node) roomStateFits(ctx context.Context, p bus.Participant) bool {
	n.mu.Lock()
	var in []*session
	for _, s := range n.sessions {
		if s.p.Namespace == p.Namespace && s.p.Room == p.Room {
			in = append(in, s)
		}
	}
	n.mu.Unlock()
	size := 0
	for _, s := range append(in, &session{p: p}) {
		data, _ := json.Marshal(s.info())
		size += len(data) + 1
	}
	if size > MaxRoomStateBytes {
		return false
	}
	if size < MaxRoomStateBytes/8 {
		return true
	}
	for _, pi := range n.remoteRoomState(ctx, p.Namespace, p.Room) {
		data, _ := json.Marshal(pi)
		size += len(data) + 1
	}
	return size <= MaxRoomStateBytes
}

// countCandidate counts one trickled remote candidate of s; false when the
// session has had its share.
func (s *session) countCandidate() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remoteCandidates >= MaxRemoteCandidates {
		return false
	}
	s.remoteCandidates++
	return true
}
