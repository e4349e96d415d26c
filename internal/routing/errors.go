package routing

import "errors"

// ErrBadGraph means a graph names a node twice, an empty node id, or a
// link to a node it does not list.
var ErrBadGraph = errors.New("routing: bad graph")
