// Package ingress is the RTMP ingest gateway (`rtcloud ingress`): an
// encoder (OBS, ffmpeg, a hardware encoder) publishes to
// rtmp://HOST:1935/live with a room token or an ingress key as the stream
// key, and the stream joins the room as an ordinary participant through
// the signaling server. H.264 is repacketized to RTP as it is; AAC is
// transcoded to Opus by an ffmpeg subprocess. RTMP itself is read by
// gortmplib.
package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Options configure a Server.
type Options struct {
	Config config.Ingress
	// Verifier checks stream keys that are tokens.
	Verifier *auth.Verifier
	// SigningKey and SigningSecret sign the tokens of ingress keys.
	SigningKey, SigningSecret string
	// Keys are the ingress keys; nil accepts tokens only.
	Keys *Keys
	// Media configures the gateway's PeerConnections (tests restrict them
	// to loopback).
	Media  client.MediaOptions
	Logger *slog.Logger
}

// handshakeTimeout bounds the RTMP handshake, connect and publish
// commands and the stream's track headers; readTimeout, silence in a
// running stream.
const (
	handshakeTimeout = 10 * time.Second
	readTimeout      = 10 * time.Second
)

// Server accepts RTMP publishers.
type Server struct {
	opts Options
	log  *slog.Logger
	ln   net.Listener

	id string // names this gateway in the active-stream bucket

	mu     sync.Mutex // guards active and conns
	active map[string]struct{}
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Listen opens the RTMP port.
func Listen(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", o.Config.RTMPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", o.Config.RTMPAddr, err)
	}
	host, _ := os.Hostname()
	return &Server{opts: o, log: o.Logger.With("component", "ingress"), ln: ln, id: host + "/" + ln.Addr().String(),
		active: map[string]struct{}{}, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the RTMP listen address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the RTMP URL encoders use: the configured public URL, else one
// built from the listen address.
func (s *Server) URL() string {
	if s.opts.Config.PublicURL != "" {
		return s.opts.Config.PublicURL
	}
	host, port, _ := net.SplitHostPort(s.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "rtmp://" + net.JoinHostPort(host, port) + "/live"
}

// Run serves publishers until ctx ends, then closes every stream (each
// participant leaves its room) and returns.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("RTMP ingest listening", "addr", s.ln.Addr().String(), "url", s.URL())
	stop := context.AfterFunc(ctx, func() { _ = s.ln.Close() })
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = s.ln.Accept()
		if err != nil {
			break
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(ctx, c)
		}()
	}
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Active returns the number of streams being ingested.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

func (s *Server) serve(ctx context.Context, c net.Conn) {
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	log := s.log.With("remote", c.RemoteAddr().String())
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	sc := &gortmplib.ServerConn{RW: c}
	if err := sc.Initialize(); err != nil {
		log.Info("RTMP handshake failed", "err", err)
		return
	}
	if err := sc.Accept(); err != nil {
		log.Info("RTMP connect failed", "err", err)
		return
	}
	if !sc.Publish {
		refuse(sc, log, ErrPlay)
		return
	}
	t, err := s.resolve(ctx, sc.URL.Path)
	if err != nil {
		refuse(sc, log, err)
		return
	}
	log = log.With("namespace", t.namespace, "room", t.room, "identity", t.identity)
	if err := s.claim(t.claimKey); err != nil {
		refuse(sc, log, err)
		return
	}
	defer s.release(t.claimKey)
	if s.opts.Keys != nil {
		release, err := s.opts.Keys.claim(ctx, t.claimKey, s.id)
		if err != nil {
			refuse(sc, log, err)
			return
		}
		defer release()
	}
	if t.ingressKey && s.opts.Keys != nil {
		// Revoking the key (DELETE /v1/ingress/{key}) ends the stream.
		stop, err := s.opts.Keys.watchRevoked(ctx, t.claimKey, func() {
			log.Info("ingress key revoked: closing the stream")
			_ = c.Close()
		})
		if err == nil {
			defer stop()
		}
	}
	err = s.ingest(ctx, sc, c, t, log)
	switch {
	case ctx.Err() != nil:
		log.Info("RTMP stream closed: the gateway is stopping")
	case errors.Is(err, ErrUnsupported):
		refuse(sc, log, err)
	case err != nil:
		log.Info("RTMP stream ended", "reason", err)
	}
}

// refuse logs why a publisher is refused and tells the encoder with an
// onStatus error before the connection closes.
func refuse(sc *gortmplib.ServerConn, log *slog.Logger, err error) {
	log.Warn("RTMP publisher refused", "err", err)
	code := "NetStream.Publish.Rejected"
	if errors.Is(err, ErrBadKey) || errors.Is(err, ErrNoPublish) || errors.Is(err, ErrBadApp) {
		code = "NetStream.Publish.BadName"
	}
	_ = sc.Write(&message.CommandAMF0{ChunkStreamID: 5, MessageStreamID: 0x1000000, Name: "onStatus",
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: "error"}, {Key: "code", Value: code}, {Key: "description", Value: err.Error()},
		}}})
}

// target is where a stream key leads.
type target struct {
	namespace, room, identity, name string
	token                           string
	claimKey                        string
	ingressKey                      bool // claimKey is an ingress key
}

// resolve turns the URL path /live/KEY into a target.
func (s *Server) resolve(ctx context.Context, path string) (target, error) {
	app, key, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || app != "live" {
		return target{}, ErrBadApp
	}
	if key == "" {
		return target{}, fmt.Errorf("%w: empty", ErrBadKey)
	}
	if strings.HasPrefix(key, keyPrefix) {
		if s.opts.Keys == nil {
			return target{}, fmt.Errorf("%w: ingress keys are not enabled", ErrBadKey)
		}
		info, err := s.opts.Keys.Get(ctx, key)
		if err != nil {
			return target{}, fmt.Errorf("%w: %w", ErrBadKey, err)
		}
		tok, err := auth.Mint(auth.TokenOptions{Key: s.opts.SigningKey, Secret: s.opts.SigningSecret, Identity: info.Identity,
			Name: info.Name, Grant: auth.Grant{Namespace: info.Namespace, Room: info.Room, Publish: true}})
		if err != nil {
			return target{}, err
		}
		return target{namespace: info.Namespace, room: info.Room, identity: info.Identity, name: info.Name,
			token: tok, claimKey: key, ingressKey: true}, nil
	}
	claims, err := s.opts.Verifier.Verify(key)
	if err != nil {
		return target{}, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	if !claims.Grant.Publish {
		return target{}, ErrNoPublish
	}
	g := claims.Grant
	return target{namespace: g.Namespace, room: g.Room, identity: claims.Identity(), name: claims.Name, token: key,
		claimKey: g.Namespace + "/" + g.Room + "/" + claims.Identity()}, nil
}

func (s *Server) claim(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[key]; ok {
		return ErrKeyInUse
	}
	s.active[key] = struct{}{}
	return nil
}

func (s *Server) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, key)
}
