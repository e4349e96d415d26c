package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/teststack"
	"github.com/rtcloud/rtcloud/pkg/client"
	"github.com/rtcloud/rtcloud/pkg/serverapi"
)

// exampleServer stands in for an rtcloud server (`rtcloud dev`): it runs
// one in the process and returns its WebSocket URL, a function minting
// tokens for room "demo", and a function that stops it.
func exampleServer() (wsURL string, token func(identity string) string, stop func()) {
	st, stop := teststack.Run(teststack.Options{})
	token = func(identity string) string {
		tok, err := serverapi.NewToken(auth.DevKey, auth.DevSecret, serverapi.TokenOptions{
			Identity: identity, Room: "demo", Publish: true, Subscribe: true})
		if err != nil {
			panic(err)
		}
		return tok
	}
	return st.Signals[0].WS, token, stop
}

func ExampleConnect() {
	wsURL, token, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := client.Connect(ctx, wsURL, token("alice"), client.Options{Name: "Alice"})
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer c.Close()
	fmt.Println(c.Self().Identity, "joined", c.Room().Name)
	// Output: alice joined demo
}

// A bot publishes audio it writes itself; another participant reads the
// packets.
func ExampleRemoteTrack_ReadRTP() {
	wsURL, token, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	bot, err := client.Connect(ctx, wsURL, token("bot"), client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bot.Close()
	track, _ := client.NewSampleTrack(client.CodecOpus, "beep")
	lts, err := bot.Publish(ctx, client.TrackSpec{Local: []webrtc.TrackLocal{track}})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { // 20 ms Opus frames (this one is silence) until the bot leaves
		for range time.Tick(20 * time.Millisecond) {
			if track.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond}) != nil ||
				bot.Err() != nil {
				return
			}
		}
	}()
	_ = bot.WaitPublished(ctx, lts...)

	listener, err := client.Connect(ctx, wsURL, token("listener"), client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer listener.Close()
	infos, _ := listener.WaitTracks(ctx, 1, func(t client.TrackInfo) bool { return t.Identity == "bot" })
	rt, err := listener.Subscribe(ctx, infos[0].ID, client.LayerAuto)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 10 {
		if _, err := rt.ReadRTP(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("read 10 packets of", rt.MimeType())
	// Output: read 10 packets of audio/opus
}

func ExampleClient_SendData() {
	wsURL, token, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	alice, err := client.Connect(ctx, wsURL, token("alice"), client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer alice.Close()
	bob, err := client.Connect(ctx, wsURL, token("bob"), client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()
	if err := alice.SendData(ctx, []byte(`{"chat":"hello"}`), "bob"); err != nil {
		fmt.Println(err)
		return
	}
	for ev := range bob.Events() {
		if ev.Type == client.EventData {
			fmt.Printf("%s from %s\n", ev.Payload, ev.From)
			return
		}
	}
	// Output: {"chat":"hello"} from alice
}
