// Package gemm is a float32 matrix multiply, C = alpha*op(A)*op(B) + beta*C
// on row-major matrices, for the convolutions of segnet and the encoders
// that share its backend.
//
// It follows the GotoBLAS/BLIS scheme (Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication", ACM TOMS 2008; Van Zee & van de
// Geijn, "BLIS: a framework for rapidly instantiating BLAS functionality",
// ACM TOMS 2015): op(B) is packed in KC x NC blocks sized for the L2/L3
// cache, op(A) (times alpha) in MC x KC blocks, each split into micro-panels
// of NR columns and MR rows stored contiguously along k, and a
// register-blocked micro-kernel computes one MR x NR tile of C with all its
// accumulators in vector registers, reading both panels sequentially. Edges
// (any M, N, K) are handled by zero-padding the packed panels to whole
// micro-panels and writing partial tiles through a small buffer.
//
// Micro-kernels, chosen at run time (golang.org/x/sys/cpu):
//
//   - AVX-512F: 8x32 tile, 16 zmm accumulators, broadcast operands
//     folded into the FMAs;
//   - AVX2+FMA: 4x24 tile, 12 ymm accumulators;
//   - pure Go (other CPUs, other architectures, -tags purego): a 4x8 tile
//     in scalar code over the same packing.
//
// The kernels sum in a different order from a naive triple loop (in KC
// blocks, with fused multiply-adds on amd64) and from one another, so
// results agree with a float64 reference only to rounding. The tests check
// the standard forward-error bound of a float32 dot product (Higham,
// Accuracy and Stability of Numerical Algorithms, 2002, section 3.1),
// elementwise:
//
//	|C - C64| <= (k+2) * u * (sum_p |alpha * a_ip * b_pj| + |beta * c_ij|)
//
// with u = 2^-24 the unit roundoff, C64 the same product in float64.
//
// Implementation plugs the kernel into gonum's blas32 interface
// (blas32.Use); every other blas32 routine is gonum's.
package gemm
