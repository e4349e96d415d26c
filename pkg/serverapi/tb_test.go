package serverapi_test

import (
	"fmt"
	"slices"
	"testing"
)

// exampleTB lets an Example use startController: cleanups run at stop,
// failures panic.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (e *exampleTB) Helper()                           {}
func (e *exampleTB) Cleanup(f func())                  { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (e *exampleTB) stop() {
	for _, f := range slices.Backward(e.cleanups) {
		f()
	}
}
