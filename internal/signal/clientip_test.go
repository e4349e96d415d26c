package signal

import (
	"net/http"
	"testing"
)

func TestClientAddr(t *testing.T) {
	c, err := newClientAddr([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		peer string
		xff  []string
		want string
	}{
		{"198.51.100.1:5000", nil, "198.51.100.1"},                                   // direct client
		{"198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"},               // untrusted peer: header ignored
		{"10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},                    // one trusted proxy
		{"10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"}, // spoofed left part ignored
		{"10.1.2.3:5000", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},         // several header lines
		{"192.0.2.7:5000", []string{"bogus, 10.0.0.5"}, "10.0.0.5"},                  // malformed hop stops the walk
		{"10.1.2.3:5000", nil, "10.1.2.3"},                                           // trusted peer, no header
		{"[::ffff:10.1.2.3]:5000", []string{"2001:db8::1"}, "2001:db8::1"},           // mapped peer, IPv6 client
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.of(r); got != tc.want {
			t.Errorf("peer %s xff %q: got %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := newClientAddr([]string{"not-a-cidr"}); err == nil {
		t.Fatal("want an error for a bad CIDR")
	}
}
