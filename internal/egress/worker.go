package egress

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	Config config.Egress
	// Key and Secret mint the tokens of the worker's hidden participants.
	Key, Secret string
	Bus         *bus.Client
	Logger      *slog.Logger
	// Media configures the hidden participants' PeerConnections (tests
	// restrict ICE to loopback).
	Media client.MediaOptions
	// MeasureCPU weighs new jobs also against the CPU this process and its
	// children use: for a worker that is its own process (`rtcloud
	// egress`), not one sharing a process with an SFU (`rtcloud dev`).
	MeasureCPU bool
}

// Worker runs egresses it takes from the bus (queue group EgressQueue)
// while it has CPU capacity for them.
type Worker struct {
	opts  WorkerOptions
	id    string
	log   *slog.Logger
	kv    jetstream.KeyValue
	files *storage

	meter *cpuMeter // nil unless MeasureCPU

	mu      sync.Mutex // guards jobs, load, cpu, queue, closing
	jobs    map[string]*job
	load    float64            // estimated cores of the jobs taken
	cpu     float64            // cores measured in the last second
	queue   *nats.Subscription // nil while full
	closing bool

	wg sync.WaitGroup // request handlers and jobs
}

// NewWorker opens the worker's bucket and storage.
func NewWorker(ctx context.Context, o WorkerOptions) (*Worker, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	id := o.Config.WorkerID
	if id == "" {
		id = "EW_" + randomID()
	}
	log := o.Logger.With("component", "egress", "worker", id)
	st, err := newStorage(o.Config, log)
	if err != nil {
		return nil, err
	}
	kv, err := o.Bus.KV(ctx, bus.BucketEgress, 0)
	if err != nil {
		return nil, err
	}
	w := &Worker{opts: o, id: id, log: log, kv: kv, files: st, jobs: map[string]*job{}}
	if o.MeasureCPU {
		w.meter = newCPUMeter()
	}
	return w, nil
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.id }

// Run serves requests and sends heartbeats until ctx ends; it then stops
// every egress (finalizing its outputs) and returns.
func (w *Worker) Run(ctx context.Context) error {
	stopSub, err := w.opts.Bus.Conn().Subscribe(bus.EgressStop(w.id), func(m *nats.Msg) {
		w.goHandle(func() { bus.ServeMsg(m, w.handleStop) })
	})
	if err != nil {
		return err
	}
	w.updateQueue()
	w.log.Info("egress worker running", "capacity", w.opts.Config.CPUCapacity)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	w.heartbeat()
	for {
		select {
		case <-ctx.Done():
			w.shutdown()
			_ = stopSub.Unsubscribe()
			w.wg.Wait()
			return nil
		case <-t.C:
			w.heartbeat()
		}
	}
}

func (w *Worker) shutdown() {
	w.mu.Lock()
	w.closing = true
	if w.queue != nil {
		_ = w.queue.Unsubscribe()
		w.queue = nil
	}
	jobs := make([]*job, 0, len(w.jobs))
	for _, j := range w.jobs {
		if j != nil { // nil: reserved, still preparing
			jobs = append(jobs, j)
		}
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.end("worker shutting down", 30*time.Second)
		}()
	}
	wg.Wait()
}

// goHandle runs fn on a goroutine the worker waits for.
func (w *Worker) goHandle(fn func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn()
	}()
}

// updateQueue joins the start queue group while the cheapest job fits and
// leaves it when full.
func (w *Worker) updateQueue() {
	w.mu.Lock()
	defer w.mu.Unlock()
	fits := !w.closing && w.opts.Config.CPUCapacity-w.used() >= w.opts.Config.TrackCost
	switch {
	case fits && w.queue == nil:
		sub, err := w.opts.Bus.Conn().QueueSubscribe(bus.EgressStart, bus.EgressQueue, func(m *nats.Msg) {
			w.goHandle(func() { bus.ServeMsg(m, w.handleStart) })
		})
		if err != nil {
			w.log.Error("join egress queue", "err", err)
			return
		}
		w.queue = sub
	case !fits && w.queue != nil:
		_ = w.queue.Unsubscribe()
		w.queue = nil
	}
}

// used is the load a new job is weighed against: the estimates of the
// jobs taken, or what they measurably use when that is more. Call with
// w.mu held.
func (w *Worker) used() float64 { return max(w.load, w.cpu) }

func (w *Worker) heartbeat() {
	cpu := 0.0
	if w.meter != nil {
		cpu = w.meter.sample()
	}
	w.mu.Lock()
	w.cpu = cpu
	hb := bus.EgressWorker{ID: w.id, Capacity: w.opts.Config.CPUCapacity, Load: w.load, CPU: cpu, SentAt: time.Now().UTC(), Active: []string{}}
	for id := range w.jobs {
		hb.Active = append(hb.Active, id)
	}
	w.mu.Unlock()
	sort.Strings(hb.Active)
	w.updateQueue() // the measured load may have changed
	if err := w.opts.Bus.Publish(bus.EgressHeartbeats, hb); err != nil {
		w.log.Debug("heartbeat", "err", err)
	}
}

// reserve takes cost from the capacity, or fails when it does not fit.
func (w *Worker) reserve(id string, cost float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || w.used()+cost > w.opts.Config.CPUCapacity+1e-9 {
		return bus.Errorf(bus.CodeUnavailable, "worker %s is full (load %.2f, measured %.2f, of %.2f cores)", w.id, w.load, w.cpu, w.opts.Config.CPUCapacity)
	}
	if w.jobs[id] != nil {
		return bus.Errorf(bus.CodeBadRequest, "egress %s exists", id)
	}
	w.load += cost
	w.jobs[id] = nil // reserved
	return nil
}

func (w *Worker) release(id string, cost float64) {
	w.mu.Lock()
	w.load -= cost
	if w.load < 1e-9 {
		w.load = 0
	}
	delete(w.jobs, id)
	w.mu.Unlock()
	w.updateQueue()
}

func (w *Worker) cost(r bus.EgressRequest) float64 {
	if r.Type == bus.EgressTypeRoom {
		return w.opts.Config.CompositeCost
	}
	return w.opts.Config.TrackCost
}

// handleStart validates the request, joins the room, checks what the
// egress needs is there, and starts it; the reply is the "starting"
// record.
func (w *Worker) handleStart(ctx context.Context, req bus.EgressRequest) (any, error) {
	if err := Validate(&req); err != nil {
		return nil, bus.Errorf(bus.CodeBadRequest, "%v", err)
	}
	if req.EgressID == "" {
		return nil, bus.Errorf(bus.CodeBadRequest, "egress_id is required")
	}
	cost := w.cost(req)
	if err := w.reserve(req.EgressID, cost); err != nil {
		return nil, err
	}
	w.updateQueue()
	j, err := w.prepare(ctx, req, cost)
	if err != nil {
		w.release(req.EgressID, cost)
		return nil, toBusError(err)
	}
	w.mu.Lock()
	closing := w.closing
	if !closing {
		w.jobs[req.EgressID] = j
	}
	w.mu.Unlock()
	if closing { // shutdown began while the job was being prepared
		j.src.close()
		j.stop()
		w.release(req.EgressID, cost)
		return nil, bus.Errorf(bus.CodeUnavailable, "worker %s is shutting down", w.id)
	}
	info := j.set(bus.EventEgressStarted, func(*bus.EgressInfo) {})
	w.goHandle(func() {
		j.run()
		w.release(req.EgressID, cost)
	})
	return info, nil
}

// prepare joins the room and builds the job's pipeline.
func (w *Worker) prepare(ctx context.Context, req bus.EgressRequest, cost float64) (*job, error) {
	log := w.log.With("egress", req.EgressID, "namespace", req.Namespace, "room", req.Room, "type", req.Type)
	src, err := joinSource(ctx, sourceOptions{SignalURL: w.opts.Config.SignalURL, Key: w.opts.Key, Secret: w.opts.Secret,
		Namespace: req.Namespace, Room: req.Room, EgressID: req.EgressID, Logger: log, Media: w.opts.Media})
	if err != nil {
		return nil, err
	}
	var pipe pipeline
	if req.Type == bus.EgressTypeTrack {
		pipe, err = newTrackPipeline(w, src, req)
	} else {
		pipe, err = newCompositePipeline(w, src, req)
	}
	if err != nil {
		src.close()
		return nil, err
	}
	jctx, stop := context.WithCancel(context.Background())
	j := &job{w: w, log: log, cost: cost, src: src, pipe: pipe, ctx: jctx, stop: stop, done: make(chan struct{})}
	j.info = bus.EgressInfo{EgressRequest: req, WorkerID: w.id, Status: bus.EgressStarting, StartedAt: time.Now().UTC()}
	return j, nil
}

func (w *Worker) handleStop(_ context.Context, req bus.EgressStopRequest) (any, error) {
	w.mu.Lock()
	j := w.jobs[req.EgressID]
	w.mu.Unlock()
	if j == nil {
		return nil, bus.Errorf(bus.CodeNotFound, "egress %s is not running on worker %s", req.EgressID, w.id)
	}
	j.end("stopped by request", 25*time.Second)
	return j.snapshot(), nil
}

// store writes a record and publishes its event.
func (w *Worker) store(info bus.EgressInfo, event string) {
	info.UpdatedAt = time.Now().UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.kv.Put(ctx, info.EgressID, encodeInfo(info)); err != nil {
		w.log.Warn("store egress record", "egress", info.EgressID, "err", err)
	}
	if event != "" {
		if err := publishEvent(w.opts.Bus, event, info); err != nil {
			w.log.Warn("publish egress event", "err", err)
		}
	}
}

// toBusError maps package errors to bus error codes.
func toBusError(err error) error {
	var be *bus.Error
	switch {
	case errors.As(err, &be):
		return be
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrCodec):
		return bus.Errorf(bus.CodeBadRequest, "%v", err)
	case errors.Is(err, ErrNotFound), errors.Is(err, client.ErrNotFound):
		return bus.Errorf(bus.CodeNotFound, "%v", err)
	}
	return bus.Errorf(bus.CodeInternal, "%v", err)
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
