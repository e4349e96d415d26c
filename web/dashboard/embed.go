// Package dashboard holds the cluster dashboard's page: plain HTML, CSS and
// ES modules, embedded in the binary and served by internal/dashboard. No
// build step, nothing from a CDN.
package dashboard

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js charts.js style.css
var files embed.FS

// FS returns the page's files.
func FS() fs.FS { return files }
