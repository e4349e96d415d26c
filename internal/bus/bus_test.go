package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startBus(t *testing.T) *Client {
	t.Helper()
	e, err := StartEmbedded(EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	c, err := Connect(Options{URLs: e.ClientURL(), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRequestReply(t *testing.T) {
	c := startBus(t)
	subj := NodeCommand("n1", CmdClose)
	sub, err := Handle(c, subj, func(_ context.Context, req Close) (any, error) {
		if req.SessionID == "missing" {
			return nil, Errorf(CodeNotFound, "no session %s", req.SessionID)
		}
		if req.SessionID == "boom" {
			return nil, errors.New("plain failure")
		}
		return SessionAnswer{SessionID: req.SessionID, Answer: "v=0"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx := context.Background()

	var ans SessionAnswer
	if err := c.Request(ctx, subj, Close{SessionID: "PA_1"}, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.SessionID != "PA_1" || ans.Answer != "v=0" {
		t.Fatalf("answer = %+v", ans)
	}
	if err := c.Request(ctx, subj, Close{SessionID: "missing"}, &ans); !IsCode(err, CodeNotFound) {
		t.Fatalf("err = %v, want not_found", err)
	}
	if err := c.Request(ctx, subj, Close{SessionID: "boom"}, nil); !IsCode(err, CodeInternal) {
		t.Fatalf("err = %v, want internal", err)
	}
	// Malformed JSON gets a bad_request reply, and the handler goes on.
	msg, err := c.Conn().Request(subj, []byte("{not json"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"code":"bad_request"`; !strings.Contains(string(msg.Data), want) {
		t.Fatalf("reply = %s, want %s", msg.Data, want)
	}
	if err := c.Request(ctx, subj, Close{SessionID: "PA_2"}, &ans); err != nil || ans.SessionID != "PA_2" {
		t.Fatalf("after malformed input: %+v, %v", ans, err)
	}
}

func TestNoResponders(t *testing.T) {
	c := startBus(t)
	err := c.Request(context.Background(), NodeCommand("gone", CmdClose), Close{}, nil)
	if !errors.Is(err, ErrNoResponders) {
		t.Fatalf("err = %v, want ErrNoResponders", err)
	}
}

func TestKV(t *testing.T) {
	c := startBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := c.KV(ctx, BucketRooms, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, RoomKey("default", "r1"), []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, RoomKey("default", "r1"), []byte("n2")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second create: %v, want ErrKeyExists", err)
	}
	e, err := kv.Get(ctx, RoomKey("default", "r1"))
	if err != nil || string(e.Value()) != "n1" {
		t.Fatalf("get = %v, %v", e, err)
	}
}

func TestValidName(t *testing.T) {
	for _, s := range []string{"a", "room-1", "R_2", "x123456789"} {
		if !ValidName(s) {
			t.Errorf("%q should be valid", s)
		}
	}
	for _, s := range []string{"", "a.b", "a b", "*", ">", "é", string(make([]byte, 129))} {
		if ValidName(s) {
			t.Errorf("%q should be invalid", s)
		}
	}
}

// Every bucket the components open has a size limit and keeps one value
// per key.
func TestBucketLimits(t *testing.T) {
	for _, b := range []string{BucketRooms, BucketSessions, BucketNodes, BucketControl, BucketLeader, BucketRoutes, BucketEgress, "unknown"} {
		if l := LimitsOf(b, 0); l.MaxBytes <= 0 {
			t.Errorf("%s: no size limit", b)
		}
	}
	for _, b := range []string{BucketRooms, BucketSessions, BucketEgress} {
		if LimitsOf(b, 0).MaxAge <= 0 {
			t.Errorf("%s: records never expire", b)
		}
	}
	if LimitsOf(BucketLeader, time.Second).MaxAge != time.Second {
		t.Error("a lease bucket's TTL is not its age limit")
	}
}
