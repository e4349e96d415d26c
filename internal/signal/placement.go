package signal

import (
	"context"
	"errors"
	"fmt"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/directory"
)

// placer chooses the SFU node of a new session.
type placer interface {
	Place(ctx context.Context, namespace, room, clientIP string) (nodeID string, err error)
}

// controllerPlacer asks a controller (bus.ControllerAllocate) and, when no
// controller runs, places the room itself on one node.
type controllerPlacer struct {
	bus      *bus.Client
	fallback directory.SameNode
}

func (p controllerPlacer) Place(ctx context.Context, namespace, room, clientIP string) (string, error) {
	var a bus.Allocation
	err := p.bus.Request(ctx, bus.ControllerAllocate, bus.AllocateRequest{Namespace: namespace, Room: room, ClientIP: clientIP}, &a)
	switch {
	case err == nil:
		if a.Node.ID == "" {
			return "", fmt.Errorf("controller allocated no node: %w", directory.ErrNoNode)
		}
		return a.Node.ID, nil
	case errors.Is(err, bus.ErrNoResponders):
		n, err := p.fallback.Place(ctx, namespace, room)
		if err != nil {
			return "", err
		}
		return n.ID, nil
	default:
		return "", fmt.Errorf("allocate: %w", err)
	}
}
