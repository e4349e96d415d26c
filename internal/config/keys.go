package config

import (
	"errors"
	"maps"
	"slices"

	"github.com/rtcloud/rtcloud/internal/auth"
)

// DevKeys is the public development key and secret. A component accepts
// them only when its configuration asks for them (Config.DevKeys), which
// `rtcloud dev` does when no key is configured.
func DevKeys() map[string]string {
	return map[string]string{auth.DevKey: auth.DevSecret}
}

// APIKeys returns the keys tokens are checked against: the configured keys
// (from the YAML `keys:` section, or RTCLOUD_API_KEY/RTCLOUD_API_SECRET,
// which replace it), plus the public dev key only when DevKeys is set.
func (c *Config) APIKeys() map[string]string {
	out := maps.Clone(c.Keys)
	if out == nil {
		out = map[string]string{}
	}
	if c.DevKeys {
		maps.Copy(out, DevKeys())
	}
	return out
}

// KeyIDs returns the ids of the active API keys, sorted, for the startup
// log; secrets are never logged.
func (c *Config) KeyIDs() []string {
	return slices.Sorted(maps.Keys(c.APIKeys()))
}

// DevKeyActive reports whether tokens signed with the public dev key are
// accepted.
func (c *Config) DevKeyActive() bool {
	_, ok := c.APIKeys()[auth.DevKey]
	return ok
}

// ValidateKeys checks that a component that verifies tokens (signaling,
// controller) has at least one key to verify them with.
func (c *Config) ValidateKeys() error {
	if len(c.APIKeys()) == 0 {
		return errNoKeys
	}
	return nil
}

var errNoKeys = errors.New("keys: no API key configured: add a `keys:` section or set RTCLOUD_API_KEY and RTCLOUD_API_SECRET " +
	"(dev_keys: true, RTCLOUD_DEV_KEYS=true or --dev-keys accepts the public dev key, for development only)")
