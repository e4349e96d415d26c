// Package dashboard serves the cluster dashboard at /dashboard: the
// embedded page (web/dashboard) and its JSON API under /dashboard/api/,
// with live updates over Server-Sent Events. It reads the controller, the
// directory buckets and the node heartbeats; tokens decide which
// namespaces a viewer sees.
package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/controller"
)

// Cluster is what the dashboard needs of a controller.
type Cluster interface {
	ID() string
	Leader() string
	OperatorNamespace() string
	Nodes() []controller.NodeStatus
	Room(ctx context.Context, namespace, room string) (controller.RoomStatus, error)
	Kick(ctx context.Context, namespace, room, identity, by string) ([]string, error)
	SetDrain(ctx context.Context, id string, draining bool, by string) error
}

// Options configure a Dashboard.
type Options struct {
	Cluster  Cluster
	Bus      *bus.Client
	Verifier *auth.Verifier
	Logger   *slog.Logger
	// DevSignIn, when set, serves /dashboard/api/dev-token: an operator
	// token the page signs in with by itself (`rtcloud dev` only).
	DevSignIn func() (string, error)
}

// Dashboard is the dashboard of one controller.
type Dashboard struct {
	opts     Options
	log      *slog.Logger
	rooms    *mirror[bus.RoomRecord]
	sessions *mirror[bus.SessionRecord]
	streams  *mirror[bus.StreamRecord] // relayed streams
	routes   *mirror[json.RawMessage]  // routing tables
	egress   *mirror[bus.EgressInfo]   // egresses running or ended in the last hour
	links    linkReports
	hist     *history
	changed  notifier
	subs     []*nats.Subscription
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New starts following the directory and the heartbeats; ctx bounds the
// setup. Close stops it.
func New(ctx context.Context, o Options) (*Dashboard, error) {
	if o.Cluster == nil || o.Bus == nil || o.Verifier == nil {
		return nil, errors.New("dashboard: Cluster, Bus and Verifier are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Dashboard{opts: o, log: o.Logger.With("component", "dashboard"), hist: newHistory()}
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	if err := d.follow(ctx, runCtx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Dashboard) follow(ctx, runCtx context.Context) error {
	b := d.opts.Bus
	roomsKV, err := b.KV(ctx, bus.BucketRooms, 0)
	if err != nil {
		return err
	}
	sessionsKV, err := b.KV(ctx, bus.BucketSessions, 0)
	if err != nil {
		return err
	}
	if d.rooms, err = watchKV[bus.RoomRecord](runCtx, roomsKV, &d.wg, d.changed.bump); err != nil {
		return err
	}
	if d.sessions, err = watchKV[bus.SessionRecord](runCtx, sessionsKV, &d.wg, d.changed.bump); err != nil {
		return err
	}
	if err := d.followRelay(ctx, runCtx); err != nil {
		return err
	}
	egressKV, err := b.KV(ctx, bus.BucketEgress, 0)
	if err != nil {
		return err
	}
	if d.egress, err = watchKVKeep(runCtx, egressKV, &d.wg, d.changed.bump, recentEgress); err != nil {
		return err
	}
	hb, err := b.Subscribe(bus.NodeHeartbeats, func(m *nats.Msg) {
		var n bus.NodeInfo
		if json.Unmarshal(m.Data, &n) == nil && n.ID != "" {
			d.hist.add(n, time.Now())
		}
	})
	if err != nil {
		return err
	}
	d.subs = append(d.subs, hb)
	ev, err := b.Subscribe(bus.AllRoomEvents, func(*nats.Msg) { d.changed.bump() })
	if err != nil {
		return err
	}
	d.subs = append(d.subs, ev)
	return nil
}

// recentEgress keeps egresses that run or ended within the last hour.
func recentEgress(e bus.EgressInfo) bool {
	return !e.Final() || time.Since(e.EndedAt) < time.Hour
}

// followRelay follows the relay: the nodes' link reports, and the
// streams and routes buckets.
func (d *Dashboard) followRelay(ctx, runCtx context.Context) error {
	b := d.opts.Bus
	streamsKV, err := b.KV(ctx, bus.BucketStreams, 0)
	if err != nil {
		return err
	}
	routesKV, err := b.KV(ctx, bus.BucketRoutes, 0)
	if err != nil {
		return err
	}
	if d.streams, err = watchKV[bus.StreamRecord](runCtx, streamsKV, &d.wg, func() {}); err != nil {
		return err
	}
	if d.routes, err = watchKV[json.RawMessage](runCtx, routesKV, &d.wg, func() {}); err != nil {
		return err
	}
	lr, err := b.Subscribe(bus.AllLinkReports, func(m *nats.Msg) {
		var r bus.LinkReport
		if json.Unmarshal(m.Data, &r) == nil && r.NodeID != "" && len(r.Links) <= 4096 {
			d.links.add(r, time.Now())
		}
	})
	if err != nil {
		return err
	}
	d.subs = append(d.subs, lr)
	return nil
}

// Close stops following the bus and waits for the watchers.
func (d *Dashboard) Close() {
	for _, s := range d.subs {
		_ = s.Unsubscribe()
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.changed.bump()
}

// Handler serves /dashboard (the page) and /dashboard/api/ (its API).
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", pageHandler())
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
	})
	mux.HandleFunc("GET /dashboard/api/overview", d.authed(d.handleOverview))
	mux.HandleFunc("GET /dashboard/api/history", d.authed(d.handleHistory))
	mux.HandleFunc("GET /dashboard/api/topology", d.authed(d.handleTopology))
	mux.HandleFunc("GET /dashboard/api/stream", d.authed(d.handleStream))
	mux.HandleFunc("GET /dashboard/api/rooms/{namespace}/{room}", d.authed(d.handleRoom))
	mux.HandleFunc("POST /dashboard/api/rooms/{namespace}/{room}/participants/{identity}/kick", d.authed(d.handleKick))
	mux.HandleFunc("POST /dashboard/api/nodes/{id}/drain", d.authed(d.handleDrain(true)))
	mux.HandleFunc("POST /dashboard/api/nodes/{id}/undrain", d.authed(d.handleDrain(false)))
	mux.HandleFunc("GET /dashboard/api/dev-token", d.handleDevToken)
	mux.HandleFunc("/dashboard/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return http.MaxBytesHandler(mux, 64<<10)
}

func (d *Dashboard) authed(h func(http.ResponseWriter, *http.Request, viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := d.viewerOf(r)
		switch {
		case errors.Is(err, ErrUnauthorized):
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtcloud"`)
			writeError(w, http.StatusUnauthorized, err.Error())
		case err != nil:
			writeError(w, http.StatusForbidden, err.Error())
		default:
			h(w, r, v)
		}
	}
}

func (d *Dashboard) handleDevToken(w http.ResponseWriter, r *http.Request) {
	if d.opts.DevSignIn == nil {
		writeError(w, http.StatusNotFound, "sign-in by itself is for rtcloud dev only")
		return
	}
	// Only for a browser on this machine: dev listens on every address.
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip, err := netip.ParseAddr(host); err != nil || !ip.Unmap().IsLoopback() {
		writeError(w, http.StatusForbidden, "signing in by itself works from this machine only; paste a token")
		return
	}
	tok, err := d.opts.DevSignIn()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

type errorJSON struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// codes are the error codes of the controller's API, by status.
var codes = map[int]string{
	http.StatusBadRequest: "bad_request", http.StatusUnauthorized: "unauthorized", http.StatusForbidden: "forbidden",
	http.StatusNotFound: "not_found", http.StatusBadGateway: "unavailable", http.StatusInternalServerError: "internal",
}

func writeError(w http.ResponseWriter, status int, msg string) {
	var e errorJSON
	e.Error.Code, e.Error.Message = codes[status], msg
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
