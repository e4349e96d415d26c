package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/webhook"
)

// receiver is a real HTTP server that verifies each request's signature,
// records the events in arrival order, and answers 503 while failing.
type receiver struct {
	srv     *httptest.Server
	failing atomic.Bool
	slow    atomic.Bool // each request takes 20 ms more
	mu      sync.Mutex
	got     []webhook.Event
	bad     []string // requests that did not verify
	refused int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	keys := map[string]string{auth.DevKey: auth.DevSecret}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.slow.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		body, _ := io.ReadAll(req.Body)
		if _, err := webhook.Verify(req.Header.Get("Authorization"), body, keys); err != nil {
			r.mu.Lock()
			r.bad = append(r.bad, err.Error())
			r.mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.failing.Load() {
			r.mu.Lock()
			r.refused++
			r.mu.Unlock()
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, ev)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) events() []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Event{}, r.got...)
}

// unique returns the events with duplicates (same id) left out, keeping
// each first arrival.
func unique(evs []webhook.Event) []webhook.Event {
	seen := map[string]bool{}
	var out []webhook.Event
	for _, e := range evs {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// byRoom groups events by room, in arrival order.
func byRoom(evs []webhook.Event) map[string][]webhook.Event {
	out := map[string][]webhook.Event{}
	for _, e := range evs {
		out[e.Namespace+"/"+e.Room] = append(out[e.Namespace+"/"+e.Room], e)
	}
	return out
}

// idSeq is the stream position in an event id (EV_<seq>_<n>).
func idSeq(id string) (uint64, int) {
	parts := strings.Split(id, "_")
	if len(parts) != 3 {
		return 0, 0
	}
	seq, _ := strconv.ParseUint(parts[1], 10, 64)
	n, _ := strconv.Atoi(parts[2])
	return seq, n
}

// checkOrder fails when, after dropping repeats, a room's events did not
// arrive in the order they happened.
func checkOrder(evs []webhook.Event) error {
	for room, list := range byRoom(unique(evs)) {
		for i := 1; i < len(list); i++ {
			s0, n0 := idSeq(list[i-1].ID)
			s1, n1 := idSeq(list[i].ID)
			if s1 < s0 || (s1 == s0 && n1 <= n0) {
				return fmt.Errorf("room %s: %s arrived after %s", room, list[i].ID, list[i-1].ID)
			}
		}
	}
	return nil
}
