// Package client is the Go SDK of rtcloud for programs that take part in
// rooms: bots, recorders, media gateways, load generators and tests.
//
// Connect joins a room with an access token (mint one with
// github.com/rtcloud/rtcloud/pkg/serverapi.NewToken) over the WebSocket
// room protocol. The Client then publishes tracks, from a stream
// (PublishReader: IVF, Ogg or H.264 from any io.Reader), from samples or
// RTP packets the program writes (TrackSpec.Local, NewSampleTrack), or as
// synthetic test media (TrackSpec.Codec); subscribes to the room's tracks
// and reads their RTP packets (RemoteTrack.ReadRTP); sends and receives
// data messages; reports the room's events (Events); and survives a lost
// connection (Reconnect). PublishWHIP and WatchWHEP do the same over
// WHIP and WHEP.
//
//	c, err := client.Connect(ctx, "wss://rtc.example.com/ws", token, client.Options{Name: "bot"})
//	if err != nil { ... }
//	defer c.Close()
//	tracks, _ := c.WaitTracks(ctx, 1, func(t client.TrackInfo) bool { return t.Kind == client.KindAudio })
//	rt, _ := c.Subscribe(ctx, tracks[0].ID, client.LayerAuto)
//	for {
//		pkt, err := rt.ReadRTP(ctx)
//		...
//	}
//
// docs/go-sdk.md is the guide; examples/go holds complete programs.
package client
