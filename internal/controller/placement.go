// Package controller is the cluster's control plane: the live node view
// with drain marks, placement (internal/placement: same-node, nearest,
// least loaded, namespace pinning), the allocate API over the bus and
// HTTP, the admin API, stream location, and leader election among
// controllers through a KV lease.
package controller

import "github.com/rtcloud/rtcloud/internal/placement"

// The placement types, from the package the signaling servers' fallback
// shares.
type (
	Policy      = placement.Policy
	Request     = placement.Request
	Decision    = placement.Decision
	Nearest     = placement.Nearest
	SameNode    = placement.SameNode
	Pinned      = placement.Pinned
	LeastLoaded = placement.LeastLoaded
)
