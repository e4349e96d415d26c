package controller

import (
	"context"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// drainSet mirrors the drain marks of bus.BucketControl, kept current by
// a KV watcher so placement never reads KV for them.
type drainSet struct {
	mu    sync.Mutex // guards nodes
	nodes map[string]bool
}

func (s *drainSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[id]
}

func (s *drainSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.nodes))
	for id := range s.nodes {
		out = append(out, id)
	}
	return out
}

// start loads the current marks and follows changes until ctx ends; the
// follower goroutine is counted in wg.
func (s *drainSet) start(ctx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup) error {
	s.nodes = map[string]bool{}
	w, err := kv.Watch(ctx, bus.DrainKey("*"))
	if err != nil {
		return err
	}
	// The initial values end with a nil entry.
	for e := range w.Updates() {
		if e == nil {
			break
		}
		s.apply(e)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					s.apply(e)
				}
			}
		}
	}()
	return nil
}

func (s *drainSet) apply(e jetstream.KeyValueEntry) {
	id := strings.TrimPrefix(e.Key(), bus.DrainKey(""))
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Operation() == jetstream.KeyValuePut {
		s.nodes[id] = true
	} else {
		delete(s.nodes, id)
	}
}
