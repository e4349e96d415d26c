package config

import (
	"strings"
	"testing"
)

func TestWebhooksConfig(t *testing.T) {
	c := Default()
	c.Keys = map[string]string{"k": "s"}
	c.Webhooks.URLs = []string{"https://hooks.example.com/rtc"}
	c.Webhooks.Namespaces = map[string]WebhookNamespace{"acme": {URLs: []string{"http://acme.internal/hook"}}}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid webhooks refused: %v", err)
	}
	c.Webhooks.URLs = []string{"ftp://x", "not a url"}
	c.Webhooks.APIKey = "nope"
	err := c.Validate()
	for _, want := range []string{`webhooks.urls: "ftp://x"`, `"not a url"`, `webhooks.api_key "nope"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	c = Default()
	if err := c.applyEnv(func(k string) (string, bool) {
		if k == "RTCLOUD_WEBHOOK_URLS" {
			return "http://a/1, http://b/2", true
		}
		return "", false
	}); err != nil {
		t.Fatal(err)
	}
	if len(c.Webhooks.URLs) != 2 || c.Webhooks.URLs[1] != "http://b/2" || !c.Webhooks.Enabled() {
		t.Fatalf("RTCLOUD_WEBHOOK_URLS gave %v", c.Webhooks.URLs)
	}
}

func TestWebhooksYAMLStrict(t *testing.T) {
	var c Config
	if err := decodeStrict([]byte("webhooks:\n  urls: [http://x/y]\n  retry_for: 1m\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := decodeStrict([]byte("webhooks:\n  url: http://x/y\n"), &c); err == nil {
		t.Fatal("unknown key webhooks.url accepted")
	}
}
