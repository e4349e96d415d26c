package controller

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// DefaultStaleAfter is how long a session record may name a session its
// node does not have, and a room record a room without participants,
// before the leader deletes the record.
const DefaultStaleAfter = 15 * time.Second

// staleSet remembers since when each record has looked stale. Only the
// janitor goroutine uses it.
type staleSet struct {
	since map[string]time.Time
	seen  map[string]bool // marked in the current round
}

// mark notes key stale now and reports whether it has been stale, without
// a break, for at least after.
func (s *staleSet) mark(key string, now time.Time, after time.Duration) bool {
	if s.since == nil {
		s.since = map[string]time.Time{}
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[key] = true
	first, ok := s.since[key]
	if !ok {
		s.since[key] = now
		return false
	}
	return now.Sub(first) >= after
}

// endRound forgets the keys not marked since the last round.
func (s *staleSet) endRound() {
	for k := range s.since {
		if !s.seen[k] {
			delete(s.since, k)
		}
	}
	s.seen = nil
}

func (s *staleSet) reset() { s.since, s.seen = nil, nil }

// roomOnNode names a room on one node.
type roomOnNode struct{ node, namespace, room string }

type sessionEntry struct {
	rec bus.SessionRecord
	rev uint64
}

// sweepStale deletes, on live nodes, session records whose session the
// node does not have and room records of rooms nobody is in (and no
// session record names), once they stayed so for StaleAfter. Nodes that
// do not answer are left alone.
func (c *Controller) sweepStale(ctx context.Context, live map[string]bool, rooms []roomEntry, sessions []sessionEntry) {
	now := time.Now()
	after := c.opts.StaleAfter
	bySessions := map[roomOnNode][]sessionEntry{}
	named := map[string]bool{} // room keys some session record names
	for _, s := range sessions {
		named[bus.RoomKey(s.rec.Namespace, s.rec.Room)] = true
		if live[s.rec.NodeID] && s.rec.SessionID != "" {
			k := roomOnNode{s.rec.NodeID, s.rec.Namespace, s.rec.Room}
			bySessions[k] = append(bySessions[k], s)
		}
	}
	ask := map[roomOnNode]bool{}
	for k := range bySessions {
		ask[k] = true
	}
	for _, r := range rooms {
		if live[r.rec.NodeID] {
			ask[roomOnNode{r.rec.NodeID, r.rec.Namespace, r.rec.Room}] = true
		}
	}
	states := c.roomStates(ctx, ask)
	for k, group := range bySessions {
		st, ok := states[k]
		if !ok {
			continue
		}
		for _, s := range group {
			if st[s.rec.SessionID] || !c.stale.mark("session/"+s.rec.SessionID, now, after) {
				continue
			}
			if err := c.sessions.Delete(ctx, s.rec.SessionID, jetstream.LastRevision(s.rev)); err == nil {
				c.log.Info("stale session record removed", "session", s.rec.SessionID, "node", s.rec.NodeID, "identity", s.rec.Identity)
			}
		}
	}
	for _, r := range rooms {
		key := bus.RoomKey(r.rec.Namespace, r.rec.Room)
		st, ok := states[roomOnNode{r.rec.NodeID, r.rec.Namespace, r.rec.Room}]
		if !ok || len(st) > 0 || named[key] || !c.stale.mark("room/"+key, now, after) {
			continue
		}
		if err := c.rooms.kv.Delete(ctx, key, jetstream.LastRevision(r.rev)); err == nil {
			c.log.Info("record of empty room removed", "namespace", r.rec.Namespace, "room", r.rec.Room, "node", r.rec.NodeID, "empty_for_more_than", after)
		}
	}
	c.stale.endRound()
	c.staleRuns.Add(1)
}

// roomStates asks the nodes, a few at a time, which sessions they have in
// each room; rooms whose node did not answer are missing from the result.
func (c *Controller) roomStates(ctx context.Context, ask map[roomOnNode]bool) map[roomOnNode]map[string]bool {
	var (
		mu  sync.Mutex
		out = make(map[roomOnNode]map[string]bool, len(ask))
		wg  sync.WaitGroup
		sem = make(chan struct{}, 16)
	)
	for k := range ask {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var st bus.RoomState
			// The node's own sessions: a node asked for the whole room would
			// ask every other node in turn.
			err := c.opts.Bus.Request(rctx, bus.NodeCommand(k.node, bus.CmdRoomStateLocal), bus.RoomStateRequest{Namespace: k.namespace, Room: k.room}, &st)
			if err != nil && !bus.IsCode(err, bus.CodeNotFound) {
				return
			}
			ids := make(map[string]bool, len(st.Participants))
			for _, p := range st.Participants {
				ids[p.SessionID] = true
			}
			mu.Lock()
			out[k] = ids
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
