package signal

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// nodeCmd sends one command to an SFU node and decodes its reply.
func (s *Server) nodeCmd(ctx context.Context, nodeID, cmd string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, bus.DefaultRequestTimeout)
	defer cancel()
	return s.opts.Bus.Request(ctx, bus.NodeCommand(nodeID, cmd), req, resp)
}

// roomState asks a node for the participants of a room; a hidden
// session named in self (a recorder) is listed too.
func (s *Server) roomState(ctx context.Context, nodeID, namespace, room string, self ...string) ([]bus.ParticipantInfo, error) {
	var st bus.RoomState
	req := bus.RoomStateRequest{Namespace: namespace, Room: room}
	if len(self) > 0 {
		req.Session = self[0]
	}
	if err := s.nodeCmd(ctx, nodeID, bus.CmdRoomState, req, &st); err != nil {
		return nil, err
	}
	return st.Participants, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSessionID returns "PA_" and 16 random characters: safe as a NATS
// subject token, a KV key and a URL path segment.
func newSessionID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "PA_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
