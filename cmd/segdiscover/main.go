// Command segdiscover turns a folder of unlabelled images into semantic
// segmentation masks without labels: SLIC superpixels, per-superpixel
// features, a Gaussian mixture over the whole dataset ("concepts"),
// pseudo-label masks, and a small segmentation network trained on them.
//
// Exit codes:
//
//	0   success
//	1   the command failed (nothing or not everything could be done)
//	2   usage error (bad flags or arguments)
//	3   finished, but some input files failed (listed in errors.json)
//	4   a sharded run is not complete: fit found shards missing (and
//	    wrote nothing), or status found work left to do
//	130 interrupted (SIGINT or SIGTERM); completed work is kept
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
