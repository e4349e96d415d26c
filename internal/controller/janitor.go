package controller

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// janitor does the leader-only work once a second: it keeps
// bus.BucketNodes equal to the live nodes (so a dead node is removed from
// the directory), deletes the room and session records of dead nodes, and
// the stale records of live ones (see sweepStale). It waits one DeadAfter
// after start so it has heard every live node.
func (c *Controller) janitor(ctx context.Context) {
	started := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.IsLeader() || time.Since(started) < c.opts.Config.DeadAfter {
			c.stale.reset()
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c.sweep(tctx)
		cancel()
	}
}

func (c *Controller) sweep(ctx context.Context) {
	live := map[string]bool{}
	for _, n := range c.liveNodes() {
		live[n.ID] = true
		if data, err := json.Marshal(n); err == nil {
			_, _ = c.nodesKV.Put(ctx, n.ID, data)
		}
	}
	if lister, err := c.nodesKV.ListKeys(ctx); err == nil {
		var dead []string
		for k := range lister.Keys() {
			if !live[k] {
				dead = append(dead, k)
			}
		}
		for _, id := range dead {
			if err := c.nodesKV.Delete(ctx, id); err == nil {
				c.log.Warn("node marked dead", "node", id, "silent_for_more_than", c.opts.Config.DeadAfter)
			}
		}
	}
	rooms, err := c.rooms.list(ctx)
	if err != nil {
		c.log.Debug("list rooms", "err", err)
	}
	for _, r := range rooms {
		if !live[r.rec.NodeID] {
			key := bus.RoomKey(r.rec.Namespace, r.rec.Room)
			if err := c.rooms.kv.Delete(ctx, key, jetstream.LastRevision(r.rev)); err == nil {
				c.log.Info("room record of dead node removed", "namespace", r.rec.Namespace, "room", r.rec.Room, "node", r.rec.NodeID)
			}
		}
	}
	c.sweepStreams(ctx, live)
	sessions, err := listJSON[bus.SessionRecord](ctx, c.sessions, func(r bus.SessionRecord, rev uint64) sessionEntry { return sessionEntry{r, rev} })
	if err != nil {
		return
	}
	for _, s := range sessions {
		if live[s.rec.NodeID] || s.rec.SessionID == "" {
			continue
		}
		err := c.sessions.Delete(ctx, s.rec.SessionID, jetstream.LastRevision(s.rev))
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			c.log.Debug("remove session of dead node", "session", s.rec.SessionID, "err", err)
		}
		if err == nil {
			c.announceLeft(s.rec)
		}
	}
	if time.Since(c.lastPurge) >= time.Minute {
		c.lastPurge = time.Now()
		c.purgeDeletes(ctx, deleteMarkerAge)
	}
	// Asking every room's node is dearer: a few times per StaleAfter.
	if err == nil && time.Since(c.lastStale) >= c.opts.StaleAfter/5 {
		c.lastStale = time.Now()
		c.sweepStale(ctx, live, rooms, sessions)
	}
}
