package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"time"
)

// Controller configures the controller: its HTTP API, placement and
// leader election.
type Controller struct {
	// HTTPAddr serves /v1/allocate, the admin API and /healthz.
	HTTPAddr string `yaml:"http_addr"`
	// Policy is the default room placement policy: "same-node" or "nearest".
	Policy string `yaml:"policy"`
	// GeoIP maps client addresses to regions and ISPs.
	GeoIP GeoIP `yaml:"geoip"`
	// Pools name sets of nodes by node id patterns ("gold-*").
	Pools map[string][]string `yaml:"pools"`
	// Namespaces pin namespaces to pools or regions, or set their policy.
	Namespaces map[string]NamespacePlacement `yaml:"namespaces"`
	// OperatorNamespace is the namespace whose admin tokens for room "*"
	// may list and drain nodes.
	OperatorNamespace string `yaml:"operator_namespace"`
	// AllocateRequiresToken makes GET /v1/allocate demand a token for the
	// room; without it a token is checked only when one is sent.
	AllocateRequiresToken bool `yaml:"allocate_requires_token"`
	// DeadAfter is how long a silent node stays in placement (3 missed
	// one-second heartbeats).
	DeadAfter time.Duration `yaml:"dead_after"`
	// LeaseTTL is the leader lease; a standby takes over at most about
	// LeaseTTL plus a third of it after the leader dies.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// GeoIP is the client location source: a CIDR table, then a MaxMind DB.
type GeoIP struct {
	CIDRs []GeoCIDR `yaml:"cidrs"`
	// MMDB is the path of a MaxMind-format database (GeoLite2-City,
	// GeoIP2-ISP, ...); empty for none.
	MMDB string `yaml:"mmdb"`
	// CountryRegions and ContinentRegions map database codes to regions.
	CountryRegions   map[string]string `yaml:"country_regions"`
	ContinentRegions map[string]string `yaml:"continent_regions"`
}

// GeoCIDR is one row of the CIDR table.
type GeoCIDR struct {
	CIDR   string `yaml:"cidr"`
	Region string `yaml:"region"`
	ISP    string `yaml:"isp"`
}

// NamespacePlacement constrains where a namespace's rooms go.
type NamespacePlacement struct {
	Pools   []string `yaml:"pools"`
	Regions []string `yaml:"regions"`
	Policy  string   `yaml:"policy"`
}

// Placement policies.
const (
	PolicySameNode = "same-node"
	PolicyNearest  = "nearest"
)

// DefaultController returns the controller defaults.
func DefaultController() Controller {
	return Controller{
		HTTPAddr:          ":7900",
		Policy:            PolicyNearest,
		OperatorNamespace: "default",
		DeadAfter:         2 * time.Second,
		LeaseTTL:          1500 * time.Millisecond,
	}
}

func validPolicy(p string) bool { return p == PolicySameNode || p == PolicyNearest }

func (c *Controller) validate() []error {
	var errs []error
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("controller.http_addr %q: want host:port or :port", c.HTTPAddr))
		}
	}
	if !validPolicy(c.Policy) {
		errs = append(errs, fmt.Errorf("controller.policy %q: use same-node or nearest", c.Policy))
	}
	for _, e := range c.GeoIP.CIDRs {
		if _, err := netip.ParsePrefix(e.CIDR); err != nil {
			errs = append(errs, fmt.Errorf("controller.geoip.cidrs: %q is not a CIDR (like 10.0.0.0/8)", e.CIDR))
		}
		if e.Region == "" && e.ISP == "" {
			errs = append(errs, fmt.Errorf("controller.geoip.cidrs %q: set region or isp", e.CIDR))
		}
	}
	for name, pats := range c.Pools {
		for _, p := range pats {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("controller.pools.%s: bad pattern %q", name, p))
			}
		}
	}
	for ns, np := range c.Namespaces {
		for _, p := range np.Pools {
			if _, ok := c.Pools[p]; !ok {
				errs = append(errs, fmt.Errorf("controller.namespaces.%s.pools: pool %q is not defined in controller.pools", ns, p))
			}
		}
		if np.Policy != "" && !validPolicy(np.Policy) {
			errs = append(errs, fmt.Errorf("controller.namespaces.%s.policy %q: use same-node or nearest", ns, np.Policy))
		}
	}
	if c.OperatorNamespace == "" {
		errs = append(errs, errors.New("controller.operator_namespace: must not be empty"))
	}
	if c.DeadAfter < 500*time.Millisecond {
		errs = append(errs, errors.New("controller.dead_after: must be at least 500ms"))
	}
	if c.LeaseTTL < 500*time.Millisecond {
		errs = append(errs, errors.New("controller.lease_ttl: must be at least 500ms"))
	}
	return errs
}
