package controller

import (
	"errors"

	"github.com/rtcloud/rtcloud/internal/placement"
)

// Errors of the controller; the HTTP and bus edges map them to statuses
// and codes.
var (
	// ErrNoNode means no live node may take the client.
	ErrNoNode = placement.ErrNoNode
	// ErrRoomFull means the room's node has no capacity left.
	ErrRoomFull = placement.ErrRoomFull
	// ErrBadRequest means the request is malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound means the node, room or participant does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized means the token is missing or invalid.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the token does not allow the operation.
	ErrForbidden = errors.New("forbidden")
)
