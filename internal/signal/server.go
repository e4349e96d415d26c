// Package signal is the client-facing, stateless signaling tier: the
// WebSocket room protocol and WHIP/WHEP. It never touches media; it talks
// to SFU nodes only over the bus.
package signal

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// Options configure a Server.
type Options struct {
	Config   config.Signal
	Bus      *bus.Client
	Verifier *auth.Verifier
	// Keys mint tokens for GET /dev/token when Config.DevTokens is set.
	Keys   map[string]string
	Logger *slog.Logger
}

// Server is one signaling server.
type Server struct{ opts Options }

// NewServer returns a server; ctx bounds its setup (opening KV buckets).
func NewServer(ctx context.Context, o Options) (*Server, error) {
	return nil, errors.New("signal: not implemented")
}

// Handler serves /ws, /whip/, /whep/ (and /dev/token in dev mode).
func (s *Server) Handler() http.Handler { return http.NotFoundHandler() }

// Ready reports whether the server can serve joins.
func (s *Server) Ready() bool { return false }

// Close ends every client connection with a reason and stops the server.
func (s *Server) Close() {}
