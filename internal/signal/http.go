package signal

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// httpError writes a one-line text/plain error.
func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// bearer verifies the request's bearer token; on failure it writes 401.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (*auth.Claims, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtcloud"`)
		httpError(w, http.StatusUnauthorized, "missing bearer token")
		return nil, false
	}
	claims, err := s.opts.Verifier.Verify(strings.TrimSpace(h[7:]))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtcloud", error="invalid_token"`)
		httpError(w, http.StatusUnauthorized, tokenMessage(err))
		return nil, false
	}
	return claims, true
}

// authRoom verifies the bearer token and that it admits to room; on
// failure it writes 401 or 403.
func (s *Server) authRoom(w http.ResponseWriter, r *http.Request, room string) (*auth.Claims, bool) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return nil, false
	}
	if !bus.ValidName(room) || claims.Grant.Room != room {
		httpError(w, http.StatusForbidden, "the token does not admit to this room")
		return nil, false
	}
	return claims, true
}

// readOffer is the start of a WHIP or WHEP POST: the bearer token admits
// to room and has the grant (named in the 403 message), and the body is
// an SDP offer that parses. On failure it writes the error.
func (s *Server) readOffer(w http.ResponseWriter, r *http.Request, room, grant string, granted func(auth.Grant) bool) (*auth.Claims, string, *sdp.SessionDescription, bool) {
	claims, ok := s.authRoom(w, r, room)
	if !ok {
		return nil, "", nil, false
	}
	if !granted(claims.Grant) {
		httpError(w, http.StatusForbidden, "the token has no "+grant+" grant")
		return nil, "", nil, false
	}
	offer, ok := readBody(w, r, typeSDP)
	if !ok {
		return nil, "", nil, false
	}
	d, err := parseOffer(offer)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return nil, "", nil, false
	}
	if le := s.opts.Limits.checkOfferLimits(d); le != nil {
		s.met.refused.WithLabelValues("offer").Inc()
		s.log.Info("offer refused by a limit", "path", r.URL.Path, "err", le.msg)
		httpError(w, httpStatus(le.code), le.msg)
		return nil, "", nil, false
	}
	return claims, offer, d, true
}

// readBody checks the content type and size of a request body.
func readBody(w http.ResponseWriter, r *http.Request, contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be "+contentType)
		return "", false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDPBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, "body over 128 KiB")
		} else {
			httpError(w, http.StatusBadRequest, "the request body could not be read")
		}
		return "", false
	}
	return string(data), true
}

// cors adds the CORS headers of an allowed origin to a response.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.corsHeaders(w, r)
		h(w, r)
	}
}

func (s *Server) corsHeaders(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	allowed := s.opts.Config.AllowedOrigins
	switch {
	case len(allowed) == 0:
		hdr.Set("Access-Control-Allow-Origin", "*")
	case slices.Contains(allowed, origin):
		hdr.Set("Access-Control-Allow-Origin", origin)
	default:
		return false
	}
	hdr.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Retry-After, Accept-Patch")
	return true
}

// preflight answers CORS preflight requests.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if !s.corsHeaders(w, r) {
		httpError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
	hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	hdr.Set("Access-Control-Max-Age", "86400")
	if strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 1 {
		hdr.Set("Accept-Post", "application/sdp")
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveDevToken mints a dev token (publish and subscribe) when enabled.
func (s *Server) serveDevToken(w http.ResponseWriter, r *http.Request) {
	if !s.opts.Config.DevTokens || len(s.opts.Keys) == 0 {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	room, identity, ns := q.Get("room"), q.Get("identity"), q.Get("namespace")
	if ns == "" {
		ns = auth.DefaultNamespace
	}
	if !bus.ValidName(room) || !bus.ValidName(ns) || identity == "" || len(identity) > 256 {
		httpError(w, http.StatusBadRequest, "room and identity are required; room and namespace use 1-128 of A-Z a-z 0-9 _ -")
		return
	}
	key := firstKey(s.opts.Keys)
	tok, err := auth.Mint(auth.TokenOptions{Key: key, Secret: s.opts.Keys[key], Identity: identity, Name: q.Get("name"),
		Grant: auth.Grant{Namespace: ns, Room: room, Publish: true, Subscribe: true}})
	if err != nil {
		s.log.Warn("dev token", "err", err)
		httpError(w, http.StatusBadRequest, "no token could be minted for these parameters")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok, "room": room, "identity": identity, "namespace": ns})
}

// firstKey is the dev key when configured, else the smallest key.
func firstKey(keys map[string]string) string {
	if _, ok := keys[auth.DevKey]; ok {
		return auth.DevKey
	}
	ks := make([]string, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks[0]
}
