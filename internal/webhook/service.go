package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// Options configure a Service.
type Options struct {
	Config config.Webhooks
	Keys   map[string]string // API key -> secret; Config.APIKey picks one
	Bus    *bus.Client
	// Leader reports whether this controller leads; only the leader
	// translates and delivers.
	Leader func() bool
	Logger *slog.Logger
	// Replicas of the streams (default 1).
	Replicas int
	// Client sends the requests (default: one with Config.Timeout).
	Client *http.Client
	// Backoff is the first retry pause, doubled up to MaxBackoff
	// (defaults 500 ms and 30 s).
	Backoff, MaxBackoff time.Duration
	// MaxInFlight bounds the events held in delivery queues (default 10000).
	MaxInFlight int
}

// Service runs the webhook pipeline while its controller leads.
type Service struct {
	opts        Options
	log         *slog.Logger
	js          jetstream.JetStream
	kv          jetstream.KeyValue
	key, secret string
	metrics     *counters
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

// New creates the streams and the position bucket; Start runs the
// pipeline. ctx bounds the setup.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Bus == nil || o.Leader == nil {
		return nil, errors.New("webhook: Bus and Leader are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := config.DefaultWebhooks()
	if o.Config.Timeout <= 0 {
		o.Config.Timeout = def.Timeout
	}
	if o.Config.RetryFor <= 0 {
		o.Config.RetryFor = def.RetryFor
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Config.Timeout}
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 10000
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	s := &Service{opts: o, log: o.Logger.With("component", "webhook"), metrics: newCounters()}
	var err error
	if s.key, s.secret, err = pickKey(o.Keys, o.Config.APIKey); err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(o.Bus.Conn()); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if err := s.streams(ctx); err != nil {
		return nil, err
	}
	if s.kv, err = o.Bus.KV(ctx, bus.BucketWebhooks, 0); err != nil {
		return nil, err
	}
	return s, nil
}

func pickKey(keys map[string]string, want string) (string, string, error) {
	if want != "" {
		if s, ok := keys[want]; ok {
			return want, s, nil
		}
		return "", "", fmt.Errorf("%w: %q is not a configured key", ErrNoKey, want)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	if len(names) == 0 {
		return "", "", ErrNoKey
	}
	sort.Strings(names)
	return names[0], keys[names[0]], nil
}

func (s *Service) streams(ctx context.Context) error {
	storage := jetstream.MemoryStorage
	if s.opts.Config.FileStorage {
		storage = jetstream.FileStorage
	}
	keep := max(time.Hour, 2*s.opts.Config.RetryFor)
	cfgs := []jetstream.StreamConfig{
		{Name: bus.StreamHookInput, Subjects: []string{bus.AllRoomEvents, bus.AllHookEvents, bus.EgressEvents}, Storage: storage,
			Replicas: s.opts.Replicas, MaxAge: time.Hour, MaxBytes: 64 << 20, Discard: jetstream.DiscardOld},
		{Name: bus.StreamWebhooks, Subjects: []string{bus.AllWebhookEvents}, Storage: storage,
			Replicas: s.opts.Replicas, MaxAge: keep, MaxBytes: 64 << 20, Discard: jetstream.DiscardOld,
			Duplicates: 10 * time.Minute},
	}
	for _, c := range cfgs {
		for {
			_, err := s.js.CreateOrUpdateStream(ctx, c)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("webhook: create stream %s: %w", c.Name, err)
			}
			select { // JetStream may still be starting
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// Start runs the pipeline whenever this controller leads, until Close.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.run(ctx) }()
}

// Close stops the pipeline, saving its positions, and waits for it.
func (s *Service) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// run watches leadership: it starts the pipeline on gaining it and stops
// it on losing it.
func (s *Service) run(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		leader := s.opts.Leader()
		if leader && stop == nil {
			stop = s.lead(ctx)
		} else if !leader && stop != nil {
			stop()
			stop = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// lead runs the translator and the deliverer; the returned function stops
// them and waits.
func (s *Service) lead(ctx context.Context) func() {
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	s.log.Info("webhook delivery started (leader)")
	wg.Add(2)
	go func() { defer wg.Done(); s.translate(pctx) }()
	go func() { defer wg.Done(); s.deliverLoop(pctx) }()
	return func() {
		cancel()
		wg.Wait()
		s.log.Info("webhook delivery stopped")
	}
}
