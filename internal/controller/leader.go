package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// election holds or waits for the leader lease: one key in a bucket whose
// entries expire after the lease TTL. The leader renews it with an update
// on its revision; the others try to create it, which succeeds only once
// it expired or was released.
type election struct {
	kv  jetstream.KeyValue
	id  string
	ttl time.Duration
	log *slog.Logger

	mu       sync.Mutex // guards the fields below
	leader   bool
	rev      uint64
	leaderID string
}

func (e *election) status() (isLeader bool, leaderID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.leaderID
}

// run campaigns until ctx ends; release says whether to give the lease up
// on the way out (a crash does not).
func (e *election) run(ctx context.Context, release func() bool) {
	t := time.NewTicker(e.ttl / 4)
	defer t.Stop()
	for {
		e.tick(ctx)
		select {
		case <-ctx.Done():
			if release() {
				e.resign()
			}
			return
		case <-t.C:
		}
	}
}

func (e *election) tick(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.ttl/2)
	defer cancel()
	e.mu.Lock()
	leader, rev := e.leader, e.rev
	e.mu.Unlock()
	if leader {
		newRev, err := e.kv.Update(ctx, bus.LeaderKey, []byte(e.id), rev)
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			e.leader, e.leaderID = false, ""
			e.log.Warn("lost leadership", "err", err)
			return
		}
		e.rev = newRev
		return
	}
	newRev, err := e.kv.Create(ctx, bus.LeaderKey, []byte(e.id))
	if err == nil {
		e.mu.Lock()
		e.leader, e.rev, e.leaderID = true, newRev, e.id
		e.mu.Unlock()
		e.log.Info("became leader")
		return
	}
	entry, gerr := e.kv.Get(ctx, bus.LeaderKey)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case gerr == nil && string(entry.Value()) == e.id:
		// Our own lease survived a failed renewal: keep it.
		e.leader, e.rev, e.leaderID = true, entry.Revision(), e.id
		e.log.Info("kept leadership")
	case gerr == nil:
		e.leaderID = string(entry.Value())
	case errors.Is(gerr, jetstream.ErrKeyNotFound):
		e.leaderID = ""
	}
}

// resign deletes the lease if this controller still holds it, so a
// standby takes over at once.
func (e *election) resign() {
	e.mu.Lock()
	leader, rev := e.leader, e.rev
	e.leader = false
	e.mu.Unlock()
	if !leader {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.kv.Delete(ctx, bus.LeaderKey, jetstream.LastRevision(rev)); err != nil {
		e.log.Debug("release leadership", "err", err)
	}
}
