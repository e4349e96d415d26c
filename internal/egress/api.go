package egress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/adminapi"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// APIOptions configure the egress API.
type APIOptions struct {
	Bus      *bus.Client
	Verifier *auth.Verifier
	Logger   *slog.Logger
	// WorkerTimeout: the egresses of a worker silent this long are marked
	// failed (default 5s).
	WorkerTimeout time.Duration
}

// API serves /v1/egress: it checks requests, hands them to a worker over
// the bus, reads the egress records, and marks the egresses of workers
// that died as failed.
type API struct {
	opts  APIOptions
	log   *slog.Logger
	kv    jetstream.KeyValue
	rooms jetstream.KeyValue
	hbSub *nats.Subscription

	mu      sync.Mutex
	workers map[string]time.Time // worker id -> last heartbeat

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewAPI opens the buckets and starts watching workers.
func NewAPI(ctx context.Context, o APIOptions) (*API, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WorkerTimeout <= 0 {
		o.WorkerTimeout = 5 * time.Second
	}
	a := &API{opts: o, log: o.Logger.With("component", "egress-api"), workers: map[string]time.Time{}, stop: make(chan struct{})}
	var err error
	if a.kv, err = o.Bus.KV(ctx, bus.BucketEgress, 0); err != nil {
		return nil, err
	}
	if a.rooms, err = o.Bus.KV(ctx, bus.BucketRooms, 0); err != nil {
		return nil, err
	}
	a.hbSub, err = o.Bus.Subscribe(bus.EgressHeartbeats, func(m *nats.Msg) {
		var hb bus.EgressWorker
		if json.Unmarshal(m.Data, &hb) == nil && hb.ID != "" {
			a.mu.Lock()
			a.workers[hb.ID] = time.Now()
			a.mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.janitor()
	}()
	return a, nil
}

// Close stops the API's goroutines.
func (a *API) Close() {
	_ = a.hbSub.Unsubscribe()
	close(a.stop)
	a.wg.Wait()
}

// Handler serves POST/GET /v1/egress and GET/DELETE /v1/egress/{id}.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/egress", a.auth(a.handleStart))
	mux.HandleFunc("GET /v1/egress", a.auth(a.handleList))
	mux.HandleFunc("GET /v1/egress/{id}", a.auth(a.handleGet))
	mux.HandleFunc("DELETE /v1/egress/{id}", a.auth(a.handleStop))
	return http.MaxBytesHandler(mux, 64<<10)
}

// auth checks the admin token, as the rest of the admin API does: an
// admin grant, for the namespace (and room, unless "*") of the egress.
func (a *API) auth(h func(http.ResponseWriter, *http.Request, *auth.Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		claims, ok := adminapi.Admin(w, r, a.opts.Verifier)
		if !ok {
			return
		}
		h(w, r, claims)
	}
}

func (a *API) handleStart(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	var req bus.EgressRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, fmt.Errorf("%w: body: %v", ErrBadRequest, err))
		return
	}
	if req.Namespace == "" {
		req.Namespace = claims.Grant.Namespace
	}
	req.EgressID = "EG_" + randomID()
	if err := Validate(&req); err != nil {
		writeError(w, err)
		return
	}
	if !claims.Allows(req.Namespace, req.Room) {
		writeError(w, fmt.Errorf("%w: the token does not admit to room %s/%s", ErrForbidden, req.Namespace, req.Room))
		return
	}
	if _, err := a.rooms.Get(r.Context(), bus.RoomKey(req.Namespace, req.Room)); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			writeError(w, fmt.Errorf("%w: unknown room %s/%s", ErrNotFound, req.Namespace, req.Room))
			return
		}
		writeError(w, err)
		return
	}
	info, err := a.start(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	a.log.Info("egress started", "egress", info.EgressID, "worker", info.WorkerID, "room", req.Room, "type", req.Type, "by", claims.Identity())
	writeJSON(w, http.StatusCreated, info)
}

// start hands req to a worker of the queue group; a full worker that got
// it anyway says so and the next try reaches another.
func (a *API) start(ctx context.Context, req bus.EgressRequest) (bus.EgressInfo, error) {
	var last error
	for range 4 {
		var info bus.EgressInfo
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := a.opts.Bus.Request(rctx, bus.EgressStart, req, &info)
		cancel()
		switch {
		case err == nil:
			return info, nil
		case errors.Is(err, bus.ErrNoResponders):
			return info, fmt.Errorf("%w: no worker has capacity", ErrUnavailable)
		case bus.IsCode(err, bus.CodeUnavailable):
			last = err
			continue
		case bus.IsCode(err, bus.CodeBadRequest):
			return info, fmt.Errorf("%w: %s", ErrBadRequest, bus.AsError(err).Message)
		case bus.IsCode(err, bus.CodeNotFound):
			return info, fmt.Errorf("%w: %s", ErrNotFound, bus.AsError(err).Message)
		default:
			return info, err
		}
	}
	return bus.EgressInfo{}, fmt.Errorf("%w: %v", ErrUnavailable, last)
}

func (a *API) get(ctx context.Context, id string) (bus.EgressInfo, uint64, error) {
	var info bus.EgressInfo
	if !strings.HasPrefix(id, "EG_") || !bus.ValidName(id) {
		return info, 0, fmt.Errorf("%w: egress %q", ErrNotFound, id)
	}
	e, err := a.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return info, 0, fmt.Errorf("%w: egress %q", ErrNotFound, id)
	}
	if err != nil {
		return info, 0, err
	}
	if err := json.Unmarshal(e.Value(), &info); err != nil {
		return info, 0, err
	}
	return info, e.Revision(), nil
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	info, _, err := a.get(r.Context(), r.PathValue("id"))
	if err == nil && !claims.Allows(info.Namespace, info.Room) {
		err = fmt.Errorf("%w: egress %q", ErrNotFound, r.PathValue("id"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	ns, room := r.URL.Query().Get("namespace"), r.URL.Query().Get("room")
	if ns == "" {
		ns = claims.Grant.Namespace
	}
	all, err := a.list(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := []bus.EgressInfo{}
	for _, e := range all {
		if e.Namespace == ns && (room == "" || e.Room == room) && claims.Allows(e.Namespace, e.Room) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	writeJSON(w, http.StatusOK, map[string]any{"egress": out})
}

func (a *API) list(ctx context.Context) ([]bus.EgressInfo, error) {
	keys, err := a.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []bus.EgressInfo
	for k := range keys.Keys() {
		if info, _, err := a.get(ctx, k); err == nil {
			out = append(out, info)
		}
	}
	return out, nil
}

func (a *API) handleStop(w http.ResponseWriter, r *http.Request, claims *auth.Claims) {
	id := r.PathValue("id")
	info, rev, err := a.get(r.Context(), id)
	if err == nil && !claims.Allows(info.Namespace, info.Room) {
		err = fmt.Errorf("%w: egress %q", ErrNotFound, id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if info.Final() {
		writeJSON(w, http.StatusOK, info)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	var out bus.EgressInfo
	err = a.opts.Bus.Request(ctx, bus.EgressStop(info.WorkerID), bus.EgressStopRequest{EgressID: id}, &out)
	if errors.Is(err, bus.ErrNoResponders) || bus.IsCode(err, bus.CodeNotFound) {
		// The worker is gone: the egress cannot end any other way.
		out, err = a.fail(r.Context(), info, rev, "worker lost")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	a.log.Info("egress stopped", "egress", id, "status", out.Status, "by", claims.Identity())
	writeJSON(w, http.StatusOK, out)
}

// fail marks an egress failed, unless its record changed meanwhile.
func (a *API) fail(ctx context.Context, info bus.EgressInfo, rev uint64, reason string) (bus.EgressInfo, error) {
	info.Status, info.Reason, info.EndedAt, info.UpdatedAt = bus.EgressFailed, reason, time.Now().UTC(), time.Now().UTC()
	if _, err := a.kv.Update(ctx, info.EgressID, encodeInfo(info), rev); err != nil {
		cur, _, gerr := a.get(ctx, info.EgressID)
		if gerr != nil {
			return info, err
		}
		return cur, nil
	}
	_ = publishEvent(a.opts.Bus, bus.EventEgressEnded, info)
	a.log.Warn("egress failed", "egress", info.EgressID, "worker", info.WorkerID, "reason", reason)
	return info, nil
}

// janitor marks failed the unfinished egresses whose worker fell silent.
func (a *API) janitor() {
	started := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		if time.Since(started) < a.opts.WorkerTimeout {
			continue // heartbeats not heard yet
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.sweep(ctx)
		cancel()
	}
}

func (a *API) sweep(ctx context.Context) {
	keys, err := a.kv.ListKeys(ctx)
	if err != nil {
		return
	}
	now := time.Now()
	for k := range keys.Keys() {
		info, rev, err := a.get(ctx, k)
		if err != nil || info.Final() {
			continue
		}
		a.mu.Lock()
		seen, ok := a.workers[info.WorkerID]
		a.mu.Unlock()
		if ok && now.Sub(seen) < a.opts.WorkerTimeout {
			continue
		}
		if now.Sub(info.UpdatedAt) < a.opts.WorkerTimeout {
			continue
		}
		_, _ = a.fail(ctx, info, rev, "worker lost: no heartbeat from "+info.WorkerID)
	}
}

// writeError maps err to an HTTP status.
func writeError(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, bus.CodeInternal
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrCodec):
		status, code = http.StatusBadRequest, bus.CodeBadRequest
	case errors.Is(err, ErrForbidden):
		status, code = http.StatusForbidden, bus.CodeForbidden
	case errors.Is(err, ErrNotFound):
		status, code = http.StatusNotFound, bus.CodeNotFound
	case errors.Is(err, ErrUnavailable):
		status, code = http.StatusServiceUnavailable, bus.CodeUnavailable
	}
	adminapi.WriteError(w, status, code, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) { adminapi.WriteJSON(w, status, v) }
