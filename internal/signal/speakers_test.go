package signal

import (
	"testing"

	"github.com/rtcloud/rtcloud/internal/bus"
)

// A room spanning nodes gets active speakers from each node; the client
// is sent their union, loudest first, and a node's silence clears its
// part only.
func TestMergeSpeakers(t *testing.T) {
	c := &conn{}
	ids := func(sp []bus.Speaker) string {
		s := ""
		for _, x := range sp {
			s += x.Identity + " "
		}
		return s
	}
	c.mergeSpeakers("eu", []bus.Speaker{{Identity: "anna", SessionID: "a", Level: 0.2}})
	got := c.mergeSpeakers("us", []bus.Speaker{{Identity: "bob", SessionID: "b", Level: 0.5}, {Identity: "cy", SessionID: "c", Level: 0.1}})
	if ids(got) != "bob anna cy " {
		t.Fatalf("union: %q", ids(got))
	}
	if got := c.mergeSpeakers("us", nil); ids(got) != "anna " {
		t.Fatalf("after us went quiet: %q", ids(got))
	}
	if got := c.mergeSpeakers("eu", []bus.Speaker{}); got == nil || len(got) != 0 {
		t.Fatalf("all quiet: %#v, want an empty list", got)
	}
}
