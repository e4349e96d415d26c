package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Keys of the positions in bus.BucketWebhooks.
const (
	keyTranslated = "translated" // translator state, with its input sequence
	keyDelivered  = "delivered"  // every webhook event up to this sequence is done
)

const saveEvery = 250 * time.Millisecond

// translate reads the input stream from the saved position and publishes
// webhook events, each with its id as the JetStream message id: a new
// leader replaying from an older position publishes duplicates that the
// stream drops.
func (s *Service) translate(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.translateFrom(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook translator restarts", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

func (s *Service) translateFrom(ctx context.Context) error {
	tr := newTranslator()
	if e, err := s.kv.Get(ctx, keyTranslated); err == nil {
		if err := json.Unmarshal(e.Value(), tr); err != nil || tr.Rooms == nil {
			s.log.Error("webhook translator state unreadable; starting afresh", "err", err)
			tr = newTranslator()
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	it, err := orderedFrom(ctx, s.js, bus.StreamHookInput, tr.Seq+1)
	if err != nil {
		return err
	}
	defer it.Stop()
	// dirty: tr moved past the saved state; torn: tr took a message whose
	// events are not all stored, so it must not be saved (the last save
	// stays the place to resume from).
	saved, dirty, torn := time.Now(), false, false
	save := func() {
		b, _ := json.Marshal(tr)
		if _, err := s.kv.Put(context.WithoutCancel(ctx), keyTranslated, b); err != nil {
			s.log.Warn("save webhook translator state", "err", err)
			return
		}
		saved, dirty = time.Now(), false
	}
	defer func() {
		if dirty && !torn {
			save()
		}
	}()
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(saveEvery))
		if err != nil && !idle(err) {
			return err
		}
		if err == nil {
			meta, merr := msg.Metadata()
			if merr != nil {
				return merr
			}
			torn = true
			for _, ev := range tr.apply(meta.Sequence.Stream, msg.Subject(), msg.Data(), meta.Timestamp) {
				if err := s.publish(ctx, ev); err != nil {
					return err
				}
			}
			torn, dirty = false, true
		}
		if dirty && time.Since(saved) >= saveEvery {
			save()
		}
	}
	return nil
}

// publish stores ev in the webhook stream, retrying until it is stored or
// ctx ends.
func (s *Service) publish(ctx context.Context, ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = s.js.Publish(pctx, bus.WebhookEvents(ev.Namespace, ev.Room), b, jetstream.WithMsgID(ev.ID))
		cancel()
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("store webhook event", "id", ev.ID, "err", err)
		sleep(ctx, 200*time.Millisecond)
	}
}

// orderedFrom reads stream from sequence seq on (or from its first
// message when older ones are gone).
func orderedFrom(ctx context.Context, js jetstream.JetStream, stream string, seq uint64) (jetstream.MessagesContext, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq}
	if seq <= 1 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	}
	c, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, err
	}
	return c.Messages()
}

// idle reports whether a Next error only means no message came in time.
func idle(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
