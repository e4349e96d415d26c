package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/bus"
)

// CreateSession stores a new session record; ErrExists if the id is taken.
func (d *Directory) CreateSession(ctx context.Context, rec bus.SessionRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := d.sessions.Create(ctx, rec.SessionID, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("session %s: %w", rec.SessionID, ErrExists)
		}
		return fmt.Errorf("store session %s: %w", rec.SessionID, err)
	}
	return nil
}

// Session returns the record of session id; ErrNotFound if there is none.
func (d *Directory) Session(ctx context.Context, id string) (bus.SessionRecord, error) {
	var rec bus.SessionRecord
	if !validKey(id) {
		return rec, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	_, err := get(ctx, d.sessions, id, &rec)
	return rec, err
}

// DeleteSession removes the record of session id. Deleting a missing
// record is not an error.
func (d *Directory) DeleteSession(ctx context.Context, id string) error {
	if !validKey(id) {
		return nil
	}
	if err := d.sessions.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}

// Room returns the room record of namespace/room; ErrNotFound if the room
// has no node yet.
func (d *Directory) Room(ctx context.Context, namespace, room string) (bus.RoomRecord, error) {
	var rec bus.RoomRecord
	_, err := get(ctx, d.rooms, bus.RoomKey(namespace, room), &rec)
	return rec, err
}

// get decodes the entry under key into v and returns its revision.
func get(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision(), nil
}

// validKey reports whether s is safe as a KV key (session ids come from
// clients on resume and in WHIP/WHEP URLs).
func validKey(s string) bool { return bus.ValidName(s) }

// UpdateSession replaces the record of an existing session.
func (d *Directory) UpdateSession(ctx context.Context, rec bus.SessionRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := d.sessions.Put(ctx, rec.SessionID, data); err != nil {
		return fmt.Errorf("store session %s: %w", rec.SessionID, err)
	}
	return nil
}
