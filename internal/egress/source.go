package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// source is the worker's hidden participant in a room: a Go client
// session (WebSocket signaling, a Pion PeerConnection) that subscribes to
// tracks and hands their raw RTP to the egress. See
// docs/adr/0004-egress-media-path.md.
type source struct {
	c   *client.Client
	log *slog.Logger
	url string

	stop     chan struct{}
	lost     chan struct{} // closed when the session is gone for good
	lostErr  error         // why, once lost is closed
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// sourceOptions say how to join.
type sourceOptions struct {
	SignalURL   string
	Key, Secret string
	Namespace   string
	Room        string
	EgressID    string
	Logger      *slog.Logger
	// Media, for tests (loopback-only ICE).
	Media client.MediaOptions
}

func joinSource(ctx context.Context, o sourceOptions) (*source, error) {
	tok, err := auth.Mint(auth.TokenOptions{Key: o.Key, Secret: o.Secret, Identity: "egress-" + o.EgressID, Name: "egress",
		Grant: auth.Grant{Namespace: o.Namespace, Room: o.Room, Subscribe: true, Hidden: true}, TTL: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	m := o.Media
	m.Logger = o.Logger
	c, err := client.Connect(ctx, o.SignalURL, tok, client.Options{Name: "egress", Media: m, Logger: o.Logger, EventBuffer: 4096})
	if err != nil {
		return nil, fmt.Errorf("join room %s/%s: %w", o.Namespace, o.Room, err)
	}
	s := &source{c: c, log: o.Logger, url: o.SignalURL, stop: make(chan struct{}), lost: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.keep()
	}()
	return s, nil
}

func (s *source) close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.c.Close()
	s.wg.Wait()
}

// keep reattaches the session through the signaling server each time its
// WebSocket drops (the media goes on meanwhile); when the server no
// longer has the session, the source is lost.
func (s *source) keep() {
	for {
		select {
		case <-s.stop:
			return
		case <-s.c.Done():
		}
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.c.Reconnect(ctx, s.url)
			cancel()
			if err == nil {
				s.log.Info("recorder signaling reconnected")
				break
			}
			var se *client.ServerError
			if errors.Is(err, client.ErrSessionLost) || errors.Is(err, client.ErrClosed) || errors.As(err, &se) {
				s.lostErr = fmt.Errorf("recorder session lost: %w", err)
				close(s.lost)
				return
			}
			s.log.Debug("recorder signaling reconnect", "err", err)
		}
	}
}

// packet is one received RTP packet, copied into a buffer of the feed's
// pool; release gives it back.
type packet struct {
	buf []byte
	bp  *[]byte // buf's pool entry
}

// feed is the bounded queue between a track's read goroutine and the
// egress goroutine that consumes it; when the consumer lags, packets are
// dropped (and counted) rather than stalling the reader.
type feed struct {
	ch      chan packet
	dropped atomic.Uint64
	pool    sync.Pool
}

func newFeed(n int) *feed {
	f := &feed{ch: make(chan packet, n)}
	f.pool.New = func() any { b := make([]byte, 1500); return &b }
	return f
}

func (f *feed) sink(b []byte) {
	bp := f.pool.Get().(*[]byte)
	*bp = append((*bp)[:0], b...)
	select {
	case f.ch <- packet{buf: *bp, bp: bp}:
	default:
		f.dropped.Add(1)
		f.pool.Put(bp)
	}
}

func (f *feed) release(p packet) { f.pool.Put(p.bp) }

// subscribe receives a track into a new feed.
func (s *source) subscribe(ctx context.Context, trackID string) (*client.RemoteTrack, *feed, error) {
	rt, err := s.c.Subscribe(ctx, trackID, bus.LayerHigh)
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe %s: %w", trackID, err)
	}
	f := newFeed(1024)
	rt.OnRTP(f.sink)
	return rt, f, nil
}

// track returns the room's track with id.
func (s *source) track(id string) (bus.TrackInfo, bool) {
	for _, t := range s.c.Tracks() {
		if t.ID == id {
			return t, true
		}
	}
	return bus.TrackInfo{}, false
}
