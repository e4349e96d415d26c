package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/kube"
)

// regionFromKubernetes fills the SFU's empty region and zone from the
// labels of the Kubernetes node it runs on, when sfu.kubernetes_node
// (RTCLOUD_KUBERNETES_NODE) names one. A region set explicitly wins.
func regionFromKubernetes(ctx context.Context, c *config.SFU) error {
	if c.KubernetesNode == "" || (c.Region != "" && c.Zone != "") {
		return nil
	}
	cl, err := kube.InCluster()
	if err != nil {
		return fmt.Errorf("sfu.kubernetes_node %q: %w", c.KubernetesNode, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	topo, err := cl.NodeTopology(ctx, c.KubernetesNode)
	if err != nil {
		return fmt.Errorf("sfu.kubernetes_node: %w", err)
	}
	if c.Region == "" {
		c.Region = topo.Region
	}
	if c.Zone == "" {
		c.Zone = topo.Zone
	}
	return nil
}
