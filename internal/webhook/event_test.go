package webhook

import (
	"testing"
	"time"
)

// FuzzTranslate: any bytes on any input subject give valid events or none,
// never a panic.
func FuzzTranslate(f *testing.F) {
	f.Add("rtcloud.room.default.demo.events", []byte(`{"type":"participant_joined","namespace":"default","room":"demo","participant":{"identity":"a","session_id":"PA_1"}}`))
	f.Add("rtcloud.room.default.demo.events", []byte(`{"type":"participant_left","namespace":"default","room":"demo","participant":{"identity":"a","session_id":"PA_1"}}`))
	f.Add("rtcloud.room.default.demo.events", []byte(`{"type":"track_published","namespace":"default","room":"demo","track":{"id":"TR_1"}}`))
	f.Add("rtcloud.hook.default.demo", []byte(`{"type":"egress_started","namespace":"default","room":"demo","object":{"id":1}}`))
	f.Add("rtcloud.hook.default.demo", []byte(`{"type":"Bad Type","namespace":"default","room":"demo"}`))
	f.Add("rtcloud.room.x.y.events", []byte(`not json`))
	f.Add("rtcloud.egress.events", []byte(`{"type":"egress_started","egress":{"egress_id":"EG_1","namespace":"default","room":"demo","status":"active"}}`))
	f.Add("rtcloud.egress.events", []byte(`{"type":"egress_ended","egress":{"namespace":"","room":"demo"}}`))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		tr := newTranslator()
		for i := range 2 {
			for _, ev := range tr.apply(uint64(i+1), subject, data, time.Unix(0, 0)) {
				if ev.ID == "" || !validType(ev.Type) || ev.Namespace == "" || ev.Room == "" {
					t.Fatalf("bad event %+v", ev)
				}
			}
		}
	})
}

func TestRoomStartsAndFinishesOnce(t *testing.T) {
	tr := newTranslator()
	join := func(seq uint64, sid string) []Event {
		return tr.apply(seq, "rtcloud.room.ns.r.events", []byte(`{"type":"participant_joined","namespace":"ns","room":"r","participant":{"identity":"`+sid+`","session_id":"`+sid+`"}}`), time.Now())
	}
	leave := func(seq uint64, sid string) []Event {
		return tr.apply(seq, "rtcloud.room.ns.r.events", []byte(`{"type":"participant_left","namespace":"ns","room":"r","participant":{"identity":"`+sid+`","session_id":"`+sid+`"}}`), time.Now())
	}
	types := func(evs []Event) (out []string) {
		for _, e := range evs {
			out = append(out, e.Type)
		}
		return out
	}
	steps := []struct {
		got  []Event
		want string
	}{
		{join(1, "a"), "[room_started participant_joined]"},
		{join(2, "b"), "[participant_joined]"},
		{leave(3, "a"), "[participant_left]"},
		{leave(4, "a"), "[participant_left]"}, // a repeated leave finishes nothing
		{leave(5, "b"), "[participant_left room_finished]"},
	}
	for i, s := range steps {
		if got := types(s.got); fmtList(got) != s.want {
			t.Errorf("step %d: %v, want %s", i, got, s.want)
		}
	}
	if id := steps[4].got[1].ID; id != "EV_5_1" {
		t.Errorf("room_finished id %s, want EV_5_1", id)
	}
	// Replayed on a state that already has it, a join keeps its id.
	tr = newTranslator()
	first := join(7, "c")
	if again := join(7, "c"); len(again) != 1 || again[0].ID != first[1].ID || again[0].ID != "EV_7_1" {
		t.Errorf("replayed join %v, want the one event %s", types(again), first[1].ID)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
