package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The rtcloud binary is built once per test process, on first use.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Binary builds cmd/rtcloud once per test process and returns its path;
// TestMain calls RemoveBinary when the tests are done.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "rtcloud-test-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "rtcloud")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/rtcloud/rtcloud/cmd/rtcloud").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// RemoveBinary deletes what Binary built.
func RemoveBinary() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}
