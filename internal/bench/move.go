package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/pkg/client"
)

// Moving participants: when the server ends a session because its node
// failed or drains (the client gets "closed"), the bench does what an SDK
// does: it joins again at once, in a new session that placement puts on
// a live node, and publishes or subscribes to the same things again.
// What the subscribers miss meanwhile is the media gap the report shows.

// keepPublisher rejoins publisher i each time the server moves it, until
// ctx ends.
func (r *run) keepPublisher(ctx context.Context, room, i int) {
	for {
		c := r.publisher(i)
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
		}
		if ctx.Err() != nil || !client.Moved(c) {
			return
		}
		start := time.Now()
		nc, err := r.publish(ctx, r.room(room), c.Self().Identity)
		if err != nil {
			r.o.Logger.Warn("publisher could not rejoin", "identity", c.Self().Identity, "err", err)
			return
		}
		r.mu.Lock()
		r.pubs[i] = nc
		r.closing = append(r.closing, c)
		r.moves++
		r.mu.Unlock()
		r.o.Logger.Info("publisher moved", "identity", c.Self().Identity, "reason", c.ClosedReason(), "took", time.Since(start))
	}
}

func (r *run) publisher(i int) *client.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pubs[i]
}

// publish joins room as identity and publishes the run's tracks.
func (r *run) publish(ctx context.Context, room, identity string) (*client.Client, error) {
	c, err := r.connect(ctx, room, identity)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	tracks, err := c.Publish(ctx, r.specs()...)
	if err == nil {
		err = c.WaitPublished(ctx, tracks...)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("publish: %w", err)
	}
	return c, nil
}

// keepSubscriber rejoins s each time the server moves it, until ctx ends,
// and subscribes it to its room's publishers again; when a publisher it
// receives moves (its tracks are unpublished and come back with new ids),
// it subscribes to the new tracks in the same session.
func (r *run) keepSubscriber(ctx context.Context, s *subscriber) {
	for {
		s.mu.Lock()
		c := s.c
		s.mu.Unlock()
		err := c.WaitUntil(ctx, func() bool { return s.lostTrack(c) })
		if ctx.Err() != nil {
			return
		}
		if err == nil && !ended(c) {
			if err := r.resubscribe(ctx, s, c); err != nil && ctx.Err() == nil && !ended(c) {
				r.o.Logger.Warn("subscriber could not follow its publisher", "identity", c.Self().Identity, "err", err)
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
		}
		if !client.Moved(c) {
			return
		}
		start := time.Now()
		nc, tracks, err := r.subscribeAll(ctx, s.room, c.Self().Identity)
		if err != nil {
			r.o.Logger.Warn("subscriber could not rejoin", "identity", c.Self().Identity, "err", err)
			return
		}
		s.mu.Lock()
		s.retired = append(s.retired, s.tracks...)
		s.c, s.tracks, s.moved = nc, tracks, true
		s.mu.Unlock()
		r.mu.Lock()
		r.closing = append(r.closing, c)
		r.moves++
		r.mu.Unlock()
		r.o.Logger.Info("subscriber moved", "identity", c.Self().Identity, "reason", c.ClosedReason(), "took", time.Since(start))
	}
}

// ended reports whether c's connection is over.
func ended(c *client.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// lostTrack reports whether a track s receives through c is no longer
// published in the room.
func (s *subscriber) lostTrack(c *client.Client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != c {
		return false
	}
	published := map[string]bool{}
	for _, t := range c.Tracks() {
		published[t.ID] = true
	}
	for _, t := range s.tracks {
		if !published[t.TrackID()] {
			return true
		}
	}
	return false
}

// resubscribe subscribes s, in its current session, to the tracks of its
// room's publishers once they are all published again.
func (r *run) resubscribe(ctx context.Context, s *subscriber, c *client.Client) error {
	want := r.o.Publishers * r.tracksPerPublisher()
	infos, err := c.WaitTracks(ctx, want, nil)
	if err != nil {
		return fmt.Errorf("wait for %d tracks: %w", want, err)
	}
	s.mu.Lock()
	have := map[string]bool{}
	for _, t := range s.tracks {
		have[t.TrackID()] = true
	}
	s.mu.Unlock()
	var specs []client.SubscribeSpec
	for _, t := range infos {
		if !have[t.ID] {
			specs = append(specs, client.SubscribeSpec{TrackID: t.ID})
		}
	}
	tracks, err := c.SubscribeMany(ctx, specs...)
	if err != nil {
		return err
	}
	published := map[string]bool{}
	for _, t := range infos {
		published[t.ID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var kept []*client.RemoteTrack
	for _, t := range s.tracks {
		if published[t.TrackID()] {
			kept = append(kept, t)
		} else {
			s.retired = append(s.retired, t)
		}
	}
	s.tracks = append(kept, tracks...)
	return nil
}

// subscribeAll joins room as identity and subscribes to every track of
// the room's publishers, once they are all there. A track unpublished
// meanwhile (its publisher moves too) is refused; it tries again with the
// tracks published then.
func (r *run) subscribeAll(ctx context.Context, room int, identity string) (*client.Client, []*client.RemoteTrack, error) {
	c, err := r.connect(ctx, r.room(room), identity)
	if err != nil {
		return nil, nil, err
	}
	want := r.o.Publishers * r.tracksPerPublisher()
	for attempt := 0; ; attempt++ {
		infos, err := c.WaitTracks(ctx, want, func(t bus.TrackInfo) bool { return true })
		if err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("wait for %d tracks: %w", want, err)
		}
		specs := make([]client.SubscribeSpec, len(infos))
		for j, t := range infos {
			specs[j] = client.SubscribeSpec{TrackID: t.ID}
		}
		tracks, err := c.SubscribeMany(ctx, specs...)
		if err == nil {
			return c, tracks, nil
		}
		if attempt == 20 || ended(c) {
			c.Close()
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			c.Close()
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
