package egress

import (
	"context"
	"fmt"

	"github.com/rtcloud/rtcloud/internal/bus"
)

func newCompositePipeline(w *Worker, src *source, req bus.EgressRequest) (pipeline, error) {
	return nil, fmt.Errorf("%w: room composite", ErrBadRequest)
}

var _ = context.Background
