package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// deliverLoop delivers the webhook stream from the saved position until
// ctx ends.
func (s *Service) deliverLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.deliverFrom(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook delivery restarts", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// job is one event for one receiver.
type job struct {
	seq  uint64
	url  string
	ev   Event
	body []byte
}

func (s *Service) deliverFrom(ctx context.Context) error {
	var start uint64
	if e, err := s.kv.Get(ctx, keyDelivered); err == nil {
		start, _ = strconv.ParseUint(string(e.Value()), 10, 64)
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	it, err := orderedFrom(ctx, s.js, bus.StreamWebhooks, start+1)
	if err != nil {
		return err
	}
	defer it.Stop()
	tr := &tracker{pending: map[uint64]int{}, high: start, saved: start}
	q := &queues{s: s, tr: tr, byKey: map[string]*queue{}, sem: make(chan struct{}, s.opts.MaxInFlight)}
	wctx, stopWorkers := context.WithCancel(ctx)
	defer func() {
		stopWorkers()
		q.wg.Wait()
		s.metrics.inFlight.Add(-int64(len(q.sem)))
		s.saveDelivered(tr)
	}()
	last := time.Now()
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(saveEvery))
		if err != nil && !idle(err) {
			return err
		}
		if err == nil {
			meta, merr := msg.Metadata()
			if merr != nil {
				return merr
			}
			var ev Event
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				s.log.Error("unreadable webhook event dropped", "seq", meta.Sequence.Stream, "err", err)
				tr.add(meta.Sequence.Stream, 0)
			} else if !q.dispatch(wctx, meta.Sequence.Stream, ev, msg.Data()) {
				return nil
			}
		}
		if time.Since(last) >= saveEvery {
			s.saveDelivered(tr)
			last = time.Now()
		}
	}
	return nil
}

func (s *Service) saveDelivered(tr *tracker) {
	pos, changed := tr.position()
	if !changed {
		return
	}
	if _, err := s.kv.Put(context.Background(), keyDelivered, []byte(strconv.FormatUint(pos, 10))); err != nil {
		s.log.Warn("save webhook delivery position", "err", err)
		return
	}
	tr.markSaved(pos)
}

// targets are the URLs for events of namespace ns.
func (s *Service) targets(ns string) []string {
	out := append([]string{}, s.opts.Config.URLs...)
	return append(out, s.opts.Config.Namespaces[ns].URLs...)
}

// tracker knows which stream sequences are still being delivered, so the
// saved position never passes an undelivered event.
type tracker struct {
	mu      sync.Mutex
	pending map[uint64]int // seq -> receivers left
	high    uint64         // highest sequence dispatched
	saved   uint64
}

func (t *tracker) add(seq uint64, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n > 0 {
		t.pending[seq] = n
	}
	t.high = max(t.high, seq)
}

func (t *tracker) done(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[seq]--; t.pending[seq] <= 0 {
		delete(t.pending, seq)
	}
}

// position is the highest sequence up to which everything is done.
func (t *tracker) position() (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pos := t.high
	for seq := range t.pending {
		pos = min(pos, seq-1)
	}
	return pos, pos != t.saved
}

func (t *tracker) markSaved(pos uint64) {
	t.mu.Lock()
	t.saved = pos
	t.mu.Unlock()
}

// queues hold one FIFO per receiver and room, each drained by its own
// goroutine while it has jobs: a failing receiver or room holds back only
// its own events.
type queues struct {
	s     *Service
	tr    *tracker
	mu    sync.Mutex
	byKey map[string]*queue
	sem   chan struct{} // bounds the jobs held
	wg    sync.WaitGroup
}

type queue struct{ jobs []job }

// dispatch queues ev for each of its receivers; false when ctx ended.
func (q *queues) dispatch(ctx context.Context, seq uint64, ev Event, body []byte) bool {
	urls := q.s.targets(ev.Namespace)
	q.tr.add(seq, len(urls))
	for _, u := range urls {
		select {
		case q.sem <- struct{}{}:
			q.s.metrics.inFlight.Add(1)
		case <-ctx.Done():
			return false
		}
		key := u + " " + bus.RoomKey(ev.Namespace, ev.Room)
		q.mu.Lock()
		qu := q.byKey[key]
		if qu == nil {
			qu = &queue{}
			q.byKey[key] = qu
			q.wg.Add(1)
			go q.work(ctx, key, qu)
		}
		qu.jobs = append(qu.jobs, job{seq: seq, url: u, ev: ev, body: body})
		q.mu.Unlock()
	}
	return true
}

func (q *queues) work(ctx context.Context, key string, qu *queue) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(qu.jobs) == 0 {
			delete(q.byKey, key)
			q.mu.Unlock()
			return
		}
		j := qu.jobs[0]
		q.mu.Unlock()
		if !q.s.send(ctx, j) {
			return // stopping: the job stays undelivered, the position behind it
		}
		q.mu.Lock()
		qu.jobs = qu.jobs[1:]
		q.mu.Unlock()
		q.tr.done(j.seq)
		<-q.sem
		q.s.metrics.inFlight.Add(-1)
	}
}

// send posts j until the receiver answers 2xx or RetryFor passes (then
// the event is given up, logged and counted). It returns false only when
// ctx ended first.
func (s *Service) send(ctx context.Context, j job) bool {
	first := time.Now()
	pause := s.opts.Backoff
	for attempt := 1; ; attempt++ {
		err := s.post(ctx, j)
		if err == nil {
			s.metrics.delivered.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if time.Since(first)+pause > s.opts.Config.RetryFor {
			s.metrics.givenUp.Add(1)
			s.log.Error("webhook given up", "id", j.ev.ID, "type", j.ev.Type, "url", j.url, "attempts", attempt, "err", err)
			return true
		}
		s.metrics.retries.Add(1)
		s.log.Debug("webhook retry", "id", j.ev.ID, "url", j.url, "attempt", attempt, "in", pause, "err", err)
		sleep(ctx, pause)
		if ctx.Err() != nil {
			return false
		}
		pause = min(2*pause, s.opts.MaxBackoff)
	}
}

func (s *Service) post(ctx context.Context, j job) error {
	auth, err := Sign(j.body, s.key, s.secret, time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/webhook+json")
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Rtcloud-Event-Id", j.ev.ID)
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s", ErrStatus, resp.Status)
	}
	return nil
}

// counters count deliveries.
type counters struct {
	delivered, retries, givenUp atomic.Uint64
	inFlight                    atomic.Int64
}

func newCounters() *counters { return &counters{} }

// Stats are the service's delivery counts since it started.
type Stats struct {
	Delivered uint64 `json:"delivered"`
	Retries   uint64 `json:"retries"`
	GivenUp   uint64 `json:"given_up"`
}

// Stats returns the delivery counts.
func (s *Service) Stats() Stats {
	return Stats{Delivered: s.metrics.delivered.Load(), Retries: s.metrics.retries.Load(), GivenUp: s.metrics.givenUp.Load()}
}
