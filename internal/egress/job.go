package egress

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// pipeline is the media work of one egress: it records until ctx ends (a
// stop: it then finalizes its outputs) or it fails, and returns what it
// wrote. It calls j.activate once media flows.
type pipeline interface {
	run(ctx context.Context, j *job) ([]bus.EgressResult, error)
}

// job is one egress on a worker. Its record (bus.EgressInfo) is written
// to the KV bucket on every change and every progressInterval.
type job struct {
	w    *Worker
	log  *slog.Logger
	cost float64
	src  *source
	pipe pipeline

	mu   sync.Mutex // guards info
	info bus.EgressInfo

	bytes    atomic.Int64
	duration atomic.Int64 // ms of media written

	stop   context.CancelFunc
	ctx    context.Context
	done   chan struct{}
	reason atomic.Pointer[string] // why it was stopped

	storeMu     sync.Mutex // orders the record's writes
	storedFinal bool
}

const progressInterval = 2 * time.Second

// snapshot is the current record with fresh counters.
func (j *job) snapshot() bus.EgressInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.info.Bytes = j.bytes.Load()
	j.info.Duration = float64(j.duration.Load()) / 1000
	return j.info
}

// set changes the record, writes it and publishes event (if not empty).
func (j *job) set(event string, fn func(*bus.EgressInfo)) bus.EgressInfo {
	j.mu.Lock()
	fn(&j.info)
	j.info.UpdatedAt = time.Now().UTC()
	j.mu.Unlock()
	info := j.snapshot()
	j.store(info, event)
	return info
}

// activate marks the egress active (once).
func (j *job) activate() {
	j.mu.Lock()
	starting := j.info.Status == bus.EgressStarting
	j.mu.Unlock()
	if starting {
		j.set(bus.EventEgressUpdated, func(i *bus.EgressInfo) { i.Status = bus.EgressActive })
	}
}

// run drives the pipeline to its end and records the outcome.
func (j *job) run() {
	defer close(j.done)
	defer j.src.close()
	progress := time.NewTicker(progressInterval)
	defer progress.Stop()
	resc := make(chan struct{})
	var results []bus.EgressResult
	var err error
	go func() {
		defer close(resc)
		results, err = j.pipe.run(j.ctx, j)
	}()
loop:
	for {
		select {
		case <-resc:
			break loop
		case <-progress.C:
			j.store(j.snapshot(), "")
		}
	}
	status, reason := bus.EgressComplete, "stopped"
	if r := j.reason.Load(); r != nil {
		reason = *r
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		status, reason = bus.EgressFailed, err.Error()
	}
	for _, r := range results {
		if r.Error != "" && status == bus.EgressComplete {
			reason = "stopped; some outputs failed"
		}
	}
	info := j.set(bus.EventEgressEnded, func(i *bus.EgressInfo) {
		i.Status, i.Reason, i.EndedAt, i.Results = status, reason, time.Now().UTC(), results
	})
	j.log.Info("egress ended", "status", info.Status, "reason", info.Reason, "duration", info.Duration, "bytes", info.Bytes)
}

// end asks the job to stop with reason and waits up to wait for it.
func (j *job) end(reason string, wait time.Duration) bool {
	j.reason.CompareAndSwap(nil, &reason)
	j.mu.Lock()
	active := !j.info.Final()
	j.mu.Unlock()
	if active {
		j.set(bus.EventEgressUpdated, func(i *bus.EgressInfo) {
			if !i.Final() {
				i.Status = bus.EgressEnding
			}
		})
	}
	j.stop()
	select {
	case <-j.done:
		return true
	case <-time.After(wait):
		return false
	}
}

// store writes the record and publishes event; nothing is written after
// the final record.
func (j *job) store(info bus.EgressInfo, event string) {
	j.storeMu.Lock()
	defer j.storeMu.Unlock()
	if j.storedFinal {
		return
	}
	j.storedFinal = info.Final()
	j.w.store(info, event)
}

// publishEvent sends an egress event on EgressEvents and, for the
// webhooks, as a HookEvent of the egress's room.
func publishEvent(b *bus.Client, event string, info bus.EgressInfo) error {
	info.Reply = bus.Reply{}
	at := info.UpdatedAt
	if err := b.Publish(bus.EgressEvents, bus.EgressEvent{Type: event, Egress: info, At: at}); err != nil {
		return err
	}
	return b.Publish(bus.HookEvents(info.Namespace, info.Room),
		bus.HookEvent{Type: event, Namespace: info.Namespace, Room: info.Room, Time: at, Object: encodeInfo(info)})
}

func encodeInfo(i bus.EgressInfo) []byte {
	i.Reply = bus.Reply{}
	b, _ := json.Marshal(i)
	return b
}
