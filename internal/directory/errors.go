package directory

import "errors"

// Errors of the directory; callers map them to protocol codes and HTTP
// statuses.
var (
	// ErrNotFound means no record exists under the key.
	ErrNotFound = errors.New("directory: not found")
	// ErrNoNode means no live node can take a new room.
	ErrNoNode = errors.New("directory: no live node with capacity")
	// ErrExists means a record already exists under the key.
	ErrExists = errors.New("directory: record exists")
)
