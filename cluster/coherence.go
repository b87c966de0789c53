package cluster

// Edge joins two rows that are spatial neighbours, e.g. two superpixels of
// one image that share a boundary; W is its weight (the boundary's length
// in pixels, or 1).
type Edge struct {
	A, B int
	W    float64
}

// Agreement is the weighted fraction of edges whose two rows have the same
// label: one minus the (weighted) boundary length of the labelling relative
// to that of the over-segmentation. It is 1 for a constant labelling, so it
// rewards few, large concepts as much as coherent ones; Assortativity
// corrects it for that.
func Agreement(labels []int, edges []Edge) float64 {
	var same, all float64
	for _, e := range edges {
		all += e.W
		if labels[e.A] == labels[e.B] {
			same += e.W
		}
	}
	if all == 0 {
		return 0
	}
	return same / all
}

// Assortativity is Newman's assortativity coefficient of the labelling on
// the neighbour graph (Newman, "Mixing patterns in networks", Phys. Rev. E
// 67, 026126, 2003), the join-count statistic of spatial statistics (Cliff
// and Ord, "Spatial Processes", 1981) in Cohen's kappa form:
//
//	r = (Σ_k e_kk − Σ_k a_k²) / (1 − Σ_k a_k²),
//
// with e_kl the share of edge weight joining labels k and l (symmetrised)
// and a_k = Σ_l e_kl the share of edge ends labelled k. Σ a_k² is the
// agreement expected when the labels are shuffled over the rows with their
// sizes kept, so r is 0 for a spatially random labelling of any sizes, 1
// when no edge joins two labels, and a constant labelling (agreement 1)
// scores 0, not 1. Labels are in [0, k); r is 0 when there are no edges or
// only one label occurs at edge ends.
func Assortativity(labels []int, edges []Edge, k int) float64 {
	a := make([]float64, k)
	var same, all float64
	for _, e := range edges {
		la, lb := labels[e.A], labels[e.B]
		all += e.W
		if la == lb {
			same += e.W
		}
		a[la] += e.W / 2
		a[lb] += e.W / 2
	}
	if all == 0 {
		return 0
	}
	var exp float64
	for _, v := range a {
		exp += (v / all) * (v / all)
	}
	if exp >= 1 {
		return 0
	}
	return (same/all - exp) / (1 - exp)
}
