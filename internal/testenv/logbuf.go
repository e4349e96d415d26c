package testenv

import (
	"bytes"
	"strings"
	"sync"
)

// maxLogBytes bounds a LogBuffer; past it the older half is dropped.
const maxLogBytes = 4 << 20

// LogBuffer collects logs or process output for printing when a test
// fails. It is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > maxLogBytes {
		l.buf.Next(l.buf.Len() / 2)
	}
	return l.buf.Write(p)
}

// String is everything kept.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Tail is the last n lines.
func (l *LogBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
