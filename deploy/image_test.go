// Package deploy holds how rtcloud is shipped: the container image
// (Containerfile, scripts/image.sh) and the Kubernetes manifests. Its test
// builds the image and checks it from outside.
package deploy

import (
	"archive/tar"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageTool is the container tool the test can inspect images with.
func imageTool(t *testing.T) string {
	for _, tool := range []string{"podman", "docker"} {
		if _, err := exec.LookPath(tool); err == nil {
			return tool
		}
	}
	t.Skip("neither podman nor docker is installed (scripts/test-deps.sh installs podman)")
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// builtImage is an image built by scripts/image.sh for a test, removed
// when the test ends, and its filesystem unpacked.
type builtImage struct {
	tool, ref, version, root string
	user                     string
	uid                      int
	entrypoint               []string
	labels                   map[string]string
	size                     int64
}

// buildImage builds the image of kind (plain or media) with make image's
// script and unpacks it.
func buildImage(t *testing.T, kind string) builtImage {
	t.Helper()
	tool := imageTool(t)
	version := fmt.Sprintf("imagetest-%d", os.Getpid())
	image := "localhost/rtcloud-imagetest-" + kind
	cmd := exec.Command("../scripts/image.sh")
	cmd.Env = append(os.Environ(), "IMAGE="+image, "VERSION="+version, "CONTAINER_TOOL="+tool, "KIND="+kind)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("scripts/image.sh: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	ref := lines[len(lines)-1]
	if ref != image+":"+version {
		t.Fatalf("image.sh printed %q, want %s:%s", ref, image, version)
	}
	t.Cleanup(func() { _ = exec.Command(tool, "rmi", "-f", ref, image+":latest").Run() })

	var inspect []struct {
		Config struct {
			User       string
			Entrypoint []string
			Labels     map[string]string
		}
		Size int64
	}
	if err := json.Unmarshal([]byte(run(t, tool, "image", "inspect", ref)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	b := builtImage{tool: tool, ref: ref, version: version, user: inspect[0].Config.User,
		entrypoint: inspect[0].Config.Entrypoint, labels: inspect[0].Config.Labels, size: inspect[0].Size}
	b.uid, _ = strconv.Atoi(strings.Split(b.user, ":")[0])
	b.root = unpack(t, tool, ref)
	t.Logf("image %s: %d MB, user %s", ref, b.size>>20, b.user)
	return b
}

// TestImage builds the image, unpacks its filesystem and checks it: a
// static binary that reports the version, runs `rtcloud dev` as the
// image's non-root user and answers /healthz.
func TestImage(t *testing.T) {
	img := buildImage(t, "plain")
	if img.user == "" || strings.HasPrefix(img.user, "0") || strings.HasPrefix(img.user, "root") {
		t.Errorf("image runs as %q, want a non-root user", img.user)
	}
	if len(img.entrypoint) != 1 || img.entrypoint[0] != "/usr/local/bin/rtcloud" {
		t.Errorf("entrypoint %v", img.entrypoint)
	}
	if v := img.labels["org.opencontainers.image.version"]; v != img.version {
		t.Errorf("version label %q, want %q", v, img.version)
	}
	bin := filepath.Join(img.root, "usr/local/bin/rtcloud")
	checkStatic(t, bin)
	checkFiles(t, img.root, img.uid)
	if got := run(t, bin, "--version"); got != "rtcloud "+img.version {
		t.Errorf("rtcloud --version: %q, want %q", got, "rtcloud "+img.version)
	}
	runDev(t, bin, uint32(img.uid), img.version)
}

// TestMediaImage builds the media image (KIND=media: the same plus ffmpeg
// for egress, ingress and sip) and runs its ffmpeg and ffprobe inside the
// image's own filesystem (chroot), so every library they need is there.
func TestMediaImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running the image's ffmpeg needs chroot (root)")
	}
	img := buildImage(t, "media")
	if img.labels["org.opencontainers.image.title"] != "rtcloud-media" {
		t.Errorf("title label %q", img.labels["org.opencontainers.image.title"])
	}
	checkStatic(t, filepath.Join(img.root, "usr/local/bin/rtcloud"))
	for _, prog := range []string{"ffmpeg", "ffprobe"} {
		out, err := exec.Command("chroot", "--userspec="+img.user, img.root, "/usr/bin/"+prog, "-hide_banner", "-version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), prog+" version") {
			t.Errorf("%s in the image: %v\n%s", prog, err, out)
		}
	}
	// It encodes, as the egress does: a second of a test pattern to H.264.
	out, err := exec.Command("chroot", "--userspec="+img.user, img.root, "/usr/bin/ffmpeg", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", "1", "-c:v", "libx264", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Errorf("ffmpeg in the image does not encode: %v\n%s", err, out)
	}
	if got := run(t, "chroot", "--userspec="+img.user, img.root, "/usr/local/bin/rtcloud", "--version"); got != "rtcloud "+img.version {
		t.Errorf("rtcloud --version in the media image: %q", got)
	}
}

// unpack exports the image's filesystem (a created, never started
// container) into a directory.
func unpack(t *testing.T, tool, ref string) string {
	t.Helper()
	id := run(t, tool, "create", ref)
	defer func() { _ = exec.Command(tool, "rm", "-f", id).Run() }()
	tarPath := filepath.Join(t.TempDir(), "fs.tar")
	run(t, tool, "export", "-o", tarPath, id)
	// Not t.TempDir: its parent is private, and the image's user must
	// reach the binary.
	root, err := os.MkdirTemp("", "rtcloud-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm|os.FileMode(h.Mode)&os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(p, fileMode(h.Mode))
			_ = os.Lchown(p, h.Uid, h.Gid)
		case tar.TypeReg:
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			_ = w.Close()
			_ = os.Lchown(p, h.Uid, h.Gid)
		}
	}
	return root
}

func fileMode(m int64) os.FileMode {
	mode := os.FileMode(m) & os.ModePerm
	if m&01000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// checkStatic fails unless bin is a statically linked ELF executable.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("binary in the image: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links shared libraries %v", libs)
	}
}

// checkFiles checks the image holds the binary, CA certificates, the user
// and a writable /tmp, and nothing else of size.
func checkFiles(t *testing.T, root string, uid int) {
	t.Helper()
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), ":"+strconv.Itoa(uid)+":") {
		t.Errorf("/etc/passwd has no user %d: %q %v", uid, passwd, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); err != nil || fi.Size() == 0 {
		t.Errorf("no CA certificates: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp is not a sticky, world-writable directory: %v %v", fi, err)
	}
	var files []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	want := map[string]bool{"usr/local/bin/rtcloud": true, "etc/passwd": true, "etc/group": true, "etc/ssl/certs/ca-certificates.crt": true}
	for _, f := range files {
		if !want[f] {
			t.Errorf("unexpected file in the image: %s", f)
		}
	}
}

// runDev starts `rtcloud dev` from the unpacked image as the image's user
// and waits for /healthz and /version.
func runDev(t *testing.T, bin string, uid uint32, version string) {
	t.Helper()
	httpPort, mediaPort := freePort(t, "tcp"), freePort(t, "udp")
	tmp := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(bin)))), "tmp") // the image's /tmp
	cmd := exec.Command(bin, "dev", "--http", "127.0.0.1:"+strconv.Itoa(httpPort), "--media-port", strconv.Itoa(mediaPort), "--advertise-ip", "127.0.0.1")
	cmd.Env = []string{"TMPDIR=" + tmp, "HOME=" + tmp}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if os.Geteuid() != 0 {
		cmd.SysProcAttr = nil // cannot switch users; still runs unprivileged
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if v := resp.Header.Get("X-Rtcloud-Version"); v != version {
					t.Errorf("/healthz version header %q, want %q", v, version)
				}
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("rtcloud dev from the image exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rtcloud dev from the image never became healthy:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(base + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Version != version {
		t.Errorf("/version: %+v %v, want %s", v, err, version)
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}
