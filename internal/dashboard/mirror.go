package dashboard

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// mirror keeps a KV bucket's values in memory, decoded, current through a
// watcher; onChange is called (without the lock held) after each change.
type mirror[T any] struct {
	mu      sync.Mutex
	entries map[string]T
	keep    func(T) bool // nil keeps every value
}

func watchKV[T any](ctx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup, onChange func()) (*mirror[T], error) {
	return watchKVKeep[T](ctx, kv, wg, onChange, nil)
}

// watchKVKeep mirrors only the values keep accepts (a bucket that keeps
// history, like the egress records, is not held whole in memory).
func watchKVKeep[T any](ctx context.Context, kv jetstream.KeyValue, wg *sync.WaitGroup, onChange func(), keep func(T) bool) (*mirror[T], error) {
	m := &mirror[T]{entries: map[string]T{}, keep: keep}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	for e := range w.Updates() { // the initial values end with nil
		if e == nil {
			break
		}
		m.apply(e)
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
					m.apply(e)
					onChange()
				}
			}
		}
	}()
	return m, nil
}

func (m *mirror[T]) apply(e jetstream.KeyValueEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(m.entries, e.Key())
		return
	}
	var v T
	if json.Unmarshal(e.Value(), &v) != nil || (m.keep != nil && !m.keep(v)) {
		delete(m.entries, e.Key())
		return
	}
	m.entries[e.Key()] = v
}

func (m *mirror[T]) snapshot() map[string]T {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]T, len(m.entries))
	for k, v := range m.entries {
		out[k] = v
	}
	return out
}

func (m *mirror[T]) values() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]T, 0, len(m.entries))
	for _, v := range m.entries {
		out = append(out, v)
	}
	return out
}

// notifier wakes every waiter on each bump.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) bump() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
