package signal

import (
	"strings"
	"testing"

	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/protocol"
)

// Every client message passes checkRequest: it refuses long ids wherever
// they are and allocates nothing for one that passes.
func TestCheckRequest(t *testing.T) {
	long := strings.Repeat("x", MaxIDBytes+1)
	ok := protocol.Message{Type: protocol.TypeData, ID: "1", To: []string{"bob"}, Payload: []byte("hi"),
		Subscribe: []bus.Subscription{{MID: "0", TrackID: "t", Layer: "high"}}, MIDs: []string{"1"}}
	if le := checkRequest(ok); le != nil {
		t.Fatalf("refused a fine request: %v", le)
	}
	if n := testing.AllocsPerRun(100, func() { _ = checkRequest(ok) }); n != 0 {
		t.Errorf("checkRequest allocates %v times per message", n)
	}
	for name, m := range map[string]protocol.Message{
		"id":        {ID: long},
		"mids":      {MIDs: []string{"0", long}},
		"subscribe": {Subscribe: []bus.Subscription{{MID: "0", TrackID: long}}},
		"publish":   {Publish: []bus.PublishSpec{{MID: long}}},
	} {
		le := checkRequest(m)
		if le == nil || le.code != protocol.CodeLimit {
			t.Errorf("%s: a long id got %v", name, le)
		}
	}
}
