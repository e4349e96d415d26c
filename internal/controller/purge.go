package controller

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// deleteMarkerAge is how long the marker of a deleted key stays, so
// watchers see the delete, before the leader purges it.
const deleteMarkerAge = time.Minute

// purgeDeletes removes the markers deleted keys leave in the directory's
// buckets, so records that come and go (rooms, sessions, nodes) do not
// grow the store forever. Markers younger than olderThan stay (negative:
// none stays).
func (c *Controller) purgeDeletes(ctx context.Context, olderThan time.Duration) {
	for name, kv := range map[string]jetstream.KeyValue{"rooms": c.rooms.kv, "sessions": c.sessions, "nodes": c.nodesKV, "control": c.control} {
		if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(olderThan)); err != nil {
			c.log.Debug("purge delete markers", "bucket", name, "err", err)
		}
	}
}
