// Package client is a Go client of rtcloud: it joins rooms over the
// WebSocket room protocol (docs/protocol.md) or publishes and watches with
// WHIP/WHEP, using one Pion PeerConnection per session. It publishes
// synthetic VP8, H.264 and Opus tracks (optionally VP8/H.264 simulcast)
// whose packets carry a layer, a counter and a send timestamp, and counts
// what it receives: packets, bytes, sequence gaps, frames, keyframes,
// layers and latency. Tests and the load generator are built on it.
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Options configure a Client.
type Options struct {
	Name     string
	Metadata string
	// SessionID resumes an existing session.
	SessionID string
	Media     MediaOptions
	// EventBuffer is the capacity of the Events channel (default 1024);
	// when it is full, events are dropped and counted.
	EventBuffer int
	// KeepAlive is the interval of protocol pings (default 10s; negative
	// disables them).
	KeepAlive time.Duration
	// RequestTimeout bounds each request without a context deadline
	// (default 10s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Client is one participant session joined to a room over WebSocket.
type Client struct {
	opts Options
	log  *slog.Logger
	ws   *websocket.Conn
	peer *peer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the read loop ends
	err    atomic.Pointer[error]
	reason atomic.Pointer[string]

	nextID  atomic.Uint64
	pendMu  sync.Mutex
	pending map[string]chan protocol.Message

	negMu     sync.Mutex // one negotiation at a time
	trackSeq  int        // guarded by negMu
	events    chan Event
	dropped   atomic.Uint64
	room      roomState
	self      bus.Participant
	pub       published
	roomName  protocol.Room
	closeOnce sync.Once
}

// Connect dials wsURL (ws://host/ws), joins with token and returns once
// the server answered "joined".
func Connect(ctx context.Context, wsURL, token string, o Options) (*Client, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Media.Logger == nil {
		o.Media.Logger = o.Logger
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	ws.SetReadLimit(protocol.MaxMessageBytes * 2)
	p, err := newPeer(o.Media)
	if err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{opts: o, log: o.Logger.With("component", "client"), ws: ws, peer: p, ctx: cctx, cancel: cancel,
		done: make(chan struct{}), pending: map[string]chan protocol.Message{},
		events: make(chan Event, o.EventBuffer)}
	c.room.init()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.readLoop()
	}()
	reply, err := c.request(ctx, protocol.Message{Type: protocol.TypeJoin, Token: token, Name: o.Name,
		Metadata: o.Metadata, SessionID: o.SessionID})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("join: %w", err)
	}
	if reply.Type != protocol.TypeJoined || reply.Self == nil {
		c.Close()
		return nil, fmt.Errorf("join: %w: %q", ErrUnexpected, reply.Type)
	}
	c.self = *reply.Self
	if reply.Room != nil {
		c.roomName = *reply.Room
	}
	c.room.reset(reply.Participants)
	if o.KeepAlive > 0 {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.keepAlive()
		}()
	}
	return c, nil
}

// Self is this session's participant.
func (c *Client) Self() bus.Participant { return c.self }

// SessionID is this session's id.
func (c *Client) SessionID() string { return c.self.SessionID }

// Room is the joined room.
func (c *Client) Room() protocol.Room { return c.roomName }

// Events delivers room and session events. It is closed when the
// connection ends.
func (c *Client) Events() <-chan Event { return c.events }

// DroppedEvents counts events dropped because Events was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// Done is closed when the WebSocket connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// Connected is closed once the PeerConnection is up.
func (c *Client) Connected() <-chan struct{} { return c.peer.Connected() }

// Err is why the connection ended (nil while it is up).
func (c *Client) Err() error {
	if e := c.err.Load(); e != nil {
		return *e
	}
	return nil
}

// ClosedReason is the reason of the server's "closed" message, if any.
func (c *Client) ClosedReason() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return ""
}

func (c *Client) send(ctx context.Context, m protocol.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// request sends m with a fresh id and waits for the reply with that id
// (an error reply becomes a *ServerError).
func (c *Client) request(ctx context.Context, m protocol.Message) (protocol.Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	m.ID = strconv.FormatUint(c.nextID.Add(1), 10)
	ch := make(chan protocol.Message, 2)
	c.pendMu.Lock()
	c.pending[m.ID] = ch
	c.pendMu.Unlock()
	defer func() {
		c.pendMu.Lock()
		delete(c.pending, m.ID)
		c.pendMu.Unlock()
	}()
	if err := c.send(ctx, m); err != nil {
		return protocol.Message{}, fmt.Errorf("send %s: %w", m.Type, err)
	}
	select {
	case r := <-ch:
		if r.Type == protocol.TypeError {
			return r, serverError(r.Error)
		}
		return r, nil
	case <-c.done:
		select { // the reply may have come just before the close
		case r := <-ch:
			if r.Type == protocol.TypeError {
				return r, serverError(r.Error)
			}
			return r, nil
		default:
		}
		return protocol.Message{}, fmt.Errorf("%s: %w (%v)", m.Type, ErrClosed, c.Err())
	case <-ctx.Done():
		return protocol.Message{}, fmt.Errorf("%s: %w", m.Type, ctx.Err())
	}
}

func (c *Client) keepAlive() {
	t := time.NewTicker(c.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
			if _, err := c.Ping(c.ctx); err != nil && c.ctx.Err() == nil {
				c.log.Debug("keep-alive ping failed", "err", err)
			}
		}
	}
}

// Ping sends a protocol ping and returns the round-trip time.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := c.request(ctx, protocol.Message{Type: protocol.TypePing})
	return time.Since(start), err
}

// SendData sends an application message to the listed identities (all
// when none).
func (c *Client) SendData(ctx context.Context, payload []byte, to ...string) error {
	return c.send(ctx, protocol.Message{Type: protocol.TypeData, Payload: payload, To: to})
}

// Leave ends the session and waits for the server to close the
// connection, then closes the client.
func (c *Client) Leave(ctx context.Context) error {
	err := c.send(ctx, protocol.Message{Type: protocol.TypeLeave})
	if err == nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	c.Close()
	return err
}

// Close closes the WebSocket (without "leave": the server ends the session
// since its media stops), the PeerConnection, and waits for every
// goroutine of the client.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		_ = c.ws.CloseNow()
		_ = c.peer.close()
		c.wg.Wait()
	})
}

func (c *Client) setErr(err error) {
	if err != nil {
		c.err.CompareAndSwap(nil, &err)
	}
}
