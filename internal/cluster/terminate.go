package cluster

import (
	"fmt"
	"syscall"
)

// Terminate asks child name to stop (SIGTERM), as an orchestrator does
// for a rolling upgrade; an SFU node with sfu.migrate_on_shutdown first
// moves its clients to other nodes.
func (cl *Cluster) Terminate(name string) error {
	for _, c := range cl.Children {
		if c.Name == name && c.cmd != nil {
			return c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	return fmt.Errorf("cluster: no child %q", name)
}
