package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, url string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestHandlerServesPages(t *testing.T) {
	h := Handler()
	cases := []struct {
		url, ctype, contains string
	}{
		{"/", "text/html", `src="/static/app.js"`},
		{"/?room=demo", "text/html", `id="join-form"`},
		{"/watch/demo", "text/html", `src="/static/watch.js"`},
		{"/sdk/rtcloud.js", "text/javascript", "export"},
		{"/sdk/rtcloud.d.ts", "text/plain", "declare class Room"},
		{"/static/app.js", "text/javascript", "rtcloudApp"},
		{"/static/style.css", "text/css", ".tile"},
	}
	for _, c := range cases {
		res, body := get(t, h, c.url)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", c.url, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.url, ct, c.ctype)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.url, c.contains)
		}
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := Handler()
	for _, url := range []string{"/nope", "/sdk/", "/static/", "/sdk/missing.js", "/watch/", "/index.html/x"} {
		if res, _ := get(t, h, url); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", url, res.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", rec.Code)
	}
}

func TestHandlerWithFallback(t *testing.T) {
	var got []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h := HandlerWith(next)
	for _, c := range []struct {
		method, url string
		status      int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodGet, "/watch/demo", http.StatusOK},
		{http.MethodGet, "/sdk/rtcloud.js", http.StatusOK},
		{http.MethodGet, "/ws", http.StatusTeapot},
		{http.MethodPost, "/whip/demo", http.StatusTeapot},
		{http.MethodGet, "/dev/token", http.StatusTeapot},
		{http.MethodPost, "/", http.StatusTeapot},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.url, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.url, rec.Code, c.status)
		}
	}
	want := "GET /ws,POST /whip/demo,GET /dev/token,POST /"
	if s := strings.Join(got, ","); s != want {
		t.Errorf("passed on %s, want %s", s, want)
	}
}

var importRE = regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]`)

// TestModuleImportsResolve checks that every import of every embedded
// module names an embedded file, so a renamed file cannot break the page
// silently.
func TestModuleImportsResolve(t *testing.T) {
	n := 0
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range importRE.FindAllStringSubmatch(string(data), -1) {
			spec := m[1]
			var target string
			switch {
			case strings.HasPrefix(spec, "/"):
				target = strings.TrimPrefix(spec, "/")
			case strings.HasPrefix(spec, "."):
				target = path.Join(path.Dir(p), spec)
			default:
				t.Errorf("%s imports bare specifier %q (no build step: use a path)", p, spec)
				continue
			}
			n++
			if _, err := fs.Stat(files, target); err != nil {
				t.Errorf("%s imports %q: %v", p, spec, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d imports; the import pattern is broken", n)
	}
}
