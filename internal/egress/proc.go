package egress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a supervised ffmpeg subprocess in its own process group. Its
// Wait runs on a goroutine the proc owns, so the child is always reaped
// (no zombies); Kill ends the whole group.
type proc struct {
	cmd    *exec.Cmd
	log    *slog.Logger
	done   chan struct{}
	err    error // valid after done
	stderr tailBuffer
}

// procSpec describes a process to start. Stdin, when set, is written by
// the caller through the proc's stdin pipe; Stdout, when set, receives
// the process's output. ExtraIn are more input pipes (fd 3, 4, ...).
type procSpec struct {
	Path   string
	Args   []string
	Stdin  bool
	Stdout io.Writer
	Log    *slog.Logger
}

func startProc(s procSpec) (*proc, io.WriteCloser, error) { return startProcExtra(s) }

// Pid is the process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and was reaped.
func (p *proc) Done() <-chan struct{} { return p.done }

// Err is how the process ended (after Done).
func (p *proc) Err() error {
	<-p.done
	if p.err != nil {
		return fmt.Errorf("%w: %s", p.err, p.stderr.String())
	}
	return nil
}

// Kill sends sig to the process group.
func (p *proc) Kill(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Stop waits up to grace for the process to exit on its own (its input
// was closed), then interrupts it, then kills it; it returns once reaped.
func (p *proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.Kill(syscall.SIGINT)
	select {
	case <-p.done:
		return
	case <-time.After(2 * time.Second):
	}
	p.Kill(syscall.SIGKILL)
	<-p.done
}

// waitCtx returns when the process exits or ctx ends.
func (p *proc) waitCtx(ctx context.Context) bool {
	select {
	case <-p.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// tailBuffer keeps the last 2 KiB written (ffmpeg's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(b)
	if t.buf.Len() > 4096 {
		rest := t.buf.Bytes()[t.buf.Len()-2048:]
		t.buf.Reset()
		t.buf.Write(rest)
	}
	return len(b), nil
}

// all is everything kept (up to 4 KiB).
func (t *tailBuffer) all() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.buf.Bytes())
	if len(s) > 600 {
		s = s[len(s)-600:]
	}
	return string(s)
}

// startProcExtra is startProc with extra input files (fd 3, ...); the
// caller closes its copies after the start.
func startProcExtra(s procSpec, extra ...*os.File) (*proc, io.WriteCloser, error) {
	cmd := exec.Command(s.Path, s.Args...)
	// No Pdeathsig: it fires when the starting OS thread exits, not the
	// process. A worker that dies closes the pipes, and ffmpeg exits on EOF.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.ExtraFiles = extra
	p := &proc{cmd: cmd, log: s.Log, done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	cmd.Stdout = s.Stdout
	var stdin io.WriteCloser
	if s.Stdin {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", s.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, stdin, nil
}
