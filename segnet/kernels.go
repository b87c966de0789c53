package segnet

import "math"

// reluMask returns all ones if t > 0 and zero otherwise (also for -0), for
// NaN-free t. Branch-free: the sign of a pre-activation is a coin flip, and
// a mispredicted branch per element costs more than the rest of the loop.
func reluMask(t float32) uint32 {
	return uint32((-int64(int32(math.Float32bits(t)))) >> 63)
}
