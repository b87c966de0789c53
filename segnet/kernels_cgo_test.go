//go:build openblas && cgo

package segnet

import (
	"testing"
)

func TestExpfPoly(t *testing.T) { checkExpf(t, "expf_poly", expfPoly) }
