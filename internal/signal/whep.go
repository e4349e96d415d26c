package signal

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// serveWHEP creates a viewing session bound to a publisher's tracks.
func (s *Server) serveWHEP(w http.ResponseWriter, r *http.Request) {
	room, publisher := r.PathValue("room"), r.PathValue("identity")
	claims, offer, d, ok := s.readOffer(w, r, room, "subscribe", func(g auth.Grant) bool { return g.Subscribe })
	if !ok {
		return
	}
	mids := recvMIDs(d)
	if len(mids[bus.KindAudio])+len(mids[bus.KindVideo]) == 0 {
		httpError(w, http.StatusBadRequest, "the offer receives nothing: WHEP needs recvonly audio or video with a mid")
		return
	}
	ns := claims.Grant.Namespace
	nodeID, err := s.place.Place(r.Context(), ns, room, s.client.of(r))
	if err != nil {
		s.httpFail(w, "place session", err)
		return
	}
	parts, err := s.roomState(r.Context(), nodeID, ns, room)
	if err != nil {
		s.httpFail(w, "room state", err)
		return
	}
	subs, err := bindTracks(pickPublisher(parts, publisher), mids)
	if err != nil {
		w.Header().Set("Retry-After", "2")
		httpError(w, http.StatusConflict, err.Error())
		return
	}
	req := bus.CreateSession{Grants: claims.Grants(), Offer: offer, Subscribe: subs}
	s.createHTTPSession(w, r, "whep", claims, nodeID, req, d)
}

// recvMIDs lists the mids of recvonly (or sendrecv) sections by kind, in
// SDP order.
func recvMIDs(d *sdp.SessionDescription) map[string][]string {
	out := map[string][]string{}
	for _, md := range d.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		kind := md.MediaName.Media
		if mid == "" || (kind != bus.KindAudio && kind != bus.KindVideo) || md.MediaName.Port.Value == 0 {
			continue
		}
		if hasAttr(md, "recvonly") || hasAttr(md, "sendrecv") {
			out[kind] = append(out[kind], mid)
		}
	}
	return out
}

// pickPublisher returns the participant with identity (or, when identity
// is empty, the most recently joined one) that publishes tracks.
func pickPublisher(parts []bus.ParticipantInfo, identity string) *bus.ParticipantInfo {
	var best *bus.ParticipantInfo
	for i := range parts {
		p := &parts[i]
		if len(p.Tracks) == 0 || (identity != "" && p.Identity != identity) {
			continue
		}
		if best == nil || p.JoinedAt.After(best.JoinedAt) {
			best = p
		}
	}
	return best
}

// bindTracks binds recvonly mids to the publisher's tracks of the same
// kind, in order.
func bindTracks(p *bus.ParticipantInfo, mids map[string][]string) ([]bus.Subscription, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no such publisher in the room", ErrNoPublisher)
	}
	used := map[string]int{}
	var subs []bus.Subscription
	for _, tr := range p.Tracks {
		ms := mids[tr.Kind]
		if used[tr.Kind] < len(ms) {
			subs = append(subs, bus.Subscription{MID: ms[used[tr.Kind]], TrackID: tr.ID})
			used[tr.Kind]++
		}
	}
	if len(subs) == 0 {
		return nil, errors.Join(ErrNoPublisher, errors.New("the publisher has no track of the kinds offered"))
	}
	return subs, nil
}
