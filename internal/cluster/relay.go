package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
)

// relaySetup picks free relay ports for the nodes that have none and
// gives the children a shared relay secret.
func (o *Options) relaySetup() error {
	for len(o.RelayPorts) < o.Nodes {
		port, err := freeUDPPort(o.Host)
		if err != nil {
			return fmt.Errorf("cluster: relay port: %w", err)
		}
		o.RelayPorts = append(o.RelayPorts, port)
	}
	if o.RelaySecret == "" {
		if os.Getenv("RTCLOUD_RELAY_SECRET") != "" {
			return nil
		}
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		o.RelaySecret = hex.EncodeToString(b)
	}
	o.ExtraEnv = append(o.ExtraEnv, "RTCLOUD_RELAY_SECRET="+o.RelaySecret)
	return nil
}

// freeUDPPort returns a UDP port free on host at the time of the call.
func freeUDPPort(host string) (int, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
