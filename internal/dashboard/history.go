package dashboard

import (
	"sort"
	"sync"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// History keeps the last Window of each node's heartbeats, one sample per
// Step, in memory.
const (
	historyWindow = 15 * time.Minute
	historyStep   = 5 * time.Second
	historyPoints = int(historyWindow / historyStep)
)

// sample is one point of a node's series: [unix seconds, participants,
// bits in/s, bits out/s, CPU 0..1].
type sample [5]float64

type series struct {
	last    bus.NodeInfo
	heardAt time.Time
	points  []sample
}

// history is written by the heartbeat subscription and read by handlers.
type history struct {
	mu    sync.Mutex
	nodes map[string]*series
	swept time.Time // when silent nodes were last forgotten
}

func newHistory() *history { return &history{nodes: map[string]*series{}} }

func (h *history) add(n bus.NodeInfo, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.nodes[n.ID]
	if s == nil {
		s = &series{}
		h.nodes[n.ID] = s
	}
	s.last, s.heardAt = n, now
	t := float64(now.Truncate(historyStep).Unix())
	p := sample{t, float64(n.Load.Participants), float64(n.Load.BitsInPerS), float64(n.Load.BitsOutPerS), n.Load.CPU}
	if k := len(s.points); k > 0 && s.points[k-1][0] == t {
		s.points[k-1] = p
	} else {
		s.points = append(s.points, p)
	}
	if len(s.points) > historyPoints {
		s.points = append(s.points[:0], s.points[len(s.points)-historyPoints:]...)
	}
	if now.Sub(h.swept) < historyStep {
		return
	}
	h.swept = now
	for id, o := range h.nodes { // forget nodes silent for the whole window
		if now.Sub(o.heardAt) > historyWindow {
			delete(h.nodes, id)
		}
	}
}

// nodeSeries is a node's series as the API returns it.
type nodeSeries struct {
	ID     string   `json:"id"`
	Region string   `json:"region"`
	Points []sample `json:"points"`
}

func (h *history) snapshot() []nodeSeries {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]nodeSeries, 0, len(h.nodes))
	for id, s := range h.nodes {
		out = append(out, nodeSeries{ID: id, Region: s.last.Region, Points: append([]sample{}, s.points...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// recent returns the last heartbeat of nodes heard within the window.
func (h *history) recent() map[string]series {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]series, len(h.nodes))
	for id, s := range h.nodes {
		out[id] = series{last: s.last, heardAt: s.heardAt}
	}
	return out
}
