package config

import (
	"strings"
	"testing"
)

func TestRelayConfig(t *testing.T) {
	c, err := Load(write(t, "relay:\n  secret: 0123456789abcdef\n  links:\n    - [eu, us]\n    - [us, ap]\n    - [sfu-eu-1, sfu-ap-1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := c.Relay
	if r.RouteInterval <= 0 || r.Hysteresis.Rounds != 3 {
		t.Fatalf("defaults lost: %+v", r)
	}
	for _, tc := range []struct {
		a, ar, b, br string
		want         bool
	}{
		{"sfu-eu-1", "eu", "sfu-us-1", "us", true},
		{"sfu-us-1", "us", "sfu-eu-2", "eu", true},
		{"sfu-eu-2", "eu", "sfu-ap-1", "ap", false},
		{"sfu-ap-1", "ap", "sfu-eu-1", "eu", true},
		{"sfu-eu-1", "eu", "sfu-eu-2", "eu", true},
	} {
		if got := r.AllowsLink(tc.a, tc.ar, tc.b, tc.br); got != tc.want {
			t.Errorf("%s-%s: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if !(Relay{}).AllowsLink("a", "eu", "b", "ap") {
		t.Error("no links configured must mean a full mesh")
	}
}

func TestRelayConfigErrors(t *testing.T) {
	c, err := Load(write(t, "relay:\n  secret: short\n  links:\n    - [eu]\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "relay.secret") || !strings.Contains(err.Error(), "relay.links[0]") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("RTCLOUD_RELAY_SECRET", "from-the-environment")
	c, err = Load("")
	if err != nil || c.Relay.Secret != "from-the-environment" {
		t.Fatalf("env: %v %q", err, c.Relay.Secret)
	}
}
