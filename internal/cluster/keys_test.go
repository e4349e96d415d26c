package cluster

import (
	"slices"
	"strings"
	"testing"
)

// The children that verify tokens get the keys through their config file;
// the public dev key only when the cluster has no keys or asks for it.
func TestPlanKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		devKeys bool
	}{
		{"no keys", Options{}, true},
		{"configured keys", Options{Keys: map[string]string{"prod": "s3cret-s3cret-s3cret"}}, false},
		{"keys and dev keys", Options{Keys: map[string]string{"prod": "x"}, DevKeys: true}, true},
	} {
		o := tc.o
		o.Exe, o.Nodes, o.Regions, o.Signals, o.Controllers, o.Host = "rtcloud", 1, []string{"eu"}, 1, 1, "127.0.0.1"
		for _, c := range o.Plan("nats://x", "/tmp/cfg.yaml") {
			verifies := strings.HasPrefix(c.Name, "signal") || strings.HasPrefix(c.Name, "controller")
			if got := slices.Contains(c.Args, "--dev-keys"); got != (verifies && tc.devKeys) {
				t.Errorf("%s: %s has --dev-keys %v", tc.name, c.Name, got)
			}
			if verifies && !slices.Contains(c.Args, "/tmp/cfg.yaml") {
				t.Errorf("%s: %s gets no config file: %v", tc.name, c.Name, c.Args)
			}
		}
	}
	if y := keysYAML(map[string]string{"b": "2", "a": "1"}); y != "keys:\n  \"a\": \"1\"\n  \"b\": \"2\"\n" {
		t.Fatalf("keys section %q", y)
	}
}
