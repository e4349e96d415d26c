// Package e2e holds rtcloud's end-to-end tests: real Pion clients over
// loopback talking to a signaling server and an SFU node connected by a
// real NATS server, in one test process or as separate `rtcloud`
// processes. It has no code besides its tests.
package e2e
