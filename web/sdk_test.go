package web

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The SDK is served to other origins, with its version in a header and
// at a pinned path; another version's path is a 404.
func TestSDKServedCrossOrigin(t *testing.T) {
	h := Handler()
	for _, url := range []string{"/sdk/rtcloud.js", "/sdk/v" + SDKVersion + "/rtcloud.js", "/sdk/v" + SDKVersion + "/room.js"} {
		res, body := get(t, h, url)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "export") {
			t.Fatalf("GET %s: status %d", url, res.StatusCode)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q", url, got)
		}
		if got := res.Header.Get("X-Rtcloud-SDK-Version"); got != SDKVersion {
			t.Errorf("GET %s: X-Rtcloud-SDK-Version %q, want %s", url, got, SDKVersion)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("GET %s: Content-Type %q", url, ct)
		}
	}
	for _, url := range []string{"/sdk/v0.0.1/rtcloud.js", "/sdk/v" + SDKVersion + "/", "/sdk/v" + SDKVersion + "/missing.js"} {
		if res, _ := get(t, h, url); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", url, res.StatusCode)
		}
	}
}

// package.json, VERSION and the docs' pinned paths name one version;
// the package's entry points exist.
func TestSDKPackageAgrees(t *testing.T) {
	raw, err := files.ReadFile("sdk/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Name    string         `json:"name"`
		Version string         `json:"version"`
		Type    string         `json:"type"`
		Types   string         `json:"types"`
		Exports map[string]any `json:"exports"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	if pkg.Version != SDKVersion || pkg.Type != "module" || pkg.Name != "@rtcloud/sdk" {
		t.Fatalf("package.json: %+v; VERSION %s", pkg, SDKVersion)
	}
	dot, _ := pkg.Exports["."].(map[string]any)
	for _, f := range []string{pkg.Types, dot["types"].(string), dot["default"].(string)} {
		if _, err := files.ReadFile("sdk/" + strings.TrimPrefix(f, "./")); err != nil {
			t.Errorf("package.json names %s: %v", f, err)
		}
	}
	doc, err := os.ReadFile("../docs/sdk.md")
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`/sdk/v(\d+\.\d+\.\d+)/|rtcloud-sdk-(\d+\.\d+\.\d+)\.tgz`).FindAllStringSubmatch(string(doc), -1)
	if len(pinned) == 0 {
		t.Fatal("docs/sdk.md names no pinned SDK version")
	}
	for _, v := range pinned {
		if got := v[1] + v[2]; got != SDKVersion {
			t.Errorf("docs/sdk.md names version %s, the SDK is %s", got, SDKVersion)
		}
	}
}

// docs/sdk.md names every export of rtcloud.d.ts and every member of its
// classes.
func TestSDKDocsCoverDeclarations(t *testing.T) {
	dts, err := files.ReadFile("sdk/rtcloud.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/sdk.md")
	if err != nil {
		t.Fatal(err)
	}
	// Names in inline code of the prose (code blocks do not count).
	prose := regexp.MustCompile("(?s)```.*?```").ReplaceAllString(string(doc), "")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(prose, -1) {
		for _, w := range regexp.MustCompile(`[A-Za-z_$][\w$]*`).FindAllString(m[1], -1) {
			documented[w] = true
		}
	}
	exports := regexp.MustCompile(`(?m)^export (?:declare )?(?:const|class|function|type|interface) (\w+)`).FindAllStringSubmatch(string(dts), -1)
	if len(exports) < 20 {
		t.Fatalf("found only %d exports in rtcloud.d.ts", len(exports))
	}
	for _, e := range exports {
		if !documented[e[1]] {
			t.Errorf("docs/sdk.md does not name the export %s", e[1])
		}
	}
	// Members of the exported classes: "  readonly name:" and "  name(".
	classes := regexp.MustCompile(`(?ms)^export declare class (\w+)[^{]*\{(.*?)^\}`).FindAllStringSubmatch(string(dts), -1)
	if len(classes) == 0 {
		t.Fatal("found no exported class in rtcloud.d.ts")
	}
	member := regexp.MustCompile(`(?m)^  (?:readonly )?(\w+)[(:<?]`)
	for _, c := range classes {
		for _, m := range member.FindAllStringSubmatch(c[2], -1) {
			if m[1] != "constructor" && !documented[m[1]] {
				t.Errorf("docs/sdk.md does not name %s.%s", c[1], m[1])
			}
		}
	}
}
