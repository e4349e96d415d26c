// Package web holds the browser side of rtcloud, embedded in the binary:
// the JavaScript SDK (web/sdk, plain ES modules with TypeScript
// declarations), the conference page served at "/" and the WHEP viewer page
// served at "/watch/{room}".
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
)

//go:embed index.html watch.html static sdk
var files embed.FS

// Handler serves the conference page at "/", the viewer page at
// "/watch/{room}", the SDK under "/sdk/" and page assets under "/static/".
// Everything else is 404.
func Handler() http.Handler { return HandlerWith(nil) }

// HandlerWith is Handler with every other request passed to next (the
// signaling server's handler, say), so one mux entry serves both:
//
//	mux.Handle("/", web.HandlerWith(sig.Handler()))
func HandlerWith(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	if next != nil {
		mux.Handle("/", next)
	}
	mux.Handle("GET /sdk/", sdkAssets(assets(http.FileServerFS(files))))
	mux.Handle("GET /static/", assets(http.FileServerFS(files)))
	mux.HandleFunc("GET /{$}", page("index.html"))
	mux.HandleFunc("GET /watch/{room}", page("watch.html"))
	return mux
}

// SDKVersion is the version of the embedded browser SDK (web/sdk/version.js).
var SDKVersion = func() string {
	src, err := files.ReadFile("sdk/version.js")
	if err != nil {
		panic("web: sdk/version.js is not embedded")
	}
	m := regexp.MustCompile(`VERSION = '([^']+)'`).FindSubmatch(src)
	if m == nil {
		panic("web: no VERSION in sdk/version.js")
	}
	return string(m[1])
}()

// sdkAssets serves the SDK to pages of any origin (CORS) and names its
// version in a header; /sdk/v{SDKVersion}/... is the same files at a path
// that changes with the version, for pages that pin it.
func sdkAssets(next http.Handler) http.Handler {
	pinned := "/sdk/v" + SDKVersion + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "X-Rtcloud-SDK-Version")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		h.Set("X-Rtcloud-SDK-Version", SDKVersion)
		if rest, ok := strings.CutPrefix(r.URL.Path, pinned); ok {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/sdk/" + rest
			r2.URL.RawPath = ""
			next.ServeHTTP(w, r2)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/sdk/v") && strings.Count(r.URL.Path, "/") > 2 {
			http.Error(w, "this server has SDK version "+SDKVersion, http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// FS returns the embedded files (index.html, watch.html, static/, sdk/).
func FS() fs.FS { return files }

func page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := files.ReadFile(name)
		if err != nil {
			http.Error(w, "page not found", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(data)
	}
}

// assets sets headers for static files: JavaScript modules need a
// JavaScript content type, and revalidation keeps a dev server fresh.
func assets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch {
		case strings.HasSuffix(r.URL.Path, ".js"):
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case strings.HasSuffix(r.URL.Path, ".ts"):
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		next.ServeHTTP(w, r)
	})
}
