package signal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/directory"
)

// Content types of WHIP and WHEP.
const (
	typeSDP     = "application/sdp"
	typeSDPFrag = "application/trickle-ice-sdpfrag"
)

// serveWHIP creates a publishing session from an offer (RFC 9725).
func (s *Server) serveWHIP(w http.ResponseWriter, r *http.Request) {
	claims, offer, d, ok := s.readOffer(w, r, r.PathValue("room"), "publish", func(g auth.Grant) bool { return g.Publish })
	if !ok {
		return
	}
	var publish []bus.PublishSpec
	for _, md := range d.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		if mid == "" || !(hasAttr(md, "sendonly") || hasAttr(md, "sendrecv")) {
			continue
		}
		src := bus.SourceCamera
		if md.MediaName.Media == bus.KindAudio {
			src = bus.SourceMicrophone
		}
		publish = append(publish, bus.PublishSpec{MID: mid, Source: src})
	}
	if len(publish) == 0 {
		httpError(w, http.StatusBadRequest, "the offer sends nothing: WHIP needs sendonly audio or video with a mid")
		return
	}
	req := bus.CreateSession{Grants: claims.Grants(), Offer: offer, Publish: publish}
	s.createHTTPSession(w, r, "whip", claims, "", req, d)
}

// createHTTPSession places and creates a WHIP or WHEP session and writes
// the 201 response. nodeID, when set, is where the room already is.
func (s *Server) createHTTPSession(w http.ResponseWriter, r *http.Request, kind string, claims *auth.Claims, nodeID string, req bus.CreateSession, d *sdp.SessionDescription) {
	ctx := r.Context()
	ns, room := claims.Grant.Namespace, claims.Grant.Room
	var err error
	if nodeID == "" {
		if nodeID, err = s.place.Place(ctx, ns, room, s.client.of(r)); err != nil {
			s.httpFail(w, "place session", err)
			return
		}
	}
	p := bus.Participant{Namespace: ns, Room: room, Identity: claims.Identity(), SessionID: newSessionID(), Name: claims.Name, Metadata: claims.Metadata, Kind: kind}
	if le := checkParticipant(p); le != nil {
		s.met.refused.WithLabelValues("join").Inc()
		s.httpFail(w, kind, le)
		return
	}
	req.Participant = p
	rec := bus.SessionRecord{Participant: p, NodeID: nodeID, Grants: req.Grants, CreatedAt: time.Now().UTC(), Kind: kind, Offer: req.Offer}
	if err := s.dir.CreateSession(ctx, rec); err != nil {
		s.httpFail(w, "store session", err)
		return
	}
	var ans bus.SessionAnswer
	if err := s.nodeCmd(ctx, nodeID, bus.CmdSessionCreate, req, &ans); err != nil {
		_ = s.dir.DeleteSession(context.WithoutCancel(ctx), p.SessionID)
		s.httpFail(w, "create session", err)
		return
	}
	ufrag, _ := iceCredentials(d)
	hdr := w.Header()
	hdr.Set("Content-Type", typeSDP)
	hdr.Set("Location", "/"+kind+"/"+room+"/"+p.SessionID)
	hdr.Set("ETag", etag(p.SessionID, ufrag))
	hdr.Set("Accept-Patch", typeSDPFrag)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, ans.Answer)
	s.log.Info(kind+" session created", "namespace", ns, "room", room, "identity", p.Identity, "session", p.SessionID, "node", nodeID)
}

// httpFail writes the error of a failed request: a status and a plain
// message; the details go to the log.
func (s *Server) httpFail(w http.ResponseWriter, what string, err error) {
	code, msg := s.clientError(s.log, what, err)
	status := httpStatus(code)
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "2")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	httpError(w, status, msg)
}

func etag(sessionID, ufrag string) string { return `"` + sessionID + "-" + ufrag + `"` }

func hasAttr(md *sdp.MediaDescription, key string) bool {
	_, ok := md.Attribute(key)
	return ok
}

// resource finds the WHIP/WHEP session named by the URL and checks that
// the bearer token may act on it; on failure it writes the error.
func (s *Server) resource(w http.ResponseWriter, r *http.Request) (bus.SessionRecord, bool) {
	room, sid := r.PathValue("room"), r.PathValue("session")
	claims, ok := s.authRoom(w, r, room)
	if !ok {
		return bus.SessionRecord{}, false
	}
	rec, err := s.dir.Session(r.Context(), sid)
	kind := r.URL.Path[1:5]
	if errors.Is(err, directory.ErrNotFound) || err == nil && (rec.Namespace != claims.Grant.Namespace || rec.Room != room || rec.Kind != kind) {
		httpError(w, http.StatusNotFound, "no such session")
		return rec, false
	}
	if err != nil {
		s.httpFail(w, "read session", err)
		return rec, false
	}
	if rec.Identity != claims.Identity() {
		httpError(w, http.StatusForbidden, "the session belongs to another identity")
		return rec, false
	}
	return rec, true
}

// deleteResource ends a WHIP/WHEP session.
func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.resource(w, r)
	if !ok {
		return
	}
	err := s.nodeCmd(r.Context(), rec.NodeID, bus.CmdClose, bus.Close{SessionID: rec.SessionID, Reason: "left"}, nil)
	_ = s.dir.DeleteSession(context.WithoutCancel(r.Context()), rec.SessionID)
	if err != nil && !bus.IsCode(err, bus.CodeNotFound) && !errors.Is(err, bus.ErrNoResponders) {
		s.httpFail(w, "close session", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// patchResource trickles candidates or restarts ICE (RFC 9725 section 4.3).
func (s *Server) patchResource(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.resource(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r, typeSDPFrag)
	if !ok {
		return
	}
	frag, err := parseSDPFrag(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	cur, err := parseOffer(rec.Offer)
	if err != nil {
		s.httpFail(w, "stored offer", err)
		return
	}
	ufrag, _ := iceCredentials(cur)
	m := r.Header.Get("If-Match")
	if m == "" {
		// RFC 9725 section 4.3: a PATCH names the ICE session it is for.
		httpError(w, http.StatusPreconditionRequired, "If-Match is required: the ETag of the session, or * for an ICE restart")
		return
	}
	if m != "*" && m != etag(rec.SessionID, ufrag) {
		httpError(w, http.StatusPreconditionFailed, "If-Match does not match the ICE session")
		return
	}
	if frag.Ufrag != "" && frag.Ufrag != ufrag {
		s.iceRestart(w, r, rec, frag)
		return
	}
	for _, c := range frag.Candidates {
		if err := s.nodeCmd(r.Context(), rec.NodeID, bus.CmdTrickle, bus.Trickle{SessionID: rec.SessionID, Candidate: c}, nil); err != nil {
			s.httpFail(w, "trickle", err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// iceRestart renegotiates with the client's new credentials and answers
// with the node's new credentials and candidates.
func (s *Server) iceRestart(w http.ResponseWriter, r *http.Request, rec bus.SessionRecord, frag sdpFrag) {
	offer := withCredentials(rec.Offer, frag.Ufrag, frag.Pwd)
	var ans bus.SessionAnswer
	if err := s.nodeCmd(r.Context(), rec.NodeID, bus.CmdNegotiate, bus.Negotiate{SessionID: rec.SessionID, Offer: offer}, &ans); err != nil {
		s.httpFail(w, "ICE restart", err)
		return
	}
	body, err := answerFrag(ans.Answer)
	if err != nil {
		s.httpFail(w, "ICE restart", err)
		return
	}
	rec.Offer = offer
	if err := s.dir.UpdateSession(r.Context(), rec); err != nil {
		s.httpFail(w, "store session", err)
		return
	}
	for _, c := range frag.Candidates {
		_ = s.nodeCmd(r.Context(), rec.NodeID, bus.CmdTrickle, bus.Trickle{SessionID: rec.SessionID, Candidate: c}, nil)
	}
	w.Header().Set("Content-Type", typeSDPFrag)
	w.Header().Set("ETag", etag(rec.SessionID, frag.Ufrag))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
}
