package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
)

// Rules are the dial rules: those of the config, then those created
// through the API (kept in the bus KV, bus.BucketSIPRules).
type Rules struct {
	static []config.DialRule
	kv     jetstream.KeyValue // nil: config rules only
	// roomFromURI routes sip:{room}@host to room {room} of the default
	// namespace when no rule matches.
	roomFromURI bool
}

// OpenRules opens the rule bucket (b may be nil for config rules only).
func OpenRules(ctx context.Context, b *bus.Client, c config.SIP) (*Rules, error) {
	r := &Rules{static: c.Rules, roomFromURI: c.RoomFromURI}
	if b != nil {
		kv, err := b.KV(ctx, bus.BucketSIPRules, 0)
		if err != nil {
			return nil, err
		}
		r.kv = kv
	}
	return r, nil
}

// route is where a call goes.
type route struct {
	namespace, room, pin string
}

// Match finds the route of a call to user (the request URI's user part)
// at uri (the request URI without parameters): an exact rule for the
// URI, then for the user, then a "*" rule, then the room named by the
// user when roomFromURI is set.
func (r *Rules) Match(ctx context.Context, user, uri string) (route, error) {
	all := append([]config.DialRule{}, r.static...)
	stored, err := r.List(ctx)
	if err != nil {
		return route{}, err
	}
	for _, s := range stored {
		all = append(all, config.DialRule{To: s.To, Namespace: s.Namespace, Room: s.Room, PIN: s.PIN})
	}
	for _, want := range []string{uri, user, "*"} {
		for _, rule := range all {
			if want != "" && strings.EqualFold(rule.To, want) {
				ns := rule.Namespace
				if ns == "" {
					ns = auth.DefaultNamespace
				}
				return route{namespace: ns, room: rule.Room, pin: rule.PIN}, nil
			}
		}
	}
	if r.roomFromURI && bus.ValidName(user) {
		return route{namespace: auth.DefaultNamespace, room: user}, nil
	}
	return route{}, fmt.Errorf("%w: %q", ErrNoRule, uri)
}

// Add stores a rule made through the API.
func (r *Rules) Add(ctx context.Context, rule bus.SIPRule) (bus.SIPRule, error) {
	if r.kv == nil {
		return rule, errors.New("no rule store")
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return rule, err
	}
	rule.ID = "sr_" + hex.EncodeToString(raw[:])
	rule.CreatedAt = time.Now().UTC()
	data, err := json.Marshal(rule)
	if err != nil {
		return rule, err
	}
	_, err = r.kv.Create(ctx, rule.ID, data)
	return rule, err
}

// List returns the stored rules, oldest first.
func (r *Rules) List(ctx context.Context) ([]bus.SIPRule, error) {
	out := []bus.SIPRule{}
	if r.kv == nil {
		return out, nil
	}
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for key := range lister.Keys() {
		rule, err := r.get(ctx, key)
		if err == nil {
			out = append(out, rule)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (r *Rules) get(ctx context.Context, id string) (bus.SIPRule, error) {
	var rule bus.SIPRule
	if r.kv == nil || !validRuleID(id) {
		return rule, ErrNotFound
	}
	e, err := r.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rule, ErrNotFound
	}
	if err != nil {
		return rule, err
	}
	err = json.Unmarshal(e.Value(), &rule)
	return rule, err
}

// Delete removes a stored rule.
func (r *Rules) Delete(ctx context.Context, id string) error {
	if _, err := r.get(ctx, id); err != nil {
		return err
	}
	return r.kv.Delete(ctx, id)
}

func validRuleID(s string) bool {
	if len(s) != 19 || !strings.HasPrefix(s, "sr_") {
		return false
	}
	_, err := hex.DecodeString(s[3:])
	return err == nil
}
