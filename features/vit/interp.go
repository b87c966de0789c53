package vit

import "math"

// Bicubic resampling of the position embeddings, as
// torch.nn.functional.interpolate(mode="bicubic", align_corners=False)
// computes it on the CPU (aten/src/ATen/native/UpSampleKernel.cpp): cubic
// convolution with A = -0.75, source index scale*(i+0.5)-0.5 in float32,
// neighbours clamped to the border, the width interpolated first and the
// height over its results.

const cubicA = -0.75

func cubic1(x float32) float32 { return ((cubicA+2)*x-(cubicA+3))*x*x + 1 }
func cubic2(x float32) float32 { return ((cubicA*x-5*cubicA)*x+8*cubicA)*x - 4*cubicA }

// cubicTaps returns, for each of out output positions, the four source
// indices (clamped to [0, in)) and their weights. scale is the ratio of
// source to destination coordinates, as torch computes it.
func cubicTaps(in, out int, scale float32) ([][4]int, [][4]float32) {
	idx := make([][4]int, out)
	wt := make([][4]float32, out)
	for i := range out {
		real := scale*(float32(i)+0.5) - 0.5
		f := float32(math.Floor(float64(real)))
		t := real - f
		wt[i] = [4]float32{cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(1 - t + 1)}
		for j := range 4 {
			idx[i][j] = min(max(int(f)-1+j, 0), in-1)
		}
	}
	return idx, wt
}

// posScale returns torch's coordinate scale for resizing m positions to
// out: from the requested size (the Hugging Face models) or from the
// scale factor (out+0.1)/m that the original DINO code passes.
func posScale(m, out int, fromFactor bool) float32 {
	if fromFactor {
		factor := (float64(out) + 0.1) / float64(m)
		return float32(1.0 / factor)
	}
	return float32(m) / float32(out)
}

// interpolatePos returns the position embeddings [1+gh*gw, D] for a gh x
// gw patch grid on an image of h x w pixels.
func (m *Model) interpolatePos(gh, gw, h, w int) []float32 {
	a := m.Arch
	D, M := a.Hidden, a.Grid
	// Every reference returns the stored embeddings unchanged for a square
	// image whose grid has as many patches as the table.
	if gh*gw == M*M && h == w {
		return m.pos
	}
	fromFactor := a.Layout == LayoutTimm
	yi, yw := cubicTaps(M, gh, posScale(M, gh, fromFactor))
	xi, xw := cubicTaps(M, gw, posScale(M, gw, fromFactor))
	out := make([]float32, (1+gh*gw)*D)
	copy(out, m.pos[:D])
	src := m.pos[D:]
	var t [4][]float32
	for j := range t {
		t[j] = make([]float32, D)
	}
	for oy := range gh {
		for ox := range gw {
			for j := range 4 {
				row := src[yi[oy][j]*M*D:]
				tj := t[j]
				c0, c1, c2, c3 := row[xi[ox][0]*D:], row[xi[ox][1]*D:], row[xi[ox][2]*D:], row[xi[ox][3]*D:]
				w0, w1, w2, w3 := xw[ox][0], xw[ox][1], xw[ox][2], xw[ox][3]
				for d := range tj {
					v := c0[d] * w0
					v += c1[d] * w1
					v += c2[d] * w2
					v += c3[d] * w3
					tj[d] = v
				}
			}
			dst := out[(1+oy*gw+ox)*D : (2+oy*gw+ox)*D]
			w0, w1, w2, w3 := yw[oy][0], yw[oy][1], yw[oy][2], yw[oy][3]
			for d := range dst {
				v := t[0][d] * w0
				v += t[1][d] * w1
				v += t[2][d] * w2
				v += t[3][d] * w3
				dst[d] = v
			}
		}
	}
	return out
}
