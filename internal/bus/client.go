// Package bus is rtcloud's only shared infrastructure: a NATS connection
// with typed request/reply, events, the JetStream key-value directory and
// an embedded NATS server for single-process deployments. Every subject
// name lives in subjects.go; every message in messages.go.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultRequestTimeout bounds a command when the caller's context has no
// deadline of its own.
const DefaultRequestTimeout = 5 * time.Second

// MaxMessageBytes is the largest command or event rtcloud sends; SDP with
// many m-lines stays far below it.
const MaxMessageBytes = 512 << 10

// Options configure a Client.
type Options struct {
	// URLs is a comma-separated list of NATS server URLs.
	URLs string
	// Name identifies the connection in the NATS server's monitoring.
	Name string
	// KVReplicas is the replica count of the directory buckets (1 for a
	// single server, 3 for a cluster).
	KVReplicas int
	// KVFileStorage stores the directory on disk instead of in memory.
	KVFileStorage bool
	Logger        *slog.Logger
}

// Client is a NATS connection with rtcloud's typed helpers. It is safe for
// concurrent use.
type Client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts Options
	log  *slog.Logger
}

// Connect connects to NATS, retrying in the background when a server goes
// away.
func Connect(opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.KVReplicas <= 0 {
		opts.KVReplicas = 1
	}
	log := opts.Logger.With("component", "bus")
	nc, err := nats.Connect(opts.URLs,
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %q: %w", opts.URLs, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Client{nc: nc, js: js, opts: opts, log: log}, nil
}

// Conn returns the underlying NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// Close drains subscriptions and closes the connection.
func (c *Client) Close() {
	if err := c.nc.Drain(); err != nil {
		c.nc.Close()
	}
	// Drain is asynchronous; wait for it so callers can rely on no more
	// handler calls once Close returns.
	deadline := time.Now().Add(2 * time.Second)
	for !c.nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.nc.Close()
}

// Connected reports whether the connection is currently up.
func (c *Client) Connected() bool { return c.nc.IsConnected() }

// Publish sends v as JSON on subject.
func (c *Client) Publish(subject string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	return c.nc.Publish(subject, data)
}

// Subscribe calls fn with each message on subject, from one goroutine per
// subscription owned by the NATS client. Unsubscribe the returned
// subscription to stop.
func (c *Client) Subscribe(subject string, fn func(*nats.Msg)) (*nats.Subscription, error) {
	return c.nc.Subscribe(subject, fn)
}

// Request sends req as JSON to subject and decodes the reply into resp. A
// reply carrying an *Error is returned as that error.
func (c *Client) Request(ctx context.Context, subject string, req, resp any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRequestTimeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("%s: %w", subject, ErrNoResponders)
		}
		return fmt.Errorf("%s: %w", subject, err)
	}
	var reply Reply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return fmt.Errorf("decode reply of %s: %w", subject, err)
	}
	if reply.Error != nil {
		return reply.Error
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("decode reply of %s: %w", subject, err)
	}
	return nil
}

// ErrNoResponders means nobody serves the subject (for example the node
// is gone).
var ErrNoResponders = errors.New("no responders")

// Handle serves requests on subject with fn. Requests are decoded into Req;
// fn's result is sent back as JSON; an error becomes a Reply carrying an
// *Error (errors that are not *Error become CodeInternal). Requests are
// served one at a time per subscription, in order; fn must not block long.
func Handle[Req any](c *Client, subject string, fn func(ctx context.Context, req Req) (any, error)) (*nats.Subscription, error) {
	return c.nc.Subscribe(subject, func(m *nats.Msg) {
		ServeMsg(m, fn)
	})
}

// ServeMsg decodes one request, calls fn and sends the reply.
func ServeMsg[Req any](m *nats.Msg, fn func(ctx context.Context, req Req) (any, error)) {
	var req Req
	var resp any
	var err error
	if len(m.Data) > MaxMessageBytes {
		err = &Error{Code: CodeBadRequest, Message: "message too large"}
	} else if jerr := json.Unmarshal(m.Data, &req); jerr != nil {
		err = &Error{Code: CodeBadRequest, Message: "malformed request: " + jerr.Error()}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultRequestTimeout)
		resp, err = fn(ctx, req)
		cancel()
	}
	if m.Reply == "" {
		return
	}
	if err != nil {
		resp = Reply{Error: AsError(err)}
	}
	data, merr := json.Marshal(resp)
	if merr != nil {
		data, _ = json.Marshal(Reply{Error: &Error{Code: CodeInternal, Message: "encode reply: " + merr.Error()}})
	}
	_ = m.Respond(data)
}

// AsError converts err into an *Error for the wire.
func AsError(err error) *Error {
	var be *Error
	if errors.As(err, &be) {
		return be
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// Errorf builds an *Error with a code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	var be *Error
	return errors.As(err, &be) && be.Code == code
}

// KV opens (creating it if needed) one of the directory buckets, with the
// limits of kvlimits.go. ttl, when not zero, expires entries not written
// for that long.
func (c *Client) KV(ctx context.Context, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	storage := jetstream.MemoryStorage
	if c.opts.KVFileStorage {
		storage = jetstream.FileStorage
	}
	var kv jetstream.KeyValue
	var err error
	// JetStream may still be electing a meta leader right after a server
	// starts; retry until ctx ends.
	lim := LimitsOf(bucket, ttl)
	for {
		kv, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:       bucket,
			TTL:          lim.MaxAge,
			MaxBytes:     lim.MaxBytes,
			MaxValueSize: MaxKVValueBytes,
			Storage:      storage,
			Replicas:     c.opts.KVReplicas,
			History:      1,
		})
		if err == nil {
			return kv, nil
		}
		if ctx.Err() != nil || !retryableKVError(err) {
			return nil, fmt.Errorf("open KV bucket %s: %w", bucket, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open KV bucket %s: %w", bucket, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func retryableKVError(err error) bool {
	s := err.Error()
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || strings.Contains(s, "no suitable peers") ||
		strings.Contains(s, "unavailable") || strings.Contains(s, "no responders") || strings.Contains(s, "timeout")
}
