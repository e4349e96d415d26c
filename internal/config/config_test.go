package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadYAML(t *testing.T) {
	c, err := Load(write(t, "sfu:\n  media_port: 9000\n  region: eu\nkeys:\n  k1: s1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SFU.MediaPort != 9000 || c.SFU.Region != "eu" || c.Keys["k1"] != "s1" || c.Signal.HTTPAddr != ":7800" {
		t.Fatalf("config = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyIsError(t *testing.T) {
	_, err := Load(write(t, "sfu:\n  media_prot: 9000\n"))
	if err == nil || !strings.Contains(err.Error(), "media_prot") {
		t.Fatalf("err = %v, want one naming media_prot", err)
	}
}

func TestEmptyFile(t *testing.T) {
	if _, err := Load(write(t, "")); err != nil {
		t.Fatal(err)
	}
}

func TestEnvOverrides(t *testing.T) {
	c := Default()
	env := map[string]string{"RTCLOUD_MEDIA_PORT": "7000", "RTCLOUD_ADVERTISE_IP": "10.0.0.1, 10.0.0.2", "RTCLOUD_API_KEY": "k", "RTCLOUD_API_SECRET": "s"}
	if err := c.applyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.SFU.MediaPort != 7000 || len(c.SFU.AdvertiseIPs) != 2 || c.Keys["k"] != "s" {
		t.Fatalf("config = %+v", c)
	}
	env = map[string]string{"RTCLOUD_MEDIA_PORT": "x"}
	if err := c.applyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil {
		t.Fatal("want error for non-numeric port")
	}
}

func TestValidateMessages(t *testing.T) {
	c := Default()
	c.SFU.MediaPort = 70000
	c.SFU.AdvertiseIPs = []string{"nope"}
	c.Log.Level = "loud"
	err := c.Validate()
	for _, want := range []string{"media_port", "advertise_ips", "log.level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want mention of %s", err, want)
		}
	}
}

func TestSFUTuning(t *testing.T) {
	c, err := Load(write(t, "sfu:\n  read_buffer_bytes: 262144\n  retransmit:\n    max_age: 300ms\n    per_subscriber: 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SFU.ReadBufferBytes != 262144 || c.SFU.Retransmit.MaxAge.Milliseconds() != 300 || c.SFU.Retransmit.PerSubscriber != 50 {
		t.Fatalf("sfu = %+v", c.SFU)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.SFU.Retransmit.NodeShare = 2
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sfu.retransmit") {
		t.Fatalf("err = %v, want sfu.retransmit", err)
	}
}
