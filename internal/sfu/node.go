// Package sfu is the media node: Pion PeerConnections sharing one UDP and
// one TCP port, forwarding, simulcast, NACK/PLI/TWCC. It takes commands
// from the bus and publishes room events and heartbeats on it; it has no
// client-facing HTTP.
package sfu

import (
	"context"
	"errors"
	"log/slog"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// Options configure a Node.
type Options struct {
	Config config.SFU
	Bus    *bus.Client
	Logger *slog.Logger
}

// Node is one SFU media node.
type Node struct{ opts Options }

// NewNode opens the node's media sockets.
func NewNode(o Options) (*Node, error) { return nil, errors.New("sfu: not implemented") }

// Run serves bus commands until ctx ends, then closes every session.
func (n *Node) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Ready reports whether the node serves commands.
func (n *Node) Ready() bool { return false }
