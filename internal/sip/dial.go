package sip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// answerTimeout bounds how long an outbound call rings.
const answerTimeout = 30 * time.Second

// Dial calls req.To and, once it answers, joins the callee to the room.
// It returns when the call is answered (or refused).
func (s *Server) Dial(ctx context.Context, req bus.SIPCallRequest) (bus.SIPCall, error) {
	var uri siplib.Uri
	if !bus.ValidName(req.Namespace) || !bus.ValidName(req.Room) {
		return bus.SIPCall{}, fmt.Errorf("%w: namespace and room: 1-128 characters of A-Z a-z 0-9 _ -", ErrBadRequest)
	}
	if err := siplib.ParseUri(req.To, &uri); err != nil || uri.Host == "" || !strings.HasPrefix(strings.ToLower(req.To), "sip:") {
		return bus.SIPCall{}, fmt.Errorf("%w: to %q: want sip:user@host[:port]", ErrBadRequest, req.To)
	}
	rtpC, rtcpC, port, err := s.ports.alloc()
	if err != nil {
		return bus.SIPCall{}, err
	}
	release := func() {
		_ = rtpC.Close()
		_ = rtcpC.Close()
		s.ports.release(port)
	}
	remote := s.host
	if a, err := resolveHost(uri.Host); err == nil {
		remote = a
	}
	offer := offerSDP(s.mediaIP(remote), port, uint64(time.Now().Unix()))
	ictx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	sess, err := s.out.Invite(ictx, uri, offer, siplib.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		release()
		return bus.SIPCall{}, fmt.Errorf("INVITE %s: %w", req.To, err)
	}
	if err := sess.WaitAnswer(ictx, sipgo.AnswerOptions{}); err != nil {
		release()
		_ = sess.Close()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return bus.SIPCall{}, fmt.Errorf("%w: %s answered %d %s", ErrDeclined, req.To, de.Res.StatusCode, de.Res.Reason)
		}
		return bus.SIPCall{}, fmt.Errorf("%w: %v", ErrDeclined, err)
	}
	if err := sess.Ack(ictx); err != nil {
		release()
		_ = sess.Close()
		return bus.SIPCall{}, fmt.Errorf("ACK: %w", err)
	}
	rm, err := parseSDP(sess.InviteResponse.Body())
	if err != nil {
		release()
		bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = sess.Bye(bctx)
		bcancel()
		return bus.SIPCall{}, err
	}
	identity := req.Identity
	if identity == "" {
		identity = callerIdentity(uri.User)
	}
	info := bus.SIPCall{CallID: callIDOf(sess.InviteRequest), Namespace: req.Namespace, Room: req.Room, Identity: identity,
		To: req.To, Direction: "outbound", Codec: rm.codec.Name}
	c := newCall(s, info, route{namespace: req.Namespace, room: req.Room}, rm, mediaConns{rtp: rtpC, rtcp: rtcpC, port: port},
		s.log.With("call_id", info.CallID, "to", req.To))
	c.name = uri.User
	c.ended = sess.Context().Done()
	c.bye = sess.Bye
	if !s.start(c) {
		release()
		return bus.SIPCall{}, errors.New("the gateway is stopping")
	}
	c.log.Info("outbound SIP call answered", "identity", identity)
	return info, nil
}

func callIDOf(req *siplib.Request) string {
	if req == nil {
		return ""
	}
	return callID(req)
}

// serveDial answers bus.SIPDial requests, each on its own goroutine
// owned by the server, until ctx ends.
func (s *Server) serveDial(ctx context.Context, b *bus.Client) (*nats.Subscription, error) {
	return b.Conn().QueueSubscribe(bus.SIPDial, bus.SIPQueue, func(m *nats.Msg) {
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			var req bus.SIPCallRequest
			var resp any
			err := json.Unmarshal(m.Data, &req)
			if err == nil {
				resp, err = s.Dial(ctx, req)
			} else {
				err = fmt.Errorf("%w: %v", ErrBadRequest, err)
			}
			if err != nil {
				s.log.Warn("outbound SIP call failed", "to", req.To, "err", err)
				resp = bus.Reply{Error: busError(err)}
			}
			data, _ := json.Marshal(resp)
			_ = m.Respond(data)
		}()
	})
}

func busError(err error) *bus.Error {
	code := bus.CodeInternal
	switch {
	case errors.Is(err, ErrBadRequest):
		code = bus.CodeBadRequest
	case errors.Is(err, ErrDeclined):
		code = "declined"
	case errors.Is(err, ErrNoPorts):
		code = bus.CodeUnavailable
	}
	return &bus.Error{Code: code, Message: err.Error()}
}

// resolveHost returns the address of a SIP URI's host.
func resolveHost(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return a, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return a.Unmap(), nil
}
