package pipeline

import (
	"context"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// ProgressMode chooses how a run shows its progress.
type ProgressMode int

const (
	// ProgressLog logs a line per stage every LogInterval (for logs and
	// pipes, where bars would be noise).
	ProgressLog ProgressMode = iota
	// ProgressBars draws a bar per stage (for terminals).
	ProgressBars
	// ProgressNone shows nothing.
	ProgressNone
)

// progress tracks the per-image stages of a run.
type progress interface {
	// stage starts tracking a stage of total items.
	stage(name string, total int) stageProgress
	// wait flushes and stops the display.
	wait()
}

type stageProgress interface {
	// add counts one finished item (cached: reused from the cache).
	add(cached bool)
	// done marks the stage finished (also when it stopped early).
	done()
}

func newProgress(ctx context.Context, mode ProgressMode, w io.Writer, log *slog.Logger, interval time.Duration) progress {
	switch mode {
	case ProgressBars:
		// Not mpb.NewWithContext: cancelling would stop the display in the
		// middle of a line. The stages end their bars (done) when they
		// stop, and wait renders the last frame whole.
		return &barProgress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithAutoRefresh())}
	case ProgressLog:
		if interval <= 0 {
			interval = 10 * time.Second
		}
		return &logProgress{log: log, interval: interval}
	}
	return nopProgress{}
}

type nopProgress struct{}

func (nopProgress) stage(string, int) stageProgress { return nopProgress{} }
func (nopProgress) wait()                           {}
func (nopProgress) add(bool)                        {}
func (nopProgress) done()                           {}

// barProgress draws an mpb bar per stage: count, rate, ETA.
type barProgress struct{ p *mpb.Progress }

func (b *barProgress) stage(name string, total int) stageProgress {
	bar := b.p.AddBar(int64(total),
		mpb.PrependDecorators(
			decor.Name(name, decor.WCSyncSpaceR),
			decor.CountersNoUnit("%d/%d", decor.WCSyncWidth),
		),
		mpb.AppendDecorators(
			decor.EwmaSpeed(0, "%.1f/s", 30, decor.WCSyncSpace),
			decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace), "done"),
		),
	)
	return &barStage{bar: bar, start: time.Now(), last: time.Now()}
}

func (b *barProgress) wait() { b.p.Wait() }

type barStage struct {
	mu          sync.Mutex
	bar         *mpb.Bar
	start, last time.Time
}

// add counts an item. Only computed items enter the rate: cached ones
// take microseconds, and a rerun would show thousands of images a second.
func (s *barStage) add(cached bool) {
	s.mu.Lock()
	now := time.Now()
	d := now.Sub(s.last)
	s.last = now
	s.mu.Unlock()
	if cached {
		s.bar.Increment()
		return
	}
	s.bar.EwmaIncrement(d)
}

func (s *barStage) done() {
	if !s.bar.Completed() {
		s.bar.Abort(false)
	}
}

// logProgress logs "stage: n/total" lines at most every interval.
type logProgress struct {
	log      *slog.Logger
	interval time.Duration
}

func (l *logProgress) stage(name string, total int) stageProgress {
	s := &logStage{name: name, total: total, log: l.log, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.loop(l.interval)
	return s
}

func (l *logProgress) wait() {}

type logStage struct {
	name          string
	total         int
	n, cached     atomic.Int64
	log           *slog.Logger
	start         time.Time
	stop, stopped chan struct{}
	once          sync.Once
}

func (s *logStage) add(cached bool) {
	s.n.Add(1)
	if cached {
		s.cached.Add(1)
	}
}

func (s *logStage) loop(interval time.Duration) {
	defer close(s.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.report("progress")
		}
	}
}

func (s *logStage) report(msg string) {
	n := s.n.Load()
	el := time.Since(s.start)
	attrs := []any{"stage", s.name, "done", n, "total", s.total, "cached", s.cached.Load(), "elapsed_s", el.Round(100 * time.Millisecond).Seconds()}
	// The rate is that of computed items: cached ones cost nothing, and
	// would make a resumed run's rate and ETA absurd.
	if computed := n - s.cached.Load(); computed > 0 && el > 0 {
		rate := float64(computed) / el.Seconds()
		attrs = append(attrs, "per_second", roundSig(rate, 3))
		if left := int64(s.total) - n; left > 0 {
			attrs = append(attrs, "eta_s", int(float64(left)/rate+0.5))
		}
	}
	s.log.Info(msg, attrs...)
}

func (s *logStage) done() {
	s.once.Do(func() {
		close(s.stop)
		<-s.stopped
	})
}

// roundSig rounds v to n significant digits, for log lines people read.
func roundSig(v float64, n int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(n-1)-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// throttle lets an event through at most once per interval (the first
// always), so that per-epoch or per-item news becomes a line every 10 s.
type throttle struct {
	interval time.Duration
	last     time.Time
}

func (t *throttle) ok(now time.Time) bool {
	if !t.last.IsZero() && now.Sub(t.last) < t.interval {
		return false
	}
	t.last = now
	return true
}
