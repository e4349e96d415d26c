// Package browsertest proves the browser side of rtcloud end to end: real
// headless Chromium pages (driven with chromedp) and a second, independent
// WebRTC stack (node-datachannel, in test/node) join rooms through the
// embedded web pages, a signaling server and an SFU node talking over an
// in-process NATS server. The package has only tests.
//
// Chromium gathers no loopback ICE candidates, so the tests add a veth
// network interface with a private address (which needs root) and make the
// SFU bind and advertise it; without root, or without Chromium, the tests
// are skipped with a message saying why.
package browsertest
