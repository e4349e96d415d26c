package signal

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr finds the address of the client behind a request, for
// placement by region and ISP. Behind a load balancer or reverse proxy the
// TCP peer is the proxy: when the peer is one of the trusted proxies, the
// client is the first address of X-Forwarded-For read from the right that
// is not itself a trusted proxy. Addresses a client wrote into the header
// itself sit to the left of that and are never believed.
type clientAddr struct {
	trusted []netip.Prefix
}

func newClientAddr(cidrs []string) (clientAddr, error) {
	var c clientAddr
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return c, fmt.Errorf("trusted proxy %q: want a CIDR or an IP address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	return c, nil
}

func (c clientAddr) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// of returns the client's IP address for r.
func (c clientAddr) of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !c.isTrusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing to its left
		}
		if !c.isTrusted(a) {
			return a.Unmap().String()
		}
		peer = a
	}
	return peer.Unmap().String()
}
