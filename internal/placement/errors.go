package placement

import "errors"

// Errors of placement.
var (
	// ErrNoNode means no live node may take the client.
	ErrNoNode = errors.New("no live node can take this client")
	// ErrRoomFull means the room's node has no capacity left.
	ErrRoomFull = errors.New("the room's node is full")
)
