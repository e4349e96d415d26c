// Package grafana holds the Grafana dashboard for rtcloud's Prometheus
// metrics (rtcloud.json); its test checks the dashboard against the code.
package grafana

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestDashboardMatchesMetrics: the file is a Grafana dashboard whose
// panels all use the datasource variable, fit the 24-column grid, and
// query only rtcloud metrics that the code defines (the relay panels
// match rtcloud_relay_* by pattern and show whatever exists).
func TestDashboardMatchesMetrics(t *testing.T) {
	raw, err := os.ReadFile("rtcloud.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("rtcloud.json: %v", err)
	}
	code := goSources(t)
	name := regexp.MustCompile(`\brtcloud_[a-z_]+\b`)
	queries := 0
	for _, p := range d.Panels {
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 {
			t.Errorf("panel %q: grid position %+v outside 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource is not ${datasource}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			for _, m := range name.FindAllString(q.Expr, -1) {
				if m == "rtcloud_relay_" || strings.HasPrefix(m, "rtcloud_relay_") && strings.Contains(q.Expr, "__name__=~") {
					continue
				}
				base := strings.TrimSuffix(m, "_bucket")
				if !strings.Contains(code, `"`+base+`"`) {
					t.Errorf("panel %q queries %s, which no Go file defines", p.Title, m)
				}
			}
		}
	}
	if d.UID == "" || queries < 20 {
		t.Fatalf("uid %q, %d queries: not the full dashboard", d.UID, queries)
	}
}

// goSources is every non-test Go file of the repository, concatenated.
func goSources(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "node_modules" || strings.HasPrefix(e.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
