package browsertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// A veth pair with a private address on one end, shared by the tests of one
// process: Chromium gathers no loopback candidates, so the SFU binds and
// advertises this address instead.
var (
	addrOnce sync.Once
	addrIP   string
	addrErr  error
	addrLink string
)

// testIP returns the test address, adding it on first use. The interface
// is removed by removeTestIP from TestMain's cleanup and, for a test run
// that crashed, at the next run's start.
func testIP(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("browser tests need root to add a non-loopback test address (Chromium gathers no loopback ICE candidates)")
	}
	addrOnce.Do(func() {
		pid := os.Getpid()
		addrLink = fmt.Sprintf("rtcbt%d", pid)
		addrIP = fmt.Sprintf("10.77.%d.1", 20+pid%200)
		removeStaleLinks()
		steps := [][]string{
			{"link", "add", addrLink, "type", "veth", "peer", "name", fmt.Sprintf("rtcbp%d", pid)},
			{"addr", "add", addrIP + "/24", "dev", addrLink},
			{"link", "set", addrLink, "up"},
			{"link", "set", fmt.Sprintf("rtcbp%d", pid), "up"},
		}
		for _, s := range steps {
			if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
				addrErr = fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
				removeTestIP()
				return
			}
		}
		registerCleanup(removeTestIP)
	})
	if addrErr != nil {
		t.Skipf("cannot add a test address: %v", addrErr)
	}
	if !hasAddr(addrIP) {
		t.Fatalf("test address %s is not on any interface", addrIP)
	}
	return addrIP
}

func removeTestIP() {
	if addrLink != "" {
		_ = exec.Command("ip", "link", "del", addrLink).Run()
	}
}

func hasAddr(ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}

// Package-level cleanups run by TestMain after every test, even when one
// failed.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func registerCleanup(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func runCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// removeStaleLinks deletes test interfaces of test processes that no longer
// run (a run killed by a timeout cannot clean up after itself).
func removeStaleLinks() {
	out, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")
		pid, ok := strings.CutPrefix(name, "rtcbt")
		if !ok {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue // its test process still runs
		}
		_ = exec.Command("ip", "link", "del", name).Run()
	}
}
