package signal

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// sdpFrag is what a trickle-ice-sdpfrag body (RFC 8840) carries.
type sdpFrag struct {
	Ufrag, Pwd string
	Candidates []bus.Candidate
}

// parseSDPFrag parses a PATCH body: session-level ICE credentials, and
// per media section (m= and a=mid) candidates.
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	if len(body) > maxSDPBytes {
		return f, fmt.Errorf("%w: sdpfrag over 128 KiB", ErrBadSDP)
	}
	mid, mline := "", -1
	lines := 0
	for _, raw := range strings.Split(body, "\n") {
		line := strings.TrimRight(raw, "\r")
		if line == "" {
			continue
		}
		lines++
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return f, fmt.Errorf("%w: sdpfrag line %q is not type=value", ErrBadSDP, truncate(line, 40))
		}
		switch {
		case line[0] == 'm':
			mline++
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = line[len("a=mid:"):]
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.Ufrag = line[len("a=ice-ufrag:"):]
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.Pwd = line[len("a=ice-pwd:"):]
		case strings.HasPrefix(line, "a=candidate:"):
			c := bus.Candidate{Candidate: line[len("a="):]}
			if _, err := parseCandidate(c.Candidate); err != nil {
				return f, err
			}
			if mid != "" {
				m := mid
				c.SDPMid = &m
			}
			if mline >= 0 {
				idx := uint16(mline)
				c.SDPMLineIndex = &idx
			}
			f.Candidates = append(f.Candidates, c)
		}
	}
	if lines == 0 {
		return f, fmt.Errorf("%w: empty sdpfrag", ErrBadSDP)
	}
	if (f.Ufrag == "") != (f.Pwd == "") {
		return f, fmt.Errorf("%w: ice-ufrag and ice-pwd come together", ErrBadSDP)
	}
	if f.Ufrag != "" {
		if err := checkICECredentials(f.Ufrag, f.Pwd); err != nil {
			return f, err
		}
		for i := range f.Candidates {
			u := f.Ufrag
			f.Candidates[i].UsernameFragment = &u
		}
	}
	return f, nil
}

// parseCandidate checks the shape of "candidate:foundation component
// transport priority address port typ type ...".
func parseCandidate(c string) ([]string, error) {
	fields := strings.Fields(strings.TrimPrefix(c, "candidate:"))
	if len(fields) < 8 || fields[6] != "typ" {
		return nil, fmt.Errorf("%w: bad candidate %q", ErrBadSDP, truncate(c, 60))
	}
	return fields, nil
}

// iceCredentials returns the first ice-ufrag and ice-pwd of a description
// (session level, else the first media section that has them).
func iceCredentials(d *sdp.SessionDescription) (ufrag, pwd string) {
	ufrag, _ = d.Attribute("ice-ufrag")
	pwd, _ = d.Attribute("ice-pwd")
	for _, md := range d.MediaDescriptions {
		if ufrag == "" {
			ufrag, _ = md.Attribute("ice-ufrag")
		}
		if pwd == "" {
			pwd, _ = md.Attribute("ice-pwd")
		}
	}
	return ufrag, pwd
}

// withCredentials rewrites every ice-ufrag and ice-pwd line of an SDP.
func withCredentials(s, ufrag, pwd string) string {
	lines := strings.Split(s, "\n")
	for i, raw := range lines {
		cr := strings.HasSuffix(raw, "\r")
		line := strings.TrimSuffix(raw, "\r")
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + pwd
		default:
			continue
		}
		if cr {
			line += "\r"
		}
		lines[i] = line
	}
	return strings.Join(lines, "\n")
}

// answerFrag builds the sdpfrag answer of an ICE restart from the node's
// answer: its new credentials and its candidates.
func answerFrag(answer string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return "", fmt.Errorf("node answer: %w", err)
	}
	ufrag, pwd := iceCredentials(&d)
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ufrag, pwd)
	// All candidates of the node share one port and one transport
	// association (BUNDLE): the first section is enough.
	if len(d.MediaDescriptions) > 0 {
		md := d.MediaDescriptions[0]
		mid, _ := md.Attribute("mid")
		fmt.Fprintf(&b, "m=%s %d %s %s\r\na=mid:%s\r\n", md.MediaName.Media, md.MediaName.Port.Value,
			strings.Join(md.MediaName.Protos, "/"), strings.Join(md.MediaName.Formats, " "), mid)
		for _, a := range md.Attributes {
			if a.Key == "candidate" {
				fmt.Fprintf(&b, "a=candidate:%s\r\n", a.Value)
			}
		}
	}
	return b.String(), nil
}
