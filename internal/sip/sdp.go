package sip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Codec is the audio codec of a call.
type Codec struct {
	Name  string // "PCMU", "PCMA" or "opus"
	PT    uint8
	Rate  int   // RTP clock rate
	DTMF  uint8 // payload type of telephone-event; 0 if none
	HasDT bool
}

// Payload types rtcloud offers.
const (
	ptPCMU = 0
	ptPCMA = 8
	ptOpus = 111
	ptDTMF = 101
)

// remoteMedia is what a peer's SDP says about its audio.
type remoteMedia struct {
	addr   netip.AddrPort // where to send RTP
	codec  Codec
	rtcp   netip.AddrPort
	sendTo bool // the peer wants media (not recvonly/inactive from its side)
}

// parseSDP reads the first audio section of a peer's SDP and picks the
// first codec in its order that rtcloud speaks: PCMU, PCMA or Opus.
func parseSDP(body []byte) (remoteMedia, error) {
	var rm remoteMedia
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return rm, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	var md *sdp.MediaDescription
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			md = m
			break
		}
	}
	if md == nil {
		return rm, fmt.Errorf("%w: no audio", ErrBadSDP)
	}
	conn := s.ConnectionInformation
	if md.ConnectionInformation != nil {
		conn = md.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return rm, fmt.Errorf("%w: no connection address", ErrBadSDP)
	}
	ip, err := netip.ParseAddr(conn.Address.Address)
	if err != nil {
		return rm, fmt.Errorf("%w: connection address %q", ErrBadSDP, conn.Address.Address)
	}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return rm, fmt.Errorf("%w: port %d", ErrBadSDP, port)
	}
	rm.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	rm.rtcp = netip.AddrPortFrom(ip.Unmap(), uint16(port+1))
	rtpmap := map[uint8]string{0: "pcmu/8000", 8: "pcma/8000"}
	rm.sendTo = true
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			pt, enc, ok := strings.Cut(a.Value, " ")
			if n, err := strconv.ParseUint(pt, 10, 7); ok && err == nil {
				rtpmap[uint8(n)] = strings.ToLower(enc)
			}
		case "rtcp":
			if f := strings.Fields(a.Value); len(f) > 0 {
				if n, err := strconv.ParseUint(f[0], 10, 16); err == nil {
					rm.rtcp = netip.AddrPortFrom(rm.rtcp.Addr(), uint16(n))
				}
			}
		case "recvonly", "inactive":
			rm.sendTo = a.Key == "recvonly"
		}
	}
	found := false
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		enc := rtpmap[uint8(n)]
		switch {
		case enc == "pcmu/8000" && !found:
			rm.codec, found = Codec{Name: "PCMU", PT: uint8(n), Rate: 8000}, true
		case enc == "pcma/8000" && !found:
			rm.codec, found = Codec{Name: "PCMA", PT: uint8(n), Rate: 8000}, true
		case strings.HasPrefix(enc, "opus/48000") && !found:
			rm.codec, found = Codec{Name: "opus", PT: uint8(n), Rate: 48000}, true
		}
	}
	if !found {
		return rm, ErrNoCodec
	}
	for _, f := range md.MediaName.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err == nil && rtpmap[uint8(n)] == "telephone-event/"+strconv.Itoa(rm.codec.Rate) {
			rm.codec.DTMF, rm.codec.HasDT = uint8(n), true
		}
	}
	return rm, nil
}

// answerSDP answers with one codec (and telephone-event if offered).
func answerSDP(ip netip.Addr, port int, c Codec, sessID uint64) []byte {
	var b strings.Builder
	writeHead(&b, ip, sessID)
	fmts := strconv.Itoa(int(c.PT))
	if c.HasDT {
		fmts += " " + strconv.Itoa(int(c.DTMF))
	}
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", port, fmts)
	writeRtpmap(&b, c.PT, c.Name, c.Rate)
	if c.HasDT {
		writeRtpmap(&b, c.DTMF, "telephone-event", c.Rate)
		fmt.Fprintf(&b, "a=fmtp:%d 0-16\r\n", c.DTMF)
	}
	fmt.Fprintf(&b, "a=rtcp:%d\r\na=ptime:20\r\na=sendrecv\r\n", port+1)
	return []byte(b.String())
}

// offerSDP offers PCMU, PCMA and Opus, with telephone-event.
func offerSDP(ip netip.Addr, port int, sessID uint64) []byte {
	var b strings.Builder
	writeHead(&b, ip, sessID)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d %d %d %d\r\n", port, ptPCMU, ptPCMA, ptOpus, ptDTMF)
	writeRtpmap(&b, ptPCMU, "PCMU", 8000)
	writeRtpmap(&b, ptPCMA, "PCMA", 8000)
	writeRtpmap(&b, ptOpus, "opus", 48000)
	writeRtpmap(&b, ptDTMF, "telephone-event", 8000)
	fmt.Fprintf(&b, "a=fmtp:%d 0-16\r\na=rtcp:%d\r\na=ptime:20\r\na=sendrecv\r\n", ptDTMF, port+1)
	return []byte(b.String())
}

func writeHead(b *strings.Builder, ip netip.Addr, sessID uint64) {
	fam := "IP4"
	if ip.Is6() {
		fam = "IP6"
	}
	fmt.Fprintf(b, "v=0\r\no=rtcloud %d %d IN %s %s\r\ns=rtcloud\r\nc=IN %s %s\r\nt=0 0\r\n", sessID, sessID, fam, ip, fam, ip)
}

func writeRtpmap(b *strings.Builder, pt uint8, name string, rate int) {
	if name == "opus" {
		fmt.Fprintf(b, "a=rtpmap:%d opus/48000/2\r\n", pt)
		return
	}
	fmt.Fprintf(b, "a=rtpmap:%d %s/%d\r\n", pt, name, rate)
}
