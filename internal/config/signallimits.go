package config

import "errors"

// SignalLimits bound what one client of a signaling server may send
// (docs/protocol.md, "Limits"); zero values take the server's defaults.
type SignalLimits struct {
	// DataRate is the data messages per second one connection may send,
	// DataBurst the burst; DataBytesRate the payload bytes per second.
	DataRate      float64 `yaml:"data_rate"`
	DataBurst     int     `yaml:"data_burst"`
	DataBytesRate int     `yaml:"data_bytes_rate"`
	// MediaSections is the most m-lines of one offer, PublishedTracks the
	// most sending audio/video m-lines.
	MediaSections   int `yaml:"media_sections"`
	PublishedTracks int `yaml:"published_tracks"`
	// Candidates is the most remote ICE candidates one connection trickles.
	Candidates int `yaml:"candidates"`
}

func (l SignalLimits) validate() []error {
	if l.DataRate < 0 || l.DataBurst < 0 || l.DataBytesRate < 0 || l.MediaSections < 0 || l.PublishedTracks < 0 || l.Candidates < 0 {
		return []error{errors.New("signal.limits: values must not be negative")}
	}
	return nil
}
