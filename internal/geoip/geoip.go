// Package geoip maps a client IP address to a location (region and ISP
// label) for placement: first from a CIDR table in the configuration, then,
// when one is configured, from a MaxMind-format (.mmdb) database whose
// country or continent codes are mapped to regions.
package geoip

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Location is what placement knows about a client.
type Location struct {
	Region  string `json:"region,omitempty"`
	ISP     string `json:"isp,omitempty"`
	Country string `json:"country,omitempty"`
	// Source says where the answer came from: "cidr", "mmdb" or "" (unknown).
	Source string `json:"source,omitempty"`
}

// Entry is one row of the CIDR table.
type Entry struct {
	CIDR   string `yaml:"cidr" json:"cidr"`
	Region string `yaml:"region" json:"region"`
	ISP    string `yaml:"isp" json:"isp,omitempty"`
}

// Options configure a Resolver.
type Options struct {
	// Table is matched first, most specific prefix wins.
	Table []Entry
	// DB, when set, answers addresses the table does not cover.
	DB *DB
	// CountryRegions maps an ISO country code (DE) to a region; it is
	// consulted before ContinentRegions (EU).
	CountryRegions   map[string]string
	ContinentRegions map[string]string
}

// Resolver answers Lookup; it is immutable and safe for concurrent use.
type Resolver struct {
	table []row // sorted by prefix length, longest first
	opts  Options
}

type row struct {
	prefix netip.Prefix
	loc    Location
}

// New checks the table and returns a Resolver.
func New(o Options) (*Resolver, error) {
	r := &Resolver{opts: o}
	for _, e := range o.Table {
		p, err := netip.ParsePrefix(strings.TrimSpace(e.CIDR))
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadCIDR, e.CIDR, err)
		}
		r.table = append(r.table, row{prefix: p.Masked(), loc: Location{Region: e.Region, ISP: e.ISP, Source: "cidr"}})
	}
	sort.SliceStable(r.table, func(i, j int) bool { return r.table[i].prefix.Bits() > r.table[j].prefix.Bits() })
	return r, nil
}

// Lookup returns the location of ip; ok is false when nothing knows it.
func (r *Resolver) Lookup(ip netip.Addr) (Location, bool) {
	if r == nil || !ip.IsValid() {
		return Location{}, false
	}
	ip = ip.Unmap()
	for _, row := range r.table {
		if row.prefix.Contains(ip) {
			return row.loc, true
		}
	}
	if r.opts.DB == nil {
		return Location{}, false
	}
	rec, found, err := r.opts.DB.Lookup(ip)
	if err != nil || !found {
		return Location{}, false
	}
	loc := Location{Source: "mmdb", Country: rec.Country, ISP: rec.ISP}
	if reg, ok := r.opts.CountryRegions[rec.Country]; ok {
		loc.Region = reg
	} else if reg, ok := r.opts.ContinentRegions[rec.Continent]; ok {
		loc.Region = reg
	} else if rec.Region != "" {
		loc.Region = rec.Region
	}
	return loc, loc.Region != "" || loc.ISP != ""
}
