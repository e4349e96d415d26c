package ingress

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// Keys are the ingress keys in the bus KV (bus.BucketIngress), shared by
// every controller and ingress gateway.
type Keys struct {
	kv     jetstream.KeyValue
	active jetstream.KeyValue // streams being ingested, by every gateway
}

// OpenKeys opens (creating them if needed) the ingress key bucket and
// the bucket of active streams.
func OpenKeys(ctx context.Context, b *bus.Client) (*Keys, error) {
	kv, err := b.KV(ctx, bus.BucketIngress, 0)
	if err != nil {
		return nil, err
	}
	active, err := b.KV(ctx, bus.BucketIngressActive, bus.IngressActiveTTL)
	if err != nil {
		return nil, err
	}
	return &Keys{kv: kv, active: active}, nil
}

// claim marks the stream with claimKey active for every gateway;
// ErrKeyInUse if another stream holds it. The mark is refreshed until
// release is called, which removes it.
func (k *Keys) claim(ctx context.Context, claimKey, owner string) (release func(), err error) {
	sum := sha256.Sum256([]byte(claimKey))
	key := "s_" + hex.EncodeToString(sum[:16])
	if _, err := k.active.Create(ctx, key, []byte(owner)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, ErrKeyInUse
		}
		return nil, fmt.Errorf("claim the stream key: %w", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(bus.IngressActiveTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = k.active.Put(pctx, key, []byte(owner))
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = k.active.Delete(dctx, key)
	}, nil
}

// keyPrefix starts every generated stream key; tokens never start so.
const keyPrefix = "ik_"

// Create stores a new ingress key for info (StreamKey and CreatedAt are set).
func (k *Keys) Create(ctx context.Context, info bus.IngressInfo) (bus.IngressInfo, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return info, err
	}
	info.StreamKey = keyPrefix + hex.EncodeToString(raw[:])
	info.CreatedAt = time.Now().UTC()
	data, err := json.Marshal(info)
	if err != nil {
		return info, err
	}
	if _, err := k.kv.Create(ctx, info.StreamKey, data); err != nil {
		return info, fmt.Errorf("store ingress key: %w", err)
	}
	return info, nil
}

// validKey reports whether s can be a generated stream key (so it is a
// safe KV key).
func validKey(s string) bool {
	if len(s) != len(keyPrefix)+32 || s[:len(keyPrefix)] != keyPrefix {
		return false
	}
	_, err := hex.DecodeString(s[len(keyPrefix):])
	return err == nil
}

// Get returns the ingress key; ErrNotFound if there is none.
func (k *Keys) Get(ctx context.Context, key string) (bus.IngressInfo, error) {
	var info bus.IngressInfo
	if !validKey(key) {
		return info, ErrNotFound
	}
	e, err := k.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return info, ErrNotFound
	}
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(e.Value(), &info); err != nil {
		return info, fmt.Errorf("ingress key %s: %w", key, err)
	}
	return info, nil
}

// List returns the ingress keys of namespace, oldest first.
func (k *Keys) List(ctx context.Context, namespace string) ([]bus.IngressInfo, error) {
	lister, err := k.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := []bus.IngressInfo{}
	for key := range lister.Keys() {
		info, err := k.Get(ctx, key)
		if err != nil {
			continue // deleted meanwhile
		}
		if info.Namespace == namespace {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Delete removes an ingress key; ErrNotFound if there is none.
func (k *Keys) Delete(ctx context.Context, key string) error {
	if _, err := k.Get(ctx, key); err != nil {
		return err
	}
	return k.kv.Delete(ctx, key)
}

// watchRevoked calls revoked once when key is deleted; it stops when
// stop is called, and stop waits for it.
func (k *Keys) watchRevoked(ctx context.Context, key string, revoked func()) (stop func(), err error) {
	w, err := k.kv.Watch(ctx, key, jetstream.UpdatesOnly())
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e != nil && (e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge) {
				revoked()
				return
			}
		}
	}()
	return func() {
		_ = w.Stop()
		<-done
	}, nil
}
