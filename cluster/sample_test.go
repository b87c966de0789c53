package cluster

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// gather returns the rows idx of x (all of x when idx is nil), as a caller
// streaming x would collect them.
func gather(x *mat.Dense, idx []int) *mat.Dense {
	if idx == nil {
		return mat.DenseCopyOf(x)
	}
	_, d := x.Dims()
	out := mat.NewDense(len(idx), d, nil)
	for i, r := range idx {
		out.SetRow(i, x.RawRowView(r))
	}
	return out
}

// TestFitSampleMatchesFit checks that drawing the rows with SampleIndex,
// gathering them and fitting with FitSampleContext or SelectKSampleContext
// gives exactly Fit's or SelectK's model, info and curve on the whole
// matrix, with and without sampling.
func TestFitSampleMatchesFit(t *testing.T) {
	x, _ := blobs(600, 3, 2, 5)
	for _, maxSamples := range []int{0, 100, 599, 600, 1000} {
		s := Settings{K: 3, MaxSamples: maxSamples, NInit: 2}
		t.Run(fmt.Sprintf("fit/max=%d", maxSamples), func(t *testing.T) {
			want, wantInfo, wantOK := Fit(x, s, rand.NewPCG(1, 2))
			src := rand.NewPCG(1, 2)
			idx := SampleIndex(600, maxSamples, src)
			if (idx == nil) != (maxSamples <= 0 || maxSamples >= 600) || (idx != nil && (len(idx) != maxSamples || !slices.IsSorted(idx))) {
				t.Fatalf("SampleIndex gave %d rows", len(idx))
			}
			got, info, ok, err := FitSampleContext(context.Background(), gather(x, idx), 600, s, src)
			if err != nil || ok != wantOK || !wantOK {
				t.Fatalf("ok %v err %v, Fit ok %v", ok, err, wantOK)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(info, wantInfo) {
				t.Errorf("FitSampleContext's model or info differ from Fit's (info %+v, want %+v)", info, wantInfo)
			}
			if info.Sampled != (idx != nil) || info.Rows != 600 {
				t.Errorf("info %+v", info)
			}
		})
		t.Run(fmt.Sprintf("selectk/max=%d", maxSamples), func(t *testing.T) {
			want, wantCurve, wantInfo, wantOK := SelectK(x, 2, 4, s, rand.NewPCG(3, 4))
			src := rand.NewPCG(3, 4)
			idx := SampleIndex(600, maxSamples, src)
			got, curve, info, ok, err := SelectKSampleContext(context.Background(), gather(x, idx), 600, 2, 4, s, src)
			if err != nil || ok != wantOK || !wantOK {
				t.Fatalf("ok %v err %v, SelectK ok %v", ok, err, wantOK)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(curve, wantCurve) || !reflect.DeepEqual(info, wantInfo) {
				t.Errorf("SelectKSampleContext's model, curve or info differ from SelectK's")
			}
		})
	}
}

// TestFitSampleFailures checks the numerical failures and panics of the
// sample entry points.
func TestFitSampleFailures(t *testing.T) {
	x, _ := blobs(50, 2, 2, 1)
	bad := mat.DenseCopyOf(x)
	bad.Set(3, 1, math.NaN())
	ctx := context.Background()
	if _, _, ok, err := FitSampleContext(ctx, bad, 50, Settings{K: 2}, rand.NewPCG(1, 1)); ok || err != nil {
		t.Errorf("NaN sample: ok %v err %v", ok, err)
	}
	if _, _, _, ok, err := SelectKSampleContext(ctx, bad, 50, 1, 2, Settings{}, rand.NewPCG(1, 1)); ok || err != nil {
		t.Errorf("NaN sample, SelectK: ok %v err %v", ok, err)
	}
	if _, _, ok, err := FitSampleContext(ctx, x.Slice(0, 1, 0, 2).(*mat.Dense), 1, Settings{K: 2}, rand.NewPCG(1, 1)); ok || err != nil {
		t.Errorf("fewer rows than K: ok %v err %v", ok, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, ok, err := FitSampleContext(cancelled, x, 50, Settings{K: 2}, rand.NewPCG(1, 1)); ok || err == nil {
		t.Errorf("cancelled: ok %v err %v", ok, err)
	}
	for name, f := range map[string]func(){
		"fit: sample larger than rows":     func() { FitSampleContext(ctx, x, 10, Settings{K: 2}, rand.NewPCG(1, 1)) },
		"selectk: sample larger than rows": func() { SelectKSampleContext(ctx, x, 10, 1, 2, Settings{}, rand.NewPCG(1, 1)) },
		"fit: nil sample":                  func() { FitSampleContext(ctx, nil, 10, Settings{K: 2}, rand.NewPCG(1, 1)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
