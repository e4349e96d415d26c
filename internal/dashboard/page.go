package dashboard

import (
	"io/fs"
	"net/http"

	"github.com/rtcloud/rtcloud/web/dashboard"
)

// pageHandler serves the embedded page and its assets under /dashboard/.
func pageHandler() http.Handler {
	sub, _ := fs.Sub(dashboard.FS(), ".")
	files := http.StripPrefix("/dashboard/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
		w.Header().Set("X-Frame-Options", "DENY")
		files.ServeHTTP(w, r)
	})
}
