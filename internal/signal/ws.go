package signal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// hardReadLimit is where the WebSocket library itself cuts a frame off
// (close 1009 without an error message); frames between
// protocol.MaxMessageBytes and this get a too_large error first.
const hardReadLimit = 4 * protocol.MaxMessageBytes

// writeTimeout bounds writing one frame to a client.
const writeTimeout = 10 * time.Second

// conn is one WebSocket client. The HTTP handler goroutine reads and
// handles requests in order; one writer goroutine owns all writes and
// takes messages from a bounded queue, so a slow client never blocks the
// bus callbacks that deliver events.
type conn struct {
	s        *Server
	ws       *websocket.Conn
	log      *slog.Logger
	ctx      context.Context // ends when the connection ends
	cancel   context.CancelFunc
	out      chan []byte // encoded frames; a slot costs a slice header, not a Message
	urlToken string
	clientIP string

	// abort ends a write in progress when a slow client is cut off.
	abort       context.Context
	abortNow    context.CancelFunc
	closeOnce   sync.Once
	closing     chan struct{} // closed by closeWith
	closeCode   websocket.StatusCode
	closeReason string
	drain       bool // write queued messages before closing

	idle      *time.Timer
	joinTimer *time.Timer // closes a connection that has not joined in time

	// Per-connection limits on what the client sends (limits.go).
	dataRate, dataBytes *bucket
	candidates          int             // remote candidates trickled; reader goroutine only
	lastRateError       time.Time       // last rate_limited reply; reader goroutine only
	warned              map[string]bool // refusal reasons already logged; reader goroutine only

	// Set by join on the reader goroutine; read by event callbacks under mu.
	mu      sync.Mutex
	sess    *session
	joined  bool        // joined was sent: events go straight out
	pending []bus.Event // events that arrived before joined
	// speakers holds the latest active speakers of each node of the room
	// (a room spanning nodes gets one event per node; the client gets
	// their union).
	speakers map[string][]bus.Speaker
	subs     []*nats.Subscription
	ended    bool // left, or ended by the node: no resume
}

// session is what a connection knows about its session once joined.
type session struct {
	bus.Participant
	NodeID string
	Grants bus.Grants
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{OriginPatterns: s.opts.Config.AllowedOrigins}
	if len(s.opts.Config.AllowedOrigins) == 0 {
		opts.InsecureSkipVerify = true // no list configured: every origin may connect
	}
	// A WebSocket outlives the HTTP server's read and write timeouts (the
	// deadlines stay on the connection once it is taken over): its own
	// idle timeout, join deadline and write timeout bound it instead.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept wrote the HTTP error
	}
	ws.SetReadLimit(hardReadLimit)
	c := &conn{
		s:         s,
		ws:        ws,
		log:       s.log.With("remote", r.RemoteAddr),
		out:       make(chan []byte, s.opts.SendQueue),
		urlToken:  r.URL.Query().Get("access_token"),
		clientIP:  s.client.of(r),
		closing:   make(chan struct{}),
		dataRate:  newBucket(s.opts.Limits.DataRate, s.opts.Limits.DataBurst),
		dataBytes: newBucket(float64(s.opts.Limits.DataBytesRate), s.opts.Limits.DataBytesRate),
		warned:    map[string]bool{},
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.abort, c.abortNow = context.WithCancel(context.Background())
	defer c.abortNow()
	if !s.track(c) {
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		c.cancel()
		return
	}
	defer s.untrack(c)
	c.run()
}

// run serves the connection until it ends.
func (c *conn) run() {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	c.idle = time.AfterFunc(c.s.opts.IdleTimeout, func() {
		c.closeWith(websocket.StatusPolicyViolation, "idle timeout", true)
	})
	// Whatever it sends (pings included), a connection joins in time.
	c.joinTimer = time.AfterFunc(c.s.opts.JoinTimeout, func() {
		c.mu.Lock()
		joined := c.sess != nil
		c.mu.Unlock()
		if !joined {
			c.s.met.refused.WithLabelValues("unauthenticated").Inc()
			c.log.Info("closing a connection that did not join in time", "timeout", c.s.opts.JoinTimeout)
			c.sendError("", protocol.CodeUnauthorized, "no join within "+c.s.opts.JoinTimeout.String())
			c.closeWith(protocol.CloseUnauthorized, "join timeout", true)
		}
	})
	c.readLoop()
	c.idle.Stop()
	c.joinTimer.Stop()
	c.closeWith(websocket.StatusNormalClosure, "", true)
	wg.Wait()
	c.cancel()
	c.finish()
}

func (c *conn) readLoop() {
	for {
		_, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, protocol.MaxMessageBytes+1))
		if err != nil {
			return
		}
		c.idle.Reset(c.s.opts.IdleTimeout)
		if len(data) > protocol.MaxMessageBytes {
			c.sendError("", protocol.CodeTooLarge, "frame over 256 KiB")
			c.closeWith(websocket.StatusMessageTooBig, "message too big", true)
			return
		}
		m, perr := decodeMessage(data)
		if perr != nil {
			c.send(protocol.Message{Type: protocol.TypeError, ID: m.ID, Error: perr})
			continue
		}
		c.handle(m)
		select {
		case <-c.closing:
			return
		default:
		}
	}
}

// decodeMessage parses one frame. On failure it returns what it could
// decode (the ID, for the error reply) and a protocol error.
func decodeMessage(data []byte) (protocol.Message, *protocol.Error) {
	var m protocol.Message
	if err := json.Unmarshal(data, &m); err != nil {
		var probe struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(data, &probe)
		return protocol.Message{ID: probe.ID}, &protocol.Error{Code: protocol.CodeMalformed, Message: "not a JSON message with the documented fields"}
	}
	if m.Type == "" {
		return m, &protocol.Error{Code: protocol.CodeMalformed, Message: `missing "type"`}
	}
	if !knownType(m.Type) {
		return m, &protocol.Error{Code: protocol.CodeUnknownType, Message: "unknown message type " + truncate(m.Type, 64)}
	}
	return m, nil
}

func knownType(t string) bool {
	switch t {
	case protocol.TypeJoin, protocol.TypeOffer, protocol.TypeTrickle, protocol.TypeSubscribe, protocol.TypeUnsubscribe,
		protocol.TypeSetLayer, protocol.TypeMute, protocol.TypeData, protocol.TypePing, protocol.TypeLeave:
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// writeLoop owns every write to the WebSocket.
func (c *conn) writeLoop() {
	for {
		select {
		case m := <-c.out:
			if err := c.write(m); err != nil {
				_ = c.ws.CloseNow()
				return
			}
		case <-c.closing:
			if c.drain {
				for done := false; !done; {
					select {
					case m := <-c.out:
						if c.write(m) != nil {
							done = true
						}
					default:
						done = true
					}
				}
			}
			_ = c.ws.Close(c.closeCode, c.closeReason)
			return
		}
	}
}

func (c *conn) write(data []byte) error {
	ctx, cancel := context.WithTimeout(c.abort, writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// send encodes m and queues it for the client; a client whose queue is
// full is too slow and is disconnected.
func (c *conn) send(m protocol.Message) {
	select {
	case <-c.closing:
		return
	default:
	}
	data, err := json.Marshal(m)
	if err != nil {
		c.log.Error("encode message", "type", m.Type, "err", err)
		return
	}
	select {
	case c.out <- data:
		return
	default:
	}
	// The queue is full: a burst (many events at once) drains within
	// moments for a client that reads; only one that does not read for
	// SlowClientGrace is cut off.
	t := time.NewTimer(c.s.opts.SlowClientGrace)
	defer t.Stop()
	select {
	case c.out <- data:
	case <-c.closing:
	case <-t.C:
		c.log.Warn("client too slow, disconnecting", "queue", cap(c.out), "grace", c.s.opts.SlowClientGrace)
		c.closeWith(websocket.StatusPolicyViolation, "slow client", false)
	}
}

func (c *conn) sendError(id, code, msg string) {
	c.send(protocol.Message{Type: protocol.TypeError, ID: id, Error: &protocol.Error{Code: code, Message: msg}})
}

// closeWith ends the connection with code and reason; the first call wins.
func (c *conn) closeWith(code websocket.StatusCode, reason string, drain bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason, c.drain = code, reason, drain
		close(c.closing)
		if !drain {
			c.abortNow() // a client that does not read may block a write
		}
	})
}

// finish runs after the connection is gone: stop events and, unless the
// session ended, let the node close it if its media is not flowing (the
// client may resume it through any signaling server).
func (c *conn) finish() {
	c.mu.Lock()
	subs, sess, ended := c.subs, c.sess, c.ended
	c.subs = nil
	c.mu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
	if sess == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bus.DefaultRequestTimeout)
	defer cancel()
	if ended {
		_ = c.s.dir.DeleteSession(ctx, sess.SessionID)
		return
	}
	err := c.s.nodeCmd(ctx, sess.NodeID, bus.CmdClose, bus.Close{SessionID: sess.SessionID, Reason: "connection lost", IfNoMedia: true}, nil)
	if err != nil && !bus.IsCode(err, bus.CodeNotFound) && !errors.Is(err, bus.ErrNoResponders) {
		c.log.Warn("close session after disconnect", "session", sess.SessionID, "err", err)
		return
	}
	// Forget the record only if the session is really gone.
	if !c.s.sessionAlive(ctx, sess.NodeID, sess.Namespace, sess.Room, sess.SessionID) {
		_ = c.s.dir.DeleteSession(ctx, sess.SessionID)
	}
}

// sessionAlive asks the session's node whether it still serves it.
func (s *Server) sessionAlive(ctx context.Context, nodeID, namespace, room, sessionID string) bool {
	parts, err := s.roomState(ctx, nodeID, namespace, room, sessionID)
	if err != nil {
		return false
	}
	for _, p := range parts {
		if p.SessionID == sessionID {
			return true
		}
	}
	return false
}
