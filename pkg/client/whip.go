package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// HTTPSession is a WHIP publisher or a WHEP viewer: one PeerConnection
// negotiated with one HTTP request, ended with DELETE.
type HTTPSession struct {
	peer     *peer
	token    string
	location string
	http     *http.Client
	tracks   []*LocalTrack
}

// PublishWHIP publishes the tracks to a WHIP endpoint (POST
// http://host/whip/{room}) and starts the synthetic generators.
func PublishWHIP(ctx context.Context, endpoint, token string, o MediaOptions, specs ...TrackSpec) (*HTTPSession, error) {
	p, err := newPeer(o)
	if err != nil {
		return nil, err
	}
	s := &HTTPSession{peer: p, token: token, http: &http.Client{Timeout: 15 * time.Second}}
	n := 0
	if s.tracks, err = p.addSendTracks(specs, "whip-", &n); err != nil {
		_ = p.close()
		return nil, err
	}
	offer, err := p.offer(false)
	if err == nil {
		err = s.exchange(ctx, endpoint, offer, false)
	}
	if err != nil {
		_ = p.close()
		return nil, err
	}
	for _, t := range s.tracks {
		p.startTrack(t)
	}
	return s, nil
}

// WatchWHEP watches a publisher through a WHEP endpoint (POST
// http://host/whep/{room}[/{identity}]) with one recvonly video and one
// recvonly audio transceiver. While nothing is published (409) it retries
// after the server's Retry-After until ctx ends.
func WatchWHEP(ctx context.Context, endpoint, token string, o MediaOptions) (*HTTPSession, error) {
	p, err := newPeer(o)
	if err != nil {
		return nil, err
	}
	s := &HTTPSession{peer: p, token: token, http: &http.Client{Timeout: 15 * time.Second}}
	var trs []*webrtc.RTPTransceiver
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		tr, err := p.addRecv(k)
		if err != nil {
			_ = p.close()
			return nil, fmt.Errorf("add transceiver: %w", err)
		}
		trs = append(trs, tr)
	}
	offer, err := p.offer(false)
	if err != nil {
		_ = p.close()
		return nil, err
	}
	for _, tr := range trs {
		p.setSlotTrack(newRemoteTrack(tr.Mid(), "", tr.Kind().String()))
	}
	if err := s.exchange(ctx, endpoint, offer, true); err != nil {
		_ = p.close()
		return nil, err
	}
	return s, nil
}

// exchange POSTs the offer and applies the answer.
func (s *HTTPSession) exchange(ctx context.Context, endpoint, offer string, retryConflict bool) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewBufferString(offer))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := s.http.Do(req)
		if err != nil {
			return fmt.Errorf("POST %s: %w", endpoint, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusConflict && retryConflict {
			wait := time.Second
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
				wait = time.Duration(n) * time.Second
			}
			select {
			case <-time.After(min(wait, time.Second)):
				continue
			case <-ctx.Done():
				return fmt.Errorf("POST %s: %w: 409 until %w", endpoint, ErrHTTPStatus, ctx.Err())
			}
		}
		if resp.StatusCode != http.StatusCreated {
			return &StatusError{Code: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
		}
		loc, err := url.Parse(endpoint)
		if err != nil {
			return err
		}
		rel, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			return fmt.Errorf("bad Location: %w", err)
		}
		s.location = loc.ResolveReference(rel).String()
		return s.peer.answer(string(body))
	}
}

// StatusError is an unexpected HTTP status from a WHIP/WHEP endpoint.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// Unwrap makes errors.Is(err, ErrHTTPStatus) hold.
func (e *StatusError) Unwrap() error { return ErrHTTPStatus }

// Location is the session's resource URL.
func (s *HTTPSession) Location() string { return s.location }

// Connected is closed once media flows.
func (s *HTTPSession) Connected() <-chan struct{} { return s.peer.Connected() }

// LocalTracks lists a WHIP publisher's tracks.
func (s *HTTPSession) LocalTracks() []*LocalTrack { return s.tracks }

// RemoteTracks lists a WHEP viewer's received tracks.
func (s *HTTPSession) RemoteTracks() []*RemoteTrack { return s.peer.remoteTracks() }

// RemoteTrack returns the viewer's track of kind ("audio" or "video").
func (s *HTTPSession) RemoteTrack(kind string) *RemoteTrack {
	for _, t := range s.peer.remoteTracks() {
		if t.kind == kind {
			return t
		}
	}
	return nil
}

// Close DELETEs the resource (best effort) and closes the PeerConnection.
func (s *HTTPSession) Close(ctx context.Context) error {
	var err error
	if s.location != "" {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodDelete, s.location, nil)
		if rerr == nil {
			req.Header.Set("Authorization", "Bearer "+s.token)
			resp, derr := s.http.Do(req)
			if derr != nil {
				err = derr
			} else {
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
					err = &StatusError{Code: resp.StatusCode}
				}
			}
		}
	}
	s.http.CloseIdleConnections()
	if cerr := s.peer.close(); err == nil {
		err = cerr
	}
	return err
}
