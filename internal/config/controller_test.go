package config

import (
	"strings"
	"testing"
)

func TestControllerSection(t *testing.T) {
	c, err := Load(write(t, `controller:
  policy: nearest
  geoip:
    cidrs:
      - {cidr: 10.1.0.0/16, region: eu}
  pools:
    gold: ["gold-*"]
  namespaces:
    acme: {pools: [gold], regions: [eu]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Controller.Policy != "nearest" || c.Controller.HTTPAddr != ":7900" || c.Controller.Namespaces["acme"].Pools[0] != "gold" {
		t.Fatalf("controller = %+v", c.Controller)
	}
	c.Controller.Policy = "random"
	c.Controller.GeoIP.CIDRs = append(c.Controller.GeoIP.CIDRs, GeoCIDR{CIDR: "10.0.0.0/40", Region: "x"})
	c.Controller.Namespaces["bad"] = NamespacePlacement{Pools: []string{"silver"}}
	err = c.Validate()
	for _, want := range []string{"controller.policy", "10.0.0.0/40", "silver"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want mention of %s", err, want)
		}
	}
}
