package config

import (
	"strings"
	"testing"
)

func TestSignalLimits(t *testing.T) {
	c, err := Load(write(t, "keys: {k: s}\nsignal:\n  limits:\n    data_rate: 10\n    media_sections: 32\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Signal.Limits; l.DataRate != 10 || l.MediaSections != 32 || l.Candidates != 0 {
		t.Fatalf("limits %+v", l)
	}
	c.Signal.Limits.Candidates = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "signal.limits") {
		t.Fatalf("negative limit: %v", err)
	}
}
