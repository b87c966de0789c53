package pseudolabel

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// bruteForce returns the best sum over all matchings of min(r, c) pairs.
func bruteForce(cost *mat.Dense, maximize bool) float64 {
	r, c := cost.Dims()
	t := cost
	if r > c {
		t = mat.DenseCopyOf(cost.T())
		r, c = c, r
	}
	best := math.Inf(1)
	if maximize {
		best = math.Inf(-1)
	}
	used := make([]bool, c)
	var rec func(i int, sum float64)
	rec = func(i int, sum float64) {
		if i == r {
			if (maximize && sum > best) || (!maximize && sum < best) {
				best = sum
			}
			return
		}
		for j := 0; j < c; j++ {
			if !used[j] {
				used[j] = true
				rec(i+1, sum+t.At(i, j))
				used[j] = false
			}
		}
	}
	rec(0, 0)
	return best
}

// checkMatching verifies rowToCol is a matching of min(r, c) pairs and
// returns its sum.
func checkMatching(t *testing.T, cost mat.Matrix, rowToCol []int) float64 {
	t.Helper()
	r, c := cost.Dims()
	if len(rowToCol) != r {
		t.Fatalf("len(rowToCol) = %d, want %d", len(rowToCol), r)
	}
	seen := make([]bool, c)
	pairs := 0
	var sum float64
	for i, j := range rowToCol {
		if j < 0 {
			continue
		}
		if j >= c || seen[j] {
			t.Fatalf("row %d -> column %d: out of range or used twice (%v)", i, j, rowToCol)
		}
		seen[j] = true
		pairs++
		sum += cost.At(i, j)
	}
	if pairs != min(r, c) {
		t.Fatalf("%d pairs, want %d (%v)", pairs, min(r, c), rowToCol)
	}
	return sum
}

func TestAssignBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for r := 1; r <= 8; r++ {
		for c := 1; c <= 8; c++ {
			for trial := 0; trial < 3; trial++ {
				cost := mat.NewDense(r, c, nil)
				for i := 0; i < r; i++ {
					for j := 0; j < c; j++ {
						if trial == 0 {
							cost.Set(i, j, float64(rng.IntN(4))) // many ties
						} else {
							cost.Set(i, j, rng.NormFloat64()*100)
						}
					}
				}
				for _, maximize := range []bool{false, true} {
					got, ok := Assign(cost, maximize)
					if !ok {
						t.Fatalf("%dx%d: not ok", r, c)
					}
					sum := checkMatching(t, cost, got)
					want := bruteForce(cost, maximize)
					if math.Abs(sum-want) > 1e-9*max(1, math.Abs(want)) {
						t.Errorf("%dx%d maximize=%v trial %d: sum %g, brute force %g", r, c, maximize, trial, sum, want)
					}
				}
			}
		}
	}
}

// TestAssignScipy checks the exact assignment, tie-breaking included,
// against scipy.optimize.linear_sum_assignment on tie-heavy matrices
// (pipeline/testdata/eval/gen.py wrote the fixture).
func TestAssignScipy(t *testing.T) {
	b, err := os.ReadFile("testdata/lsap.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Cost     [][]float64
		Maximize bool
		Rows     []int
		Cols     []int
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases in fixture", len(cases))
	}
	for n, tc := range cases {
		r, c := len(tc.Cost), len(tc.Cost[0])
		cost := mat.NewDense(r, c, nil)
		for i := range tc.Cost {
			cost.SetRow(i, tc.Cost[i])
		}
		got, ok := Assign(cost, tc.Maximize)
		if !ok {
			t.Fatalf("case %d: not ok", n)
		}
		want := make([]int, r)
		for i := range want {
			want[i] = -1
		}
		for k, i := range tc.Rows {
			want[i] = tc.Cols[k]
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("case %d (%dx%d maximize=%v): got %v, scipy %v", n, r, c, tc.Maximize, got, want)
				break
			}
		}
	}
}

func TestAssignInvalid(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name     string
		cost     *mat.Dense
		maximize bool
		ok       bool
	}{
		{"nan", mat.NewDense(2, 2, []float64{1, math.NaN(), 3, 4}), false, false},
		{"minus-inf", mat.NewDense(2, 2, []float64{1, math.Inf(-1), 3, 4}), false, false},
		{"plus-inf-maximize", mat.NewDense(2, 2, []float64{1, inf, 3, 4}), true, false},
		{"infeasible", mat.NewDense(2, 2, []float64{inf, inf, 1, 2}), false, false},
		{"feasible-with-inf", mat.NewDense(2, 2, []float64{inf, 1, 1, inf}), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Assign(tc.cost, tc.maximize)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%v)", ok, tc.ok, got)
			}
			if ok && (got[0] != 1 || got[1] != 0) {
				t.Errorf("got %v, want [1 0]", got)
			}
		})
	}
}

func TestAssignEmpty(t *testing.T) {
	got, ok := Assign(&mat.Dense{}, false)
	if !ok || len(got) != 0 {
		t.Errorf("empty: %v %v", got, ok)
	}
}

func randomCost(n, m int, seed uint64) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 7))
	c := mat.NewDense(n, m, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			c.Set(i, j, float64(rng.IntN(1_000_000)))
		}
	}
	return c
}

func BenchmarkAssign300(b *testing.B) {
	c := randomCost(300, 300, 3)
	for b.Loop() {
		if _, ok := Assign(c, true); !ok {
			b.Fatal("not ok")
		}
	}
}

func BenchmarkAssign300x100(b *testing.B) {
	c := randomCost(300, 100, 4)
	for b.Loop() {
		if _, ok := Assign(c, true); !ok {
			b.Fatal("not ok")
		}
	}
}
