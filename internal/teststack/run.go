package teststack

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
)

// Run starts a stack outside a test, for Example functions, and returns
// it with the function that stops it. A failure to start panics.
func Run(o Options) (*Stack, func()) {
	var e exampleTB
	return Start(&e, o), e.cleanup
}

// exampleTB is the part of testing.TB that Start and its helpers use:
// cleanups run when the example calls stop; failures panic.
type exampleTB struct {
	testing.TB // nil: any other method panics
	mu         sync.Mutex
	cleanups   []func()
}

func (e *exampleTB) Helper()             {}
func (e *exampleTB) Name() string        { return "example" }
func (e *exampleTB) Failed() bool        { return false }
func (e *exampleTB) Logf(string, ...any) {}
func (e *exampleTB) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}
func (e *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (e *exampleTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }

func (e *exampleTB) cleanup() {
	e.mu.Lock()
	fs := slices.Clone(e.cleanups)
	e.cleanups = nil
	e.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}
