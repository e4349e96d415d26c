// Package webhook sends room, participant and track events (and the events
// other services publish on bus.HookEvents) to HTTP receivers: signed,
// at least once, in order per room, through JetStream streams that a new
// leader controller resumes from.
package webhook

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// Event types. Egress events (bus.EgressEvents: egress_started,
// egress_updated, egress_ended) pass through with the egress as the
// object; other services add their own by publishing bus.HookEvent values,
// whose type passes through as is.
const (
	TypeRoomStarted       = "room_started"
	TypeRoomFinished      = "room_finished"
	TypeParticipantJoined = bus.EventParticipantJoined
	TypeParticipantLeft   = bus.EventParticipantLeft
	TypeTrackPublished    = bus.EventTrackPublished
	TypeTrackUnpublished  = bus.EventTrackUnpublished
)

// hookPrefix starts every bus.HookEvents subject.
var hookPrefix = strings.TrimSuffix(bus.AllHookEvents, "*.*")

// Types are the event types derived from room events; hook events add
// theirs.
var Types = []string{TypeRoomStarted, TypeRoomFinished, TypeParticipantJoined, TypeParticipantLeft,
	TypeTrackPublished, TypeTrackUnpublished, bus.EventEgressStarted, bus.EventEgressUpdated, bus.EventEgressEnded}

// Event is the JSON body of one webhook request. A redelivered event keeps
// its ID.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Namespace string          `json:"namespace"`
	Room      string          `json:"room"`
	Object    json.RawMessage `json:"object,omitempty"`
}

// RoomObject is the object of room_started and room_finished.
type RoomObject struct {
	Namespace  string    `json:"namespace"`
	Room       string    `json:"room"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// translator turns the input stream into webhook events. It keeps who is
// in each room to tell when a room starts and finishes; its state is saved
// with the input position so a new leader continues identically.
type translator struct {
	Seq   uint64                `json:"seq"`
	Rooms map[string]*roomState `json:"rooms"`
}

type roomState struct {
	Started  time.Time       `json:"started"`
	Sessions map[string]bool `json:"sessions"`
}

func newTranslator() *translator { return &translator{Rooms: map[string]*roomState{}} }

// apply translates the input message seq (its subject, body and stream
// time). Event ids are derived from seq, so a replay yields the same ids.
func (t *translator) apply(seq uint64, subject string, data []byte, at time.Time) []Event {
	t.Seq = seq
	var out []Event
	// n is fixed per kind of event a message yields, whatever the state:
	// a replay from an older saved state gives every event the id it had.
	add := func(n int, typ, ns, room string, obj any) {
		raw, _ := json.Marshal(obj)
		out = append(out, Event{ID: "EV_" + strconv.FormatUint(seq, 10) + "_" + strconv.Itoa(n),
			Type: typ, Timestamp: at.UTC(), Namespace: ns, Room: room, Object: raw})
	}
	if strings.HasPrefix(subject, hookPrefix) {
		var h bus.HookEvent
		if json.Unmarshal(data, &h) != nil || !validType(h.Type) || !bus.ValidName(h.Namespace) || !bus.ValidName(h.Room) {
			return nil
		}
		if !h.Time.IsZero() {
			at = h.Time
		}
		add(0, h.Type, h.Namespace, h.Room, h.Object)
		return out
	}
	if subject == bus.EgressEvents {
		var e bus.EgressEvent
		if json.Unmarshal(data, &e) != nil || !validType(e.Type) || !bus.ValidName(e.Egress.Namespace) || !bus.ValidName(e.Egress.Room) {
			return nil
		}
		if !e.At.IsZero() {
			at = e.At
		}
		e.Egress.Reply = bus.Reply{}
		add(0, e.Type, e.Egress.Namespace, e.Egress.Room, e.Egress)
		return out
	}
	var ev bus.Event
	if json.Unmarshal(data, &ev) != nil || !bus.ValidName(ev.Namespace) || !bus.ValidName(ev.Room) {
		return nil
	}
	key := bus.RoomKey(ev.Namespace, ev.Room)
	switch ev.Type {
	case bus.EventParticipantJoined:
		if ev.Participant == nil {
			return nil
		}
		rs := t.Rooms[key]
		if rs == nil {
			rs = &roomState{Started: at.UTC(), Sessions: map[string]bool{}}
			t.Rooms[key] = rs
			add(0, TypeRoomStarted, ev.Namespace, ev.Room, RoomObject{Namespace: ev.Namespace, Room: ev.Room, StartedAt: rs.Started})
		}
		rs.Sessions[ev.Participant.SessionID] = true
		add(1, ev.Type, ev.Namespace, ev.Room, ev.Participant)
	case bus.EventParticipantLeft:
		if ev.Participant == nil {
			return nil
		}
		add(0, ev.Type, ev.Namespace, ev.Room, ev.Participant)
		if rs := t.Rooms[key]; rs != nil && rs.Sessions[ev.Participant.SessionID] {
			delete(rs.Sessions, ev.Participant.SessionID)
			if len(rs.Sessions) == 0 {
				delete(t.Rooms, key)
				add(1, TypeRoomFinished, ev.Namespace, ev.Room, RoomObject{Namespace: ev.Namespace, Room: ev.Room,
					StartedAt: rs.Started, FinishedAt: at.UTC()})
			}
		}
	case bus.EventTrackPublished, bus.EventTrackUnpublished:
		if ev.Track == nil {
			return nil
		}
		add(0, ev.Type, ev.Namespace, ev.Room, ev.Track)
	}
	return out
}

// validType accepts event types of 1-64 characters of a-z 0-9 _.
func validType(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
