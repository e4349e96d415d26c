package geoip

import "errors"

// Errors of the geoip package.
var (
	// ErrBadCIDR means a CIDR table entry does not parse.
	ErrBadCIDR = errors.New("geoip: bad CIDR")
	// ErrBadDatabase means a .mmdb file is malformed.
	ErrBadDatabase = errors.New("geoip: malformed MaxMind database")
)
