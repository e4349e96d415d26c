package config

import (
	"slices"
	"testing"

	"github.com/rtcloud/rtcloud/internal/auth"
)

// A `keys:` section replaces everything else: the public dev key is not
// accepted unless dev_keys asks for it.
func TestYAMLKeysReplaceDevKey(t *testing.T) {
	c, err := Load(write(t, "keys:\n  prod: s3cret\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.KeyIDs(); !slices.Equal(got, []string{"prod"}) || c.DevKeyActive() {
		t.Fatalf("key ids %v, dev key active %v; want only prod", got, c.DevKeyActive())
	}
	if err := c.ValidateKeys(); err != nil {
		t.Fatal(err)
	}
	c.DevKeys = true
	if got := c.KeyIDs(); !slices.Equal(got, []string{auth.DevKey, "prod"}) {
		t.Fatalf("with dev_keys: %v", got)
	}
}

func TestNoKeysByDefault(t *testing.T) {
	c := Default()
	if len(c.APIKeys()) != 0 || c.ValidateKeys() == nil {
		t.Fatalf("defaults accept keys %v", c.KeyIDs())
	}
	env := map[string]string{"RTCLOUD_DEV_KEYS": "true"}
	if err := c.applyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if !c.DevKeyActive() {
		t.Fatal("RTCLOUD_DEV_KEYS=true does not accept the dev key")
	}
	env = map[string]string{"RTCLOUD_API_KEY": "k"}
	if err := c.applyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil {
		t.Fatal("a key without a secret is accepted")
	}
}
