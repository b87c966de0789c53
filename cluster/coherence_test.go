package cluster

import (
	"math"
	"testing"
)

func TestAgreementAssortativity(t *testing.T) {
	// A path 0-1-2-3 with unit weights.
	path := []Edge{{0, 1, 1}, {1, 2, 1}, {2, 3, 1}}
	tests := []struct {
		name          string
		labels        []int
		edges         []Edge
		k             int
		agree, assort float64
	}{
		// One label: every edge agrees, but nothing beyond chance.
		{"constant", []int{0, 0, 0, 0}, path, 2, 1, 0},
		// Two halves: 2 of 3 edges agree; edge ends 3 per label, so
		// expected agreement 1/2 and r = (2/3-1/2)/(1/2) = 1/3.
		{"halves", []int{0, 0, 1, 1}, path, 2, 2.0 / 3, 1.0 / 3},
		// Alternating: no edge agrees, r = (0-1/2)/(1/2) = -1.
		{"alternating", []int{0, 1, 0, 1}, path, 2, 0, -1},
		// Weights count: the one cut edge weighs 3 of 5.
		{"weighted", []int{0, 0, 1, 1}, []Edge{{0, 1, 1}, {1, 2, 3}, {2, 3, 1}}, 2, 2.0 / 5, (2.0/5 - 0.5) / 0.5},
		{"no edges", []int{0, 1}, nil, 2, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Agreement(tc.labels, tc.edges); math.Abs(got-tc.agree) > 1e-12 {
				t.Errorf("Agreement = %v, want %v", got, tc.agree)
			}
			if got := Assortativity(tc.labels, tc.edges, tc.k); math.Abs(got-tc.assort) > 1e-12 {
				t.Errorf("Assortativity = %v, want %v", got, tc.assort)
			}
		})
	}
}
