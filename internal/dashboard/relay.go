package dashboard

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// linkFresh is how long a node's link report counts.
const linkFresh = 5 * time.Second

// linkReports keeps each node's latest bus.LinkReport, written by the
// subscription and read by handlers.
type linkReports struct {
	mu    sync.Mutex
	nodes map[string]linkReport
}

type linkReport struct {
	bus.LinkReport
	at time.Time
}

func (l *linkReports) add(r bus.LinkReport, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nodes == nil {
		l.nodes = map[string]linkReport{}
	}
	l.nodes[r.NodeID] = linkReport{LinkReport: r, at: now}
}

func (l *linkReports) fresh(now time.Time) []bus.LinkReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []bus.LinkReport
	for id, r := range l.nodes {
		if now.Sub(r.at) > linkFresh {
			delete(l.nodes, id)
			continue
		}
		out = append(out, r.LinkReport)
	}
	return out
}

// link is one direction of a relay link as the topology shows it.
type link struct {
	From     string  `json:"from"`
	To       string  `json:"to"`
	RTTMs    float64 `json:"rtt_ms"`
	Loss     float64 `json:"loss"`
	JitterMs float64 `json:"jitter_ms"`
	Up       bool    `json:"up"`
	// Streams is how many relayed streams cross the link in this direction.
	Streams int `json:"streams"`
}

// relayView is what the relay reports: links measured by the nodes, the
// streams relayed (from BucketStreams) and the routing tables (from
// BucketRoutes).
type relayView struct {
	Links   []link                          `json:"links"`
	Streams []bus.StreamRecord              `json:"streams"`
	Routes  map[string]map[string]bus.Route `json:"routes"`
}

func (d *Dashboard) relayView(now time.Time) relayView {
	v := relayView{Links: []link{}, Streams: []bus.StreamRecord{}, Routes: map[string]map[string]bus.Route{}}
	crossing := map[[2]string]int{}
	if d.streams != nil {
		v.Streams = d.streams.values()
		for _, s := range v.Streams {
			for holder, h := range s.Holders {
				path := h.Path
				if len(path) < 2 {
					path = []string{h.From, holder}
				}
				for i := 1; i < len(path); i++ {
					crossing[[2]string{path[i-1], path[i]}]++
				}
			}
		}
		sort.Slice(v.Streams, func(i, j int) bool {
			a, b := v.Streams[i], v.Streams[j]
			return a.Namespace+"/"+a.Room+"/"+a.Track.ID < b.Namespace+"/"+b.Room+"/"+b.Track.ID
		})
	}
	for _, r := range d.links.fresh(now) {
		for _, s := range r.Links {
			v.Links = append(v.Links, link{From: r.NodeID, To: s.Peer, RTTMs: s.RTTMs, Loss: s.Loss, JitterMs: s.JitterMs,
				Up: s.Up, Streams: crossing[[2]string{r.NodeID, s.Peer}]})
		}
	}
	sort.Slice(v.Links, func(i, j int) bool {
		if v.Links[i].From != v.Links[j].From {
			return v.Links[i].From < v.Links[j].From
		}
		return v.Links[i].To < v.Links[j].To
	})
	if d.routes != nil {
		for key, raw := range d.routes.snapshot() {
			if !strings.HasPrefix(key, bus.RoutesKey("")) {
				continue
			}
			var nr bus.NodeRoutes
			if json.Unmarshal(raw, &nr) == nil && nr.Node != "" {
				v.Routes[nr.Node] = nr.Routes
			}
		}
	}
	return v
}
