package client

import (
	"strconv"
	"strings"
)

// With MediaOptions.Via set, the client's offers carry no ICE candidates
// and every UDP candidate of the server's answers is rewritten to the Via
// address (TCP candidates are removed). The server then reaches the
// client only through the relay: it learns the relay's address as a
// peer-reflexive candidate from the relayed connectivity checks.

// viaOffer removes the candidates of a local offer when media goes
// through a relay.
func (p *peer) viaOffer(sdp string) string {
	if p.via == nil {
		return sdp
	}
	return mapCandidates(sdp, func(string) (string, bool) { return "", false })
}

// viaAnswer points the UDP candidates of a remote answer at the relay.
func (p *peer) viaAnswer(sdp string) string {
	if p.via == nil {
		return sdp
	}
	ip, port := p.via.IP.String(), strconv.Itoa(p.via.Port)
	return mapCandidates(sdp, func(line string) (string, bool) {
		// candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
		f := strings.Fields(line)
		if len(f) < 8 || !strings.EqualFold(f[2], "udp") {
			return "", false
		}
		f[4], f[5] = ip, port
		return strings.Join(f, " "), true
	})
}

// mapCandidates rewrites (or, when keep is false, removes) every
// a=candidate line of sdp; f gets the attribute value.
func mapCandidates(sdp string, f func(string) (line string, keep bool)) string {
	const prefix = "a="
	lines := strings.SplitAfter(sdp, "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		if !strings.HasPrefix(body, prefix+"candidate:") {
			out = append(out, l)
			continue
		}
		if nl, keep := f(strings.TrimPrefix(body, prefix)); keep {
			out = append(out, prefix+nl+l[len(body):])
		}
	}
	return strings.Join(out, "")
}
