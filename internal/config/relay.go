package config

import (
	"errors"
	"fmt"
	"time"
)

// Relay configures node-to-node relaying as a cluster: the key relay
// packets are sealed with, which links between nodes may carry media, and
// how the controller turns link measurements into routes. (Each node's
// relay port is sfu.relay_port.)
type Relay struct {
	// Secret is the cluster key of the relay (at least 16 characters);
	// every node of a cluster must have the same. `rtcloud dev` generates
	// one when it is empty.
	Secret string `yaml:"secret"`
	// Links lists the allowed links as pairs of names; each name is a node
	// id or a region. [eu, us] allows every eu node to talk to every us
	// node (both ways), [sfu-eu-1, sfu-ap-1] one pair of nodes. Nodes of
	// one region may always talk. Empty means a full mesh.
	Links [][]string `yaml:"links"`
	// RouteInterval is how often the controller leader recomputes the
	// routes from link reports (joins, leaves and dead links are acted on
	// at once). Default 1s.
	RouteInterval time.Duration `yaml:"route_interval"`
	// LinkTimeout: a node's link report older than this no longer counts
	// (default 3s).
	LinkTimeout time.Duration `yaml:"link_timeout"`
	// Hysteresis: a cheaper route replaces the current one when it is
	// cheaper by Margin (relative) and MinGain (cost units, ~ms) in Rounds
	// consecutive recomputations. Defaults 0.1, 5 and 3.
	Hysteresis Hysteresis `yaml:"hysteresis"`
}

// Hysteresis keeps routes from flapping.
type Hysteresis struct {
	Rounds  int     `yaml:"rounds"`
	Margin  float64 `yaml:"margin"`
	MinGain float64 `yaml:"min_gain"`
}

// DefaultRelay returns the relay defaults.
func DefaultRelay() Relay {
	return Relay{
		RouteInterval: time.Second,
		LinkTimeout:   3 * time.Second,
		Hysteresis:    Hysteresis{Rounds: 3, Margin: 0.1, MinGain: 5},
	}
}

// MinRelaySecret is the shortest relay.secret accepted.
const MinRelaySecret = 16

func (r Relay) validate() []error {
	var errs []error
	if r.Secret != "" && len(r.Secret) < MinRelaySecret {
		errs = append(errs, fmt.Errorf("relay.secret: at least %d characters (or empty in dev)", MinRelaySecret))
	}
	for i, l := range r.Links {
		if len(l) != 2 || l[0] == "" || l[1] == "" {
			errs = append(errs, fmt.Errorf("relay.links[%d]: want a pair of node ids or regions, like [eu, us]", i))
		}
	}
	if r.RouteInterval <= 0 || r.LinkTimeout <= 0 {
		errs = append(errs, errors.New("relay.route_interval, relay.link_timeout: must be positive"))
	}
	h := r.Hysteresis
	if h.Rounds < 1 || h.Margin <= 0 || h.Margin >= 1 || h.MinGain <= 0 {
		errs = append(errs, errors.New("relay.hysteresis: rounds at least 1, margin between 0 and 1, min_gain positive"))
	}
	return errs
}

// AllowsLink reports whether the configuration lets nodes a and b (with
// their regions) talk directly.
func (r Relay) AllowsLink(a, aRegion, b, bRegion string) bool {
	if len(r.Links) == 0 || aRegion == bRegion {
		return true
	}
	match := func(name, id, region string) bool { return name == id || name == region }
	for _, l := range r.Links {
		if len(l) != 2 {
			continue
		}
		if (match(l[0], a, aRegion) && match(l[1], b, bRegion)) || (match(l[0], b, bRegion) && match(l[1], a, aRegion)) {
			return true
		}
	}
	return false
}
