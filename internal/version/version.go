// Package version holds the version compiled into the rtcloud binary.
//
// Builds set it with -ldflags "-X github.com/rtcloud/rtcloud/internal/version.Version=$(git describe ...)"
// (make build and make image do); a plain `go build` reports the module's
// version from the build information, or "dev".
package version

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
)

// Version is set at link time; empty means "ask the build information".
var Version string

// String is the version of this binary.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Info is what GET /version answers.
type Info struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

// Handler serves GET /version as JSON.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Info{Version: String(), Go: runtime.Version()})
	})
}
