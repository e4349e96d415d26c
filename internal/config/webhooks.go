package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Webhooks configures the HTTP callbacks the leader controller sends for
// room, participant and track events.
type Webhooks struct {
	// URLs receive the events of every namespace.
	URLs []string `yaml:"urls"`
	// Namespaces add URLs that receive the events of one namespace only.
	Namespaces map[string]WebhookNamespace `yaml:"namespaces"`
	// APIKey names the key (of keys) whose secret signs the requests;
	// default: the only key, or the first in sorted order.
	APIKey string `yaml:"api_key"`
	// Timeout bounds one HTTP request.
	Timeout time.Duration `yaml:"timeout"`
	// RetryFor is how long an event is retried (with backoff) before it is
	// given up; later events of the same room wait behind it until then.
	RetryFor time.Duration `yaml:"retry_for"`
	// FileStorage keeps the event streams on disk instead of in memory.
	FileStorage bool `yaml:"file_storage"`
}

// WebhookNamespace lists the URLs of one namespace.
type WebhookNamespace struct {
	URLs []string `yaml:"urls"`
}

// DefaultWebhooks returns the webhook defaults (no URLs: no webhooks).
func DefaultWebhooks() Webhooks {
	return Webhooks{Timeout: 5 * time.Second, RetryFor: 10 * time.Minute}
}

// Enabled reports whether any URL is configured.
func (w *Webhooks) Enabled() bool {
	if len(w.URLs) > 0 {
		return true
	}
	for _, n := range w.Namespaces {
		if len(n.URLs) > 0 {
			return true
		}
	}
	return false
}

func (w *Webhooks) validate(keys map[string]string) []error {
	var errs []error
	check := func(where string, urls []string) {
		for _, u := range urls {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", where, u))
			}
		}
	}
	check("webhooks.urls", w.URLs)
	for ns, n := range w.Namespaces {
		check("webhooks.namespaces."+ns+".urls", n.URLs)
	}
	if w.APIKey != "" {
		if _, ok := keys[w.APIKey]; !ok && len(keys) > 0 {
			errs = append(errs, fmt.Errorf("webhooks.api_key %q: not one of keys", w.APIKey))
		}
	}
	if w.Timeout <= 0 {
		errs = append(errs, errors.New("webhooks.timeout: must be positive"))
	}
	if w.RetryFor <= 0 {
		errs = append(errs, errors.New("webhooks.retry_for: must be positive"))
	}
	return errs
}

// applyEnv reads RTCLOUD_WEBHOOK_URLS (comma-separated; replaces urls).
func (w *Webhooks) applyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup("RTCLOUD_WEBHOOK_URLS"); ok {
		w.URLs = splitList(v)
	}
}
