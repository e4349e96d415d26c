package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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
	// Header is sent with the WebSocket handshake (for example the
	// X-Forwarded-For a trusted proxy would set, in load tests).
	Header http.Header
	Logger *slog.Logger
}

func (o Options) dialOptions() *websocket.DialOptions {
	if len(o.Header) == 0 {
		return nil
	}
	return &websocket.DialOptions{HTTPHeader: o.Header}
}

// Client is one participant session joined to a room over WebSocket.
//
// The session outlives its WebSocket: when the connection drops (Done is
// closed) while the PeerConnection is up, Reconnect attaches the same
// session, with its PeerConnection, published tracks and subscriptions,
// through any signaling server. Done, Events, Err and ClosedReason belong
// to the current connection; after a successful Reconnect they return the
// new connection's values (call them again).
type Client struct {
	opts  Options
	log   *slog.Logger
	token string
	peer  *peer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex // guards cur and closed
	cur    *wsConn    // never nil after Connect
	closed bool
	recMu  sync.Mutex // one Reconnect at a time

	nextID  atomic.Uint64
	pendMu  sync.Mutex
	pending map[string]chan protocol.Message

	negMu     sync.Mutex // one negotiation at a time
	trackSeq  int        // guarded by negMu
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
	ws, _, err := websocket.Dial(ctx, wsURL, o.dialOptions())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	p, err := newPeer(o.Media)
	if err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{opts: o, log: o.Logger.With("component", "client"), token: token, peer: p, ctx: cctx, cancel: cancel,
		pending: map[string]chan protocol.Message{}}
	c.room.init()
	c.attach(newWSConn(ws, o.EventBuffer, ""))
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
func (c *Client) Self() Participant { return c.self }

// SessionID is this session's id.
func (c *Client) SessionID() string { return c.self.SessionID }

// Room is the joined room.
func (c *Client) Room() RoomName { return c.roomName }

// Events delivers the room and session events of the current connection.
// It is closed when that connection ends; events still buffered in it are
// carried over to the channel of the connection Reconnect makes.
func (c *Client) Events() <-chan Event { return c.conn().events }

// DroppedEvents counts events dropped because Events was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// Done is closed when the current WebSocket connection ends. The session
// and its media may live on: see Reconnect.
func (c *Client) Done() <-chan struct{} { return c.conn().done }

// Connected is closed once the PeerConnection is up.
func (c *Client) Connected() <-chan struct{} { return c.peer.Connected() }

// ConnectedAt is when the media connection (ICE and DTLS) first came up;
// zero before.
func (c *Client) ConnectedAt() time.Time {
	if ns := c.peer.connectedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Err is why the current connection ended (nil while it is up).
func (c *Client) Err() error {
	if e := c.conn().err.Load(); e != nil {
		return *e
	}
	return nil
}

// ClosedReason is the reason of the server's "closed" message on the
// current connection, if any.
func (c *Client) ClosedReason() string {
	if r := c.conn().reason.Load(); r != nil {
		return *r
	}
	return ""
}

func (c *Client) send(ctx context.Context, m protocol.Message) error {
	return c.conn().send(ctx, m)
}

// request sends m with a fresh id and waits for the reply with that id
// (an error reply becomes a *ServerError).
func (c *Client) request(ctx context.Context, m protocol.Message) (protocol.Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	cn := c.conn()
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
	if err := cn.send(ctx, m); err != nil {
		return protocol.Message{}, fmt.Errorf("send %s: %w", m.Type, err)
	}
	select {
	case r := <-ch:
		if r.Type == protocol.TypeError {
			return r, serverError(r.Error)
		}
		return r, nil
	case <-cn.done:
		select { // the reply may have come just before the close
		case r := <-ch:
			if r.Type == protocol.TypeError {
				return r, serverError(r.Error)
			}
			return r, nil
		default:
		}
		return protocol.Message{}, fmt.Errorf("%s: %w (%v)", m.Type, ErrClosed, cn.error())
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
	cn := c.conn()
	err := cn.send(ctx, protocol.Message{Type: protocol.TypeLeave})
	if err == nil {
		select {
		case <-cn.done:
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
		c.connMu.Lock()
		c.closed = true
		cn := c.cur
		c.connMu.Unlock()
		c.cancel()
		if cn != nil {
			_ = cn.ws.Close(websocket.StatusNormalClosure, "")
			_ = cn.ws.CloseNow()
		}
		_ = c.peer.close()
		c.wg.Wait()
	})
}
