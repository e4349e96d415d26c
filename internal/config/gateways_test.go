package config

import (
	"strings"
	"testing"
)

// The gateway sections: defaults validate, and each bad value is named.
func TestGatewayConfig(t *testing.T) {
	c := Default()
	c.DevKeys = true
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Ingress.RTMPAddr = "1935" }, "ingress.rtmp_addr"},
		{func(c *Config) { c.Ingress.SignalURL = "http://x" }, "ingress.signal_url"},
		{func(c *Config) { c.Ingress.AudioKbps = 1 }, "ingress.audio_kbps"},
		{func(c *Config) { c.Ingress.APIKey = "nope" }, "ingress.api_key"},
		{func(c *Config) { c.SIP.RTPPortMin, c.SIP.RTPPortMax = 20000, 10000 }, "sip.rtp_port_min"},
		{func(c *Config) { c.SIP.AdvertiseIP = "host" }, "sip.advertise_ip"},
		{func(c *Config) { c.SIP.Rules = []DialRule{{To: "1", Room: "a b"}} }, "sip.rules[0]"},
		{func(c *Config) { c.SIP.Rules = []DialRule{{To: "1", Room: "r", PIN: "12a"}} }, "digits only"},
		{func(c *Config) { c.SIP.RTPTimeout = 0 }, "sip.rtp_timeout"},
	}
	for _, tc := range cases {
		c := Default()
		c.DevKeys = true
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %q, got %v", tc.want, err)
		}
	}
	c = Default()
	c.Ingress.RTMPAddr, c.SIP.Addr = "", "" // off in dev
	if err := c.Validate(); err != nil {
		t.Fatalf("gateways off: %v", err)
	}
	c.Keys = map[string]string{"k1": "s1", "k0": "s0"}
	if k, s := c.SigningKey(""); k != "k0" || s != "s0" {
		t.Fatalf("signing key %s/%s", k, s)
	}
}

func TestLoadGatewayYAML(t *testing.T) {
	var c Config = Default()
	err := decodeStrict([]byte("ingress:\n  rtmp_addr: \":1936\"\n  simulcast: true\nsip:\n  rules:\n    - {to: \"5000\", room: board, pin: \"4321\"}\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ingress.RTMPAddr != ":1936" || !c.Ingress.Simulcast || len(c.SIP.Rules) != 1 || c.SIP.Rules[0].PIN != "4321" {
		t.Fatalf("%+v %+v", c.Ingress, c.SIP.Rules)
	}
	if err := decodeStrict([]byte("sip:\n  nope: 1\n"), &c); err == nil {
		t.Fatal("unknown sip key accepted")
	}
}
