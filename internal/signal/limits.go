package signal

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Limits bound what one client may send. Zero fields take the defaults
// below; docs/protocol.md lists them with their error codes.
type Limits struct {
	// DataRate is how many data messages per second one connection may
	// send, with bursts of DataBurst; beyond it messages are refused
	// (rate_limited) and never reach the room.
	DataRate  float64
	DataBurst int
	// DataBytesRate bounds the data payload bytes per second of one
	// connection (bursts of one second's worth).
	DataBytesRate int
	// MediaSections is the most m-lines one offer (and so one session) may
	// have; PublishedTracks the most audio and video m-lines it may send.
	MediaSections   int
	PublishedTracks int
	// Candidates is the most remote ICE candidates one session may trickle.
	Candidates int
}

// Defaults of Limits.
const (
	DefaultDataRate        = 50
	DefaultDataBurst       = 100
	DefaultDataBytesRate   = 256 << 10
	DefaultMediaSections   = 128
	DefaultPublishedTracks = 16
	DefaultCandidates      = 64
)

// Bounds of client-supplied strings and lists, in bytes and entries.
const (
	MaxNameBytes     = 256
	MaxIdentityBytes = 256
	MaxMetadataBytes = 4 << 10
	MaxIDBytes       = 128 // request ids, mids, track ids, layers
	MaxRecipients    = 64  // data "to" list
	MaxListEntries   = 256 // publish, subscribe and mids lists
	maxCandidate     = 512 // one candidate line
)

func (l *Limits) defaults() {
	if l.DataRate <= 0 {
		l.DataRate = DefaultDataRate
	}
	if l.DataBurst <= 0 {
		l.DataBurst = DefaultDataBurst
	}
	if l.DataBytesRate <= 0 {
		l.DataBytesRate = DefaultDataBytesRate
	}
	if l.MediaSections <= 0 {
		l.MediaSections = DefaultMediaSections
	}
	if l.PublishedTracks <= 0 {
		l.PublishedTracks = DefaultPublishedTracks
	}
	if l.Candidates <= 0 {
		l.Candidates = DefaultCandidates
	}
}

// limitError is a request refused by a limit: the code and a plain
// message for the client.
type limitError struct{ code, msg string }

func (e *limitError) Error() string { return e.msg }

func overLimit(format string, args ...any) *limitError {
	return &limitError{code: protocol.CodeLimit, msg: fmt.Sprintf(format, args...)}
}

// checkParticipant bounds the strings a participant shows the room: its
// identity (from the token), name and metadata (from the token or join).
func checkParticipant(p bus.Participant) *limitError {
	for _, f := range []struct {
		name, v string
		max     int
	}{{"identity", p.Identity, MaxIdentityBytes}, {"name", p.Name, MaxNameBytes}, {"metadata", p.Metadata, MaxMetadataBytes}} {
		if len(f.v) > f.max {
			return overLimit("%s is over %d bytes", f.name, f.max)
		}
		if !utf8.ValidString(f.v) {
			return &limitError{code: protocol.CodeBadRequest, msg: f.name + " is not valid UTF-8"}
		}
	}
	if p.Identity == "" {
		return &limitError{code: protocol.CodeBadRequest, msg: "the token has no identity"}
	}
	return nil
}

// checkRequest bounds the ids and lists of one request.
func checkRequest(m protocol.Message) *limitError {
	if len(m.Publish) > MaxListEntries || len(m.Subscribe) > MaxListEntries || len(m.MIDs) > MaxListEntries {
		return overLimit("more than %d entries in publish, subscribe or mids", MaxListEntries)
	}
	// Every message passes here (data ones included): the ids are checked
	// where they are, without collecting them.
	long := longer(MaxIDBytes, m.ID, m.MID, m.TrackID, m.Layer, m.SessionID) || longer(MaxIDBytes, m.MIDs...)
	for _, s := range m.Subscribe {
		long = long || longer(MaxIDBytes, s.MID, s.TrackID, s.Layer)
	}
	for _, p := range m.Publish {
		long = long || longer(MaxIDBytes, p.MID, p.Source)
		if len(p.Name) > MaxNameBytes {
			return overLimit("a track name is over %d bytes", MaxNameBytes)
		}
	}
	if long {
		return overLimit("an id, mid or layer is over %d bytes", MaxIDBytes)
	}
	if len(m.To) > MaxRecipients {
		return overLimit("data: more than %d recipients", MaxRecipients)
	}
	for _, to := range m.To {
		if len(to) > MaxIdentityBytes {
			return overLimit("data: a recipient is over %d bytes", MaxIdentityBytes)
		}
	}
	if m.Candidate != nil && len(m.Candidate.Candidate) > maxCandidate {
		return overLimit("trickle: candidate over %d bytes", maxCandidate)
	}
	return nil
}

// longer reports whether any of ss is over n bytes.
func longer(n int, ss ...string) bool {
	for _, s := range ss {
		if len(s) > n {
			return true
		}
	}
	return false
}

// checkOfferLimits bounds the m-lines of an offer and those that send.
func (l Limits) checkOfferLimits(d *sdp.SessionDescription) *limitError {
	if n := len(d.MediaDescriptions); n > l.MediaSections {
		return overLimit("the offer has %d media sections; at most %d", n, l.MediaSections)
	}
	sending := 0
	for _, md := range d.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != bus.KindAudio && kind != bus.KindVideo || md.MediaName.Port.Value == 0 {
			continue
		}
		if hasAttr(md, "sendonly") || hasAttr(md, "sendrecv") || !(hasAttr(md, "recvonly") || hasAttr(md, "inactive")) {
			sending++
		}
	}
	if sending > l.PublishedTracks {
		return overLimit("the offer sends %d tracks; at most %d per session", sending, l.PublishedTracks)
	}
	return nil
}

// bucket is a token bucket: rate tokens per second up to burst. A
// connection's buckets are used by its reader goroutine only.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take removes n tokens if there are that many; false when the caller is
// over its rate.
func (b *bucket) take(now time.Time, n float64) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// reasonedLimit is a limit error with the metric reason it counts under.
type reasonedLimit struct {
	*limitError
	reason string
}

// checkLimits applies the per-session limits of a joined client's
// request: offers' m-lines and the remote candidates it trickles. An
// offer is parsed here, once; bad is set when it does not parse.
func (c *conn) checkLimits(m protocol.Message) (le *reasonedLimit, bad error) {
	switch m.Type {
	case protocol.TypeOffer:
		d, err := parseOffer(m.SDP)
		if err != nil {
			return nil, err
		}
		if le := c.s.opts.Limits.checkOfferLimits(d); le != nil {
			return &reasonedLimit{le, "offer"}, nil
		}
	case protocol.TypeTrickle:
		if m.Candidate == nil || m.Candidate.Candidate == "" {
			return nil, nil
		}
		if c.candidates >= c.s.opts.Limits.Candidates {
			return &reasonedLimit{overLimit("trickle: more than %d remote candidates", c.s.opts.Limits.Candidates), "candidates"}, nil
		}
		c.candidates++
	}
	return nil, nil
}

// refuse answers a request a limit refused, counts it, and logs the first
// refusal of each reason on this connection (later ones at debug level, so
// a flood does not flood the log).
// An empty reason was counted by the caller.
func (c *conn) refuse(id, reason string, le *limitError) {
	if reason != "" {
		c.s.met.refused.WithLabelValues(reason).Inc()
	}
	if !c.warned[le.code+reason] {
		c.warned[le.code+reason] = true
		c.log.Warn("request refused by a limit", "reason", reason, "err", le.msg)
	} else {
		c.log.Debug("request refused by a limit", "reason", reason, "err", le.msg)
	}
	c.sendError(id, le.code, le.msg)
}
