package pseudolabel

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// Assign solves the rectangular linear sum assignment problem: it matches
// each row of cost to at most one column and each column to at most one row,
// min(rows, cols) pairs in all, so that the sum of the matched entries is
// smallest (largest when maximize is set). rowToCol[i] is the column matched
// to row i, or -1 when row i is left unmatched (only when rows > cols).
//
// The solver is the shortest augmenting path method of Jonker and Volgenant
// (1987) in the rectangular form of Crouse (2016), O(n²m) for an n×m
// problem with n ≤ m. Among optimal assignments it returns the one
// scipy.optimize.linear_sum_assignment returns, so tie-breaking (which
// decides per-class IoU when the optimum is not unique) agrees with the
// Python scorers.
//
// ok is false when cost holds NaN or -Inf (+Inf when maximising), or when
// +Inf entries leave no feasible full matching.
func Assign(cost mat.Matrix, maximize bool) (rowToCol []int, ok bool) {
	nr, nc := cost.Dims()
	rowToCol = make([]int, nr)
	for i := range rowToCol {
		rowToCol[i] = -1
	}
	if nr == 0 || nc == 0 {
		return rowToCol, true
	}
	// The method needs at least as many columns as rows: solve the
	// transpose of a tall matrix.
	transpose := nr > nc
	n, m := nr, nc
	if transpose {
		n, m = nc, nr
	}
	c := make([]float64, n*m)
	for i := 0; i < nr; i++ {
		for j := 0; j < nc; j++ {
			v := cost.At(i, j)
			if maximize {
				v = -v
			}
			if math.IsNaN(v) || math.IsInf(v, -1) {
				return nil, false
			}
			if transpose {
				c[j*m+i] = v
			} else {
				c[i*m+j] = v
			}
		}
	}
	colOfRow, ok := lsap(n, m, c)
	if !ok {
		return nil, false
	}
	if transpose {
		for i, j := range colOfRow {
			rowToCol[j] = i
		}
	} else {
		copy(rowToCol, colOfRow)
	}
	return rowToCol, true
}

// lsap solves the n×m (n ≤ m) minimisation problem on the row-major cost c
// and returns the column of each row.
func lsap(n, m int, c []float64) ([]int, bool) {
	u := make([]float64, n) // row potentials
	v := make([]float64, m) // column potentials
	dist := make([]float64, m)
	pred := make([]int, m) // row preceding each column on the path tree
	colOfRow := make([]int, n)
	rowOfCol := make([]int, m)
	for i := range colOfRow {
		colOfRow[i] = -1
	}
	for j := range rowOfCol {
		rowOfCol[j] = -1
	}
	inRows := make([]bool, n) // rows reached by the current search
	inCols := make([]bool, m) // columns whose distance is final
	todo := make([]int, m)    // columns not yet final

	for cur := 0; cur < n; cur++ {
		// Dijkstra over reduced costs from row cur to the nearest free column.
		clear(inRows)
		clear(inCols)
		for j := range dist {
			dist[j] = math.Inf(1)
		}
		// Columns are scanned from the last one so that a constant matrix
		// yields the identity, as scipy does.
		for k := range todo {
			todo[k] = m - 1 - k
		}
		left := m
		i := cur
		var minVal float64
		sink := -1
		for sink < 0 {
			inRows[i] = true
			best, bestK := math.Inf(1), -1
			for k := 0; k < left; k++ {
				j := todo[k]
				if r := minVal + c[i*m+j] - u[i] - v[j]; r < dist[j] {
					pred[j] = i
					dist[j] = r
				}
				// On ties prefer a free column: it ends the search.
				if dist[j] < best || (dist[j] == best && rowOfCol[j] < 0) {
					best, bestK = dist[j], k
				}
			}
			if math.IsInf(best, 1) {
				return nil, false
			}
			minVal = best
			j := todo[bestK]
			inCols[j] = true
			left--
			todo[bestK] = todo[left]
			if rowOfCol[j] < 0 {
				sink = j
			} else {
				i = rowOfCol[j]
			}
		}
		// Keep reduced costs non-negative and matched edges tight.
		u[cur] += minVal
		for r := 0; r < n; r++ {
			if inRows[r] && r != cur {
				u[r] += minVal - dist[colOfRow[r]]
			}
		}
		for j := 0; j < m; j++ {
			if inCols[j] {
				v[j] -= minVal - dist[j]
			}
		}
		// Flip the path from sink back to cur.
		for j := sink; ; {
			r := pred[j]
			rowOfCol[j] = r
			colOfRow[r], j = j, colOfRow[r]
			if r == cur {
				break
			}
		}
	}
	return colOfRow, true
}
