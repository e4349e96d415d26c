package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// roomStore reads and claims room records in bus.BucketRooms, the same
// records the directory's same-node placement writes, with optimistic
// concurrency so controllers and signaling servers agree on one node.
type roomStore struct{ kv jetstream.KeyValue }

// get returns the record under key and its revision (0 when none).
func (s roomStore) get(ctx context.Context, key string) (bus.RoomRecord, uint64, error) {
	var rec bus.RoomRecord
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, nil
	}
	if err != nil {
		return rec, 0, fmt.Errorf("read room %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		// A record nobody can read is as good as none: overwrite it.
		return bus.RoomRecord{}, e.Revision(), nil
	}
	return rec, e.Revision(), nil
}

// errConflict means another writer changed the record first.
var errConflict = errors.New("room record changed concurrently")

// claim writes rec: a create when rev is 0, else an update of revision rev.
func (s roomStore) claim(ctx context.Context, rec bus.RoomRecord, rev uint64) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := bus.RoomKey(rec.Namespace, rec.Room)
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, data)
	} else {
		_, err = s.kv.Update(ctx, key, data, rev)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongRevision(err) {
		return errConflict
	}
	return fmt.Errorf("claim room %s: %w", key, err)
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

type roomEntry struct {
	rec bus.RoomRecord
	rev uint64
}

// list returns every room record.
func (s roomStore) list(ctx context.Context) ([]roomEntry, error) {
	return listJSON[bus.RoomRecord](ctx, s.kv, func(r bus.RoomRecord, rev uint64) roomEntry { return roomEntry{r, rev} })
}

// listJSON reads every entry of kv decoded as T.
func listJSON[T, R any](ctx context.Context, kv jetstream.KeyValue, wrap func(T, uint64) R) ([]R, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var out []R
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		var v T
		if json.Unmarshal(e.Value(), &v) != nil {
			continue
		}
		out = append(out, wrap(v, e.Revision()))
	}
	return out, nil
}
