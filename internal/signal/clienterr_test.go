package signal

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rtcloud/rtcloud/internal/protocol"
	"github.com/rtcloud/rtcloud/internal/testenv"
)

// When the node is gone, clients get a stable code and a plain message;
// the bus subject, the node id and the library's error stay in the log.
func TestErrorsHideInternals(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("")
	c.join(testenv.Mint(t, "ns", "r", "alice"))
	alice := testenv.Mint(t, "ns", "r", "obs")
	res := do(t, "POST", h.web.URL+"/whip/r", alice, "application/sdp", testOffer)
	if res.status != http.StatusCreated {
		t.Fatalf("WHIP POST = %d %q", res.status, res.body)
	}
	h.node.Stop()

	c.send(protocol.Message{Type: protocol.TypeOffer, ID: "o", SDP: testOffer})
	e := c.expect(protocol.TypeError, nil)
	frag := "a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n"
	patch := do(t, "PATCH", h.web.URL+res.header.Get("Location"), alice, typeSDPFrag, frag, "If-Match", "*")
	if e.Error.Code != protocol.CodeUnavailable || patch.status != http.StatusServiceUnavailable {
		t.Fatalf("offer error %+v, PATCH %d %q; want unavailable and 503", e.Error, patch.status, patch.body)
	}
	for _, msg := range []string{e.Error.Message, patch.body} {
		for _, leak := range []string{"node1", "rtcloud.", "nats", "no responders"} {
			if strings.Contains(msg, leak) {
				t.Errorf("client message %q shows internals (%q)", msg, leak)
			}
		}
	}
}
