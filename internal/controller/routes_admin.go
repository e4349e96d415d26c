package controller

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/routing"
)

// RoutesStatus is GET /v1/admin/routes: every node's table (source ->
// destination -> next hop), the alternates, each route's cost and why it
// was chosen.
type RoutesStatus struct {
	bus.RouteTable
	// Best is the cheapest path cost the graph offers now, where it is
	// lower than the route's (hysteresis holding a route).
	Best map[string]map[string]float64 `json:"best,omitempty"`
	// Held lists nodes that rejoined too soon to be routed through yet.
	Held []string `json:"held_back,omitempty"`
	// Source is "leader" (this controller computed the tables) or "bucket"
	// (read from bus.BucketRoutes).
	Source string `json:"source"`
}

func (c *Controller) handleRoutes(w http.ResponseWriter, r *http.Request, _ *auth.Claims) {
	c.routes.mu.Lock()
	tab := c.routes.tables
	c.routes.mu.Unlock()
	if tab != nil {
		writeJSON(w, http.StatusOK, routesFromTables(tab))
		return
	}
	st, err := c.routes.readBucket(r.Context())
	if err != nil {
		writeError(w, err, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func routesFromTables(tab *routing.Tables) RoutesStatus {
	st := RoutesStatus{Source: "leader", Held: tab.Held, RouteTable: emptyTable(tab.Version)}
	for _, src := range tab.Nodes() {
		for _, dst := range tab.Nodes() {
			rt, ok := tab.Route(src, dst)
			if !ok {
				continue
			}
			st.Reasons[src] = setIn(st.Reasons[src], dst, rt.Reason)
			if rt.NextHop == "" {
				continue
			}
			st.Tables[src] = setIn(st.Tables[src], dst, rt.NextHop)
			st.Costs[src] = setIn(st.Costs[src], dst, rt.Cost)
			if rt.Alternate != "" {
				st.Alternates[src] = setIn(st.Alternates[src], dst, rt.Alternate)
			}
			if rt.Best < rt.Cost {
				if st.Best == nil {
					st.Best = map[string]map[string]float64{}
				}
				st.Best[src] = setIn(st.Best[src], dst, rt.Best)
			}
		}
	}
	return st
}

func emptyTable(v uint64) bus.RouteTable {
	return bus.RouteTable{
		Version: v, Tables: map[string]map[string]string{}, Alternates: map[string]map[string]string{},
		Costs: map[string]map[string]float64{}, Reasons: map[string]map[string]string{},
	}
}

func setIn[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[k] = v
	return m
}

// readBucket assembles the published tables from bus.BucketRoutes (on a
// controller that does not lead).
func (r *router) readBucket(ctx context.Context) (RoutesStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st := RoutesStatus{Source: "bucket", RouteTable: emptyTable(r.lastPublished(ctx))}
	lister, err := r.kv.ListKeysFiltered(ctx, bus.RoutesKey("*"))
	if err != nil {
		return st, err
	}
	for k := range lister.Keys() {
		e, err := r.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var nr bus.NodeRoutes
		if json.Unmarshal(e.Value(), &nr) != nil {
			continue
		}
		for dst, rt := range nr.Routes {
			st.Tables[nr.Node] = setIn(st.Tables[nr.Node], dst, rt.NextHop)
			st.Costs[nr.Node] = setIn(st.Costs[nr.Node], dst, rt.Cost)
			st.Reasons[nr.Node] = setIn(st.Reasons[nr.Node], dst, rt.Reason)
			if rt.Alternate != "" {
				st.Alternates[nr.Node] = setIn(st.Alternates[nr.Node], dst, rt.Alternate)
			}
		}
	}
	return st, nil
}

// LinksStatus is GET /v1/admin/links: the measured link matrix, the state
// the controller concluded for each link and the cost model's output.
type LinksStatus struct {
	Nodes           []NodeLinks   `json:"nodes"`
	Links           []LinkStatus  `json:"links"`
	RejectedReports uint64        `json:"rejected_reports"`
	Model           routing.Model `json:"cost_model"`
	LinkTimeoutMs   int64         `json:"link_timeout_ms"`
}

// NodeLinks is a node's reporting state.
type NodeLinks struct {
	ID        string `json:"id"`
	Region    string `json:"region,omitempty"`
	RelayAddr string `json:"relay_addr"`
	// Probing says the node's last link report is fresh.
	Probing       bool   `json:"probing"`
	ReportAgeMs   *int64 `json:"report_age_ms,omitempty"`
	RoutesVersion uint64 `json:"routes_version,omitempty"`
}

func (c *Controller) handleLinks(w http.ResponseWriter, _ *http.Request, _ *auth.Claims) {
	r := c.routes
	nodes := c.dir.LiveNodes()
	now := time.Now()
	r.mu.Lock()
	reports := make(map[string]receivedReport, len(r.reports))
	for id, rep := range r.reports {
		reports[id] = rep
	}
	r.mu.Unlock()
	_, links := buildGraph(nodes, reports, r.cfg, r.model, now, true)
	st := LinksStatus{Links: links, RejectedReports: r.rejected.Load(), Model: r.model, LinkTimeoutMs: r.cfg.LinkTimeout.Milliseconds()}
	for _, n := range relayNodes(nodes) {
		nl := NodeLinks{ID: n.ID, Region: n.Region, RelayAddr: n.RelayAddr}
		if rep, ok := reports[n.ID]; ok {
			age := now.Sub(rep.at).Milliseconds()
			nl.ReportAgeMs, nl.Probing, nl.RoutesVersion = &age, now.Sub(rep.at) < r.cfg.LinkTimeout, rep.rep.RoutesVersion
		}
		st.Nodes = append(st.Nodes, nl)
	}
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].ID < st.Nodes[j].ID })
	if st.Links == nil {
		st.Links = []LinkStatus{}
	}
	writeJSON(w, http.StatusOK, st)
}
