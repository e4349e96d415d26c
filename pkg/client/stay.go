package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Reasons of a server's "closed" that ask the client to move: its node
// failed, or an operator drained it with migration. The session is gone;
// joining again puts the participant on a live node.
const (
	ReasonNodeFailed   = "node failed"
	ReasonNodeDraining = "node draining"
)

// Moved reports whether the server ended c's session to move it to
// another node (ReasonNodeFailed or ReasonNodeDraining).
func Moved(c *Client) bool {
	r := c.ClosedReason()
	return r == ReasonNodeFailed || r == ReasonNodeDraining
}

// StayOptions configure Stay.
type StayOptions struct {
	// Options of every Connect.
	Options
	// OnJoin runs after each join, the first and every one after a move:
	// it publishes and subscribes what the participant needs (tracks get
	// new ids after a move; subscribe by identity and kind, not by a
	// remembered track id). An error from it ends Stay.
	OnJoin func(ctx context.Context, c *Client) error
	// OnMove, when set, is told when the server moved the participant,
	// before it joins again.
	OnMove func(reason string)
	// RetryFor bounds the retries of one join while no node can take the
	// participant (default 30 s).
	RetryFor time.Duration
}

// Stay keeps a participant in its room until ctx ends: it joins, runs
// OnJoin, and each time the server moves the session (node failed or
// draining) joins again at once in a new session and runs OnJoin again, as
// the browser SDK does by itself. It returns nil when ctx ends (after
// leaving the room), and an error when a join fails for good or the
// session ends for any other reason (kicked, the room closed, the token
// expired).
func Stay(ctx context.Context, wsURL, token string, o StayOptions) error {
	if o.RetryFor <= 0 {
		o.RetryFor = 30 * time.Second
	}
	for {
		c, err := connectRetrying(ctx, wsURL, token, o.Options, o.RetryFor)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if o.OnJoin != nil {
			if err := o.OnJoin(ctx, c); err != nil {
				c.Close()
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("stay: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.Leave(lctx)
			cancel()
			return nil
		case <-c.Done():
		}
		if !Moved(c) {
			c.Close()
			return fmt.Errorf("stay: session ended: %q: %w", c.ClosedReason(), errors.Join(c.Err(), ErrClosed))
		}
		if o.OnMove != nil {
			o.OnMove(c.ClosedReason())
		}
		c.Close()
	}
}

// connectRetrying connects, retrying for up to d while the server has no
// node for the participant (CodeUnavailable) or cannot be reached.
func connectRetrying(ctx context.Context, wsURL, token string, o Options, d time.Duration) (*Client, error) {
	deadline := time.Now().Add(d)
	wait := 50 * time.Millisecond
	for {
		c, err := Connect(ctx, wsURL, token, o)
		if err == nil {
			return c, nil
		}
		var se *ServerError
		if (errors.As(err, &se) && !IsCode(err, CodeUnavailable)) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
