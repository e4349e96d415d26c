package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rtcloud/rtcloud/internal/auth"
	"github.com/rtcloud/rtcloud/internal/bus"
	"github.com/rtcloud/rtcloud/internal/config"
	"github.com/rtcloud/rtcloud/internal/egress"
)

// egressFlags are the egress worker's own flags, over the config file.
type egressFlags struct {
	signalURL, outputDir, workerID, ffmpeg string
	capacity                               float64
}

func (f *egressFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.signalURL, "signal-url", "", "WebSocket URL of a signaling server to join rooms through (default ws://127.0.0.1:7800/ws)")
	fs.StringVar(&f.outputDir, "output-dir", "", "where files and HLS directories are written (default ./recordings)")
	fs.StringVar(&f.workerID, "worker-id", "", "worker id (default: generated)")
	fs.StringVar(&f.ffmpeg, "ffmpeg", "", "ffmpeg binary (default: ffmpeg on PATH)")
	fs.Float64Var(&f.capacity, "cpu-capacity", 0, "CPU cores of egress work to take on (default: this machine's cores)")
}

func (f *egressFlags) apply(c *config.Egress) {
	if f.signalURL != "" {
		c.SignalURL = f.signalURL
	}
	if f.outputDir != "" {
		c.OutputDir = f.outputDir
	}
	if f.workerID != "" {
		c.WorkerID = f.workerID
	}
	if f.ffmpeg != "" {
		c.FFmpeg = f.ffmpeg
	}
	if f.capacity > 0 {
		c.CPUCapacity = f.capacity
	}
}

// runEgress runs an egress worker: it takes recording, composite, RTMP
// and HLS jobs from the bus while it has capacity.
func runEgress(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtcloud egress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs, false, false)
	var ef egressFlags
	ef.register(fs)
	c, err := f.parse(fs, args)
	if err != nil {
		return err
	}
	ef.apply(&c.Egress)
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.ValidateKeys(); err != nil {
		return err
	}
	b, log, err := connect(c, "rtcloud-egress", stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	w, err := newEgressWorker(ctx, c, b, log, true)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// newEgressWorker makes a worker; measureCPU when it is its own process.
func newEgressWorker(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger, measureCPU bool) (*egress.Worker, error) {
	keys := c.APIKeys()
	if len(keys) == 0 {
		return nil, c.ValidateKeys()
	}
	key := slices.Sorted(maps.Keys(keys))[0]
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return egress.NewWorker(setupCtx, egress.WorkerOptions{Config: c.Egress, Key: key, Secret: keys[key], Bus: b, Logger: log,
		MeasureCPU: measureCPU})
}

// newEgressAPI opens the /v1/egress API on bus b.
func newEgressAPI(ctx context.Context, c config.Config, b *bus.Client, log *slog.Logger) (*egress.API, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return egress.NewAPI(setupCtx, egress.APIOptions{Bus: b, Verifier: auth.NewVerifier(c.APIKeys()), Logger: log,
		WorkerTimeout: c.Egress.WorkerTimeout})
}

// withEgressAPI serves /v1/egress from api and everything else from h.
func withEgressAPI(h http.Handler, api *egress.API) http.Handler {
	mux := http.NewServeMux()
	eh := api.Handler()
	mux.Handle("/v1/egress", eh)
	mux.Handle("/v1/egress/", eh)
	mux.Handle("/", h)
	return mux
}

// devEgress runs the egress API and one worker inside `rtcloud dev`; the
// worker joins rooms through the dev server's own WebSocket at wsURL.
// stop ends the worker (finalizing its egresses) and the API.
func devEgress(ctx context.Context, c config.Config, wsURL string, log *slog.Logger) (api *egress.API, stop func(), err error) {
	c.Egress.SignalURL = wsURL
	b, err := connectBus(c, "rtcloud-dev-egress", log)
	if err != nil {
		return nil, nil, err
	}
	api, err = newEgressAPI(ctx, c, b, log)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	w, err := newEgressWorker(ctx, c, b, log, false)
	if err != nil {
		api.Close()
		b.Close()
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(wctx); err != nil {
			log.Error("egress worker stopped", "err", err)
		}
	}()
	return api, func() {
		cancel()
		wg.Wait()
		api.Close()
		b.Close()
	}, nil
}
