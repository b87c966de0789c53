// Command gmmbench times cluster's Gaussian mixture EM on the raw .f64 data
// of ../shared/peers/gmm_bench.py, for bench/gmm.sh.
//
// With -init (weights, means and covariances as JSON, written by
// bench/gmm_sklearn.py) it runs exactly -iters EM iterations from that state
// plus one scoring pass (as scikit-learn's fit does a final E-step) and
// reports the time per iteration; without it, it runs a whole fit (k-means++
// and Lloyd initialisation, EM to convergence) and reports its time.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/segdiscover/segdiscover/cluster"
	"gonum.org/v1/gonum/mat"
)

// blasName is the BLAS behind gonum's blas32/blas64 ("openblas" with
// -tags openblas).
var blasName = "gonum"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gmmbench:", err)
		os.Exit(1)
	}
}

type initState struct {
	Covariance  string      `json:"covariance"`
	Weights     []float64   `json:"weights"`
	Means       [][]float64 `json:"means"`
	Covariances json.RawMessage
}

func run() error {
	data := flag.String("data", "", "raw .f64 data file")
	initPath := flag.String("init", "", "initial state JSON (timed EM iterations); empty: a whole fit")
	iters := flag.Int("iters", 10, "EM iterations with -init; MaxIter otherwise (0: default 100)")
	workers := flag.Int("workers", 1, "workers (GOMAXPROCS is set to the same)")
	k := flag.Int("k", 27, "components for a whole fit")
	cov := flag.String("cov", "full", "covariance type for a whole fit")
	seed := flag.Uint64("seed", 0, "seed for a whole fit")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GOMAXPROCS(*workers)
	x, err := readF64(*data)
	if err != nil {
		return err
	}
	n, d := x.Dims()
	out := map[string]any{"rows": n, "cols": d, "workers": *workers, "blas": blasName}
	if *initPath == "" {
		typ, err := cluster.ParseCovarianceType(*cov)
		if err != nil {
			return err
		}
		t0 := time.Now()
		g, info, ok := cluster.Fit(x, cluster.Settings{K: *k, Covariance: typ, MaxIter: *iters, Workers: *workers},
			rand.NewPCG(*seed, 0))
		el := time.Since(t0).Seconds()
		if !ok {
			return fmt.Errorf("fit failed")
		}
		out["mode"], out["k"], out["cov"], out["fit_s"] = "fit", *k, *cov, el
		out["iterations"], out["converged"], out["lower_bound"] = info.Iterations, info.Converged, info.LowerBound
		t1 := time.Now()
		out["score"] = g.Score(x, *workers)
		out["score_s"] = time.Since(t1).Seconds()
		return json.NewEncoder(os.Stdout).Encode(out)
	}
	b, err := os.ReadFile(*initPath)
	if err != nil {
		return err
	}
	var st initState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", *initPath, err)
	}
	typ, err := cluster.ParseCovarianceType(st.Covariance)
	if err != nil {
		return err
	}
	kk := len(st.Weights)
	means := mat.NewDense(kk, d, nil)
	for i, r := range st.Means {
		means.SetRow(i, r)
	}
	covs := make([]*mat.SymDense, kk)
	switch typ {
	case cluster.Full:
		var cv [][][]float64
		if err := json.Unmarshal(st.Covariances, &cv); err != nil {
			return err
		}
		for c := range covs {
			covs[c] = mat.NewSymDense(d, nil)
			for i := range d {
				for j := i; j < d; j++ {
					covs[c].SetSym(i, j, cv[c][i][j])
				}
			}
		}
	case cluster.Diag:
		var cv [][]float64
		if err := json.Unmarshal(st.Covariances, &cv); err != nil {
			return err
		}
		for c := range covs {
			covs[c] = mat.NewSymDense(d, nil)
			for i := range d {
				covs[c].SetSym(i, i, cv[c][i])
			}
		}
	default:
		return fmt.Errorf("init covariance %q not supported", st.Covariance)
	}
	init, ok := cluster.NewGMM(typ, st.Weights, means, covs)
	if !ok {
		return fmt.Errorf("initial state rejected")
	}
	t0, c0 := time.Now(), cpuSeconds()
	g, info, ok := cluster.Fit(x, cluster.Settings{Init: init, Tol: -1, MaxIter: *iters, Workers: *workers}, rand.NewPCG(1, 0))
	if !ok {
		return fmt.Errorf("fit failed")
	}
	score := g.Score(x, *workers)
	el := time.Since(t0).Seconds()
	out["cpu_s_per_iter"] = (cpuSeconds() - c0) / float64(info.Iterations)
	out["mode"], out["k"], out["cov"] = "iters", kk, st.Covariance
	out["iterations"], out["em_s"], out["em_s_per_iter"] = info.Iterations, el, el/float64(info.Iterations)
	out["score"], out["lower_bound"] = score, info.LowerBound
	return json.NewEncoder(os.Stdout).Encode(out)
}

// cpuSeconds is the process's user+system CPU time: on a shared machine it
// is steadier than wall time for comparing variants of our own code.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func readF64(path string) (*mat.Dense, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdr [24]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if string(hdr[:4]) != "F64M" || binary.LittleEndian.Uint32(hdr[4:]) != 1 {
		return nil, fmt.Errorf("%s: not an F64M v1 file", path)
	}
	r := int(binary.LittleEndian.Uint64(hdr[8:]))
	c := int(binary.LittleEndian.Uint64(hdr[16:]))
	if r <= 0 || c <= 0 || r > 1<<31/c {
		return nil, fmt.Errorf("%s: bad shape %d×%d", path, r, c)
	}
	buf := make([]byte, 8*c*4096)
	data := make([]float64, r*c)
	for off := 0; off < len(data); {
		m := min(len(data)-off, c*4096)
		if _, err := io.ReadFull(f, buf[:8*m]); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for i := range m {
			data[off+i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
		}
		off += m
	}
	return mat.NewDense(r, c, data), nil
}
