package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// subscriber is one receiving participant and when it started joining.
type subscriber struct {
	c          *client.Client
	start      time.Time // before its token was minted
	joined     time.Time // in the room, its PeerConnection negotiated
	subscribed time.Time // the node answered its subscriptions

	room int

	mu      sync.Mutex
	tracks  []*client.RemoteTrack // the current subscriptions
	retired []*client.RemoteTrack // subscriptions of sessions it moved away from
	moved   bool                  // the server moved it to another node
}

// wasMoved reports whether the server moved the subscriber.
func (s *subscriber) wasMoved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moved
}

// currentTracks returns the subscriber's current subscriptions.
func (s *subscriber) currentTracks() []*client.RemoteTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*client.RemoteTrack(nil), s.tracks...)
}

// allTracks returns every subscription the subscriber ever had, in every
// session (for counters that must not go back when it moves).
func (s *subscriber) allTracks() []*client.RemoteTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(append([]*client.RemoteTrack(nil), s.retired...), s.tracks...)
}

// client is the subscriber's current client.
func (s *subscriber) client() *client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// firstFrame is when the subscriber got its first packet (video when it
// receives video), zero before any.
func (s *subscriber) firstFrame() time.Time {
	var first time.Time
	tracks := s.currentTracks()
	for _, t := range tracks {
		st := t.Stats()
		if st.First.IsZero() || (t.Kind() != bus.KindVideo && hasVideo(tracks)) {
			continue
		}
		if first.IsZero() || st.First.Before(first) {
			first = st.First
		}
	}
	return first
}

func hasVideo(ts []*client.RemoteTrack) bool {
	for _, t := range ts {
		if t.Kind() == bus.KindVideo {
			return true
		}
	}
	return false
}

func (r *run) token(room, identity string) (string, error) {
	return auth.Mint(auth.TokenOptions{Key: r.o.Key, Secret: r.o.Secret, Identity: identity,
		Grant: auth.Grant{Namespace: r.o.Namespace, Room: room, Publish: true, Subscribe: true}})
}

func (r *run) room(i int) string { return r.o.RoomPrefix + "-" + strconv.Itoa(i) }

// tracksPerPublisher is how many tracks each publisher sends.
func (r *run) tracksPerPublisher() int {
	if r.o.AudioOnly {
		return 1
	}
	return 2
}

// specs are the tracks of one publisher: video at the requested bitrate
// (three layers with simulcast) and Opus-sized audio, 50 packets/s.
func (r *run) specs() []client.TrackSpec {
	audio := client.TrackSpec{Codec: client.CodecOpus}
	if r.o.AudioOnly {
		return []client.TrackSpec{audio}
	}
	k := r.o.VideoKbps
	video := client.TrackSpec{Codec: r.o.Codec, KbpsPerLayer: []int{k}, PacketPayload: 1100}
	if r.o.Simulcast {
		video.Simulcast = true
		video.KbpsPerLayer = []int{max(k*15/100, 10), max(k/2, 10), k}
	}
	return []client.TrackSpec{video, audio}
}

// connect joins room as identity, retrying while the server says it is
// not ready yet.
func (r *run) connect(ctx context.Context, room, identity string) (*client.Client, error) {
	return r.connectVia(ctx, r.ws, nil, room, identity)
}

// connectVia is connect through the WebSocket URL ws with headers h.
func (r *run) connectVia(ctx context.Context, ws string, h http.Header, room, identity string) (*client.Client, error) {
	for {
		tok, err := r.token(room, identity)
		if err != nil {
			return nil, err
		}
		c, err := client.Connect(ctx, ws, tok, client.Options{Name: identity, Media: r.media, Logger: r.o.Logger, Header: h})
		if err == nil || !client.IsCode(err, protocol.CodeUnavailable) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startPublishers joins every publisher and waits until its tracks are
// published.
func (r *run) startPublishers(ctx context.Context) error {
	for room := range r.o.Rooms {
		for p := range r.o.Publishers {
			c, err := r.publish(ctx, r.room(room), fmt.Sprintf("pub-%d-%d", room, p))
			if err != nil {
				return fmt.Errorf("%w: %w", ErrPublish, err)
			}
			r.mu.Lock()
			r.pubs = append(r.pubs, c)
			i := len(r.pubs) - 1
			r.mu.Unlock()
			r.keep(func(ctx context.Context) { r.keepPublisher(ctx, room, i) })
		}
	}
	return nil
}

// joinAll starts the subscribers at the join rate, round-robin over the
// rooms, and waits for every join to finish or fail.
func (r *run) joinAll(ctx context.Context) {
	total := r.o.Rooms * r.o.Subscribers
	interval := time.Duration(float64(time.Second) / r.o.JoinRate)
	var wg sync.WaitGroup
	next := time.Now()
	for i := range total {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		next = next.Add(interval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.joinOne(ctx, i%r.o.Rooms, i)
		}()
	}
	wg.Wait()
}

// joinOne joins one subscriber and subscribes it to every track of its
// room.
func (r *run) joinOne(ctx context.Context, room, i int) {
	s := &subscriber{start: time.Now(), room: room}
	err := func() error {
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ws, h := r.o.subscriberDial(i, r.ws)
		c, err := r.connectVia(jctx, ws, h, r.room(room), fmt.Sprintf("sub-%d", i))
		if err != nil {
			return err
		}
		s.c, s.joined = c, time.Now()
		want := r.o.Publishers * r.tracksPerPublisher()
		infos, err := c.WaitTracks(jctx, want, nil)
		if err != nil {
			return fmt.Errorf("wait for %d tracks: %w", want, err)
		}
		specs := make([]client.SubscribeSpec, len(infos))
		for j, t := range infos {
			specs[j] = client.SubscribeSpec{TrackID: t.ID}
		}
		tracks, err := c.SubscribeMany(jctx, specs...)
		s.mu.Lock()
		s.tracks = tracks
		s.mu.Unlock()
		s.subscribed = time.Now()
		return err
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		if len(r.errors) < 5 {
			r.errors = append(r.errors, err.Error())
		}
		if s.c != nil {
			r.closing = append(r.closing, s.c)
		}
		return
	}
	r.subs = append(r.subs, s)
	r.keep(func(ctx context.Context) { r.keepSubscriber(ctx, s) })
}
