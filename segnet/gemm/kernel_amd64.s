//go:build !purego

#include "textflag.h"

// One k step of the 4x24 AVX2 tile: B row in Y0-Y2, A column broadcast
// into Y3, accumulators Y4-Y15 (row i in Y(4+3i)..Y(6+3i)).
#define STEP24(ao, bo) \
	VMOVUPS      bo(DI), Y0          \
	VMOVUPS      bo+32(DI), Y1       \
	VMOVUPS      bo+64(DI), Y2       \
	VBROADCASTSS ao(SI), Y3          \
	VFMADD231PS  Y0, Y3, Y4          \
	VFMADD231PS  Y1, Y3, Y5          \
	VFMADD231PS  Y2, Y3, Y6          \
	VBROADCASTSS ao+4(SI), Y3        \
	VFMADD231PS  Y0, Y3, Y7          \
	VFMADD231PS  Y1, Y3, Y8          \
	VFMADD231PS  Y2, Y3, Y9          \
	VBROADCASTSS ao+8(SI), Y3        \
	VFMADD231PS  Y0, Y3, Y10         \
	VFMADD231PS  Y1, Y3, Y11         \
	VFMADD231PS  Y2, Y3, Y12         \
	VBROADCASTSS ao+12(SI), Y3       \
	VFMADD231PS  Y0, Y3, Y13         \
	VFMADD231PS  Y1, Y3, Y14         \
	VFMADD231PS  Y2, Y3, Y15

// ROW24 stores (or adds into) one row of the tile at DX and moves DX on.
#define ROW24LOAD(r0, r1, r2) \
	VADDPS  (DX), r0, r0   \
	VADDPS  32(DX), r1, r1 \
	VADDPS  64(DX), r2, r2 \
	VMOVUPS r0, (DX)       \
	VMOVUPS r1, 32(DX)     \
	VMOVUPS r2, 64(DX)     \
	ADDQ    R8, DX

#define ROW24(r0, r1, r2) \
	VMOVUPS r0, (DX)       \
	VMOVUPS r1, 32(DX)     \
	VMOVUPS r2, 64(DX)     \
	ADDQ    R8, DX

// func micro4x24AVX2(k int, a, b, c *float32, ldc int, load bool)
TEXT ·micro4x24AVX2(SB), NOSPLIT, $0-41
	MOVQ   k+0(FP), CX
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DI
	MOVQ   c+24(FP), DX
	MOVQ   ldc+32(FP), R8
	SHLQ   $2, R8
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	MOVQ   CX, BX
	SHRQ   $2, BX
	JZ     tail24

loop24:
	PREFETCHT0 384(DI)
	STEP24(0, 0)
	STEP24(16, 96)
	PREFETCHT0 448(DI)
	STEP24(32, 192)
	STEP24(48, 288)
	ADDQ $64, SI
	ADDQ $384, DI
	DECQ BX
	JNZ  loop24

tail24:
	ANDQ $3, CX
	JZ   store24

tail24loop:
	STEP24(0, 0)
	ADDQ $16, SI
	ADDQ $96, DI
	DECQ CX
	JNZ  tail24loop

store24:
	CMPB load+40(FP), $0
	JEQ  set24
	ROW24LOAD(Y4, Y5, Y6)
	ROW24LOAD(Y7, Y8, Y9)
	ROW24LOAD(Y10, Y11, Y12)
	ROW24LOAD(Y13, Y14, Y15)
	VZEROUPPER
	RET

set24:
	ROW24(Y4, Y5, Y6)
	ROW24(Y7, Y8, Y9)
	ROW24(Y10, Y11, Y12)
	ROW24(Y13, Y14, Y15)
	VZEROUPPER
	RET

// One k step of the 8x32 AVX-512 tile: B row in Z0-Z1, A column broadcast
// into Z2/Z3, accumulators Z16-Z31 (row i in Z(16+2i), Z(17+2i)).
#define STEP32(ao, bo) \
	VMOVUPS      bo(DI), Z0          \
	VMOVUPS      bo+64(DI), Z1       \
	VBROADCASTSS ao(SI), Z2          \
	VBROADCASTSS ao+4(SI), Z3        \
	VFMADD231PS  Z0, Z2, Z16         \
	VFMADD231PS  Z1, Z2, Z17         \
	VFMADD231PS  Z0, Z3, Z18         \
	VFMADD231PS  Z1, Z3, Z19         \
	VBROADCASTSS ao+8(SI), Z2        \
	VBROADCASTSS ao+12(SI), Z3       \
	VFMADD231PS  Z0, Z2, Z20         \
	VFMADD231PS  Z1, Z2, Z21         \
	VFMADD231PS  Z0, Z3, Z22         \
	VFMADD231PS  Z1, Z3, Z23         \
	VBROADCASTSS ao+16(SI), Z2       \
	VBROADCASTSS ao+20(SI), Z3       \
	VFMADD231PS  Z0, Z2, Z24         \
	VFMADD231PS  Z1, Z2, Z25         \
	VFMADD231PS  Z0, Z3, Z26         \
	VFMADD231PS  Z1, Z3, Z27         \
	VBROADCASTSS ao+24(SI), Z2       \
	VBROADCASTSS ao+28(SI), Z3       \
	VFMADD231PS  Z0, Z2, Z28         \
	VFMADD231PS  Z1, Z2, Z29         \
	VFMADD231PS  Z0, Z3, Z30         \
	VFMADD231PS  Z1, Z3, Z31

#define ROW32LOAD(r0, r1) \
	VADDPS  (DX), r0, r0   \
	VADDPS  64(DX), r1, r1 \
	VMOVUPS r0, (DX)       \
	VMOVUPS r1, 64(DX)     \
	ADDQ    R8, DX

#define ROW32(r0, r1) \
	VMOVUPS r0, (DX)       \
	VMOVUPS r1, 64(DX)     \
	ADDQ    R8, DX

// func micro8x32AVX512(k int, a, b, c *float32, ldc int, load bool)
TEXT ·micro8x32AVX512(SB), NOSPLIT, $0-41
	MOVQ   k+0(FP), CX
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DI
	MOVQ   c+24(FP), DX
	MOVQ   ldc+32(FP), R8
	SHLQ   $2, R8
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	MOVQ   CX, BX
	SHRQ   $2, BX
	JZ     tail32

loop32:
	PREFETCHT0 512(DI)
	STEP32(0, 0)
	PREFETCHT0 576(DI)
	STEP32(32, 128)
	PREFETCHT0 640(DI)
	STEP32(64, 256)
	PREFETCHT0 704(DI)
	STEP32(96, 384)
	ADDQ $128, SI
	ADDQ $512, DI
	DECQ BX
	JNZ  loop32

tail32:
	ANDQ $3, CX
	JZ   store32

tail32loop:
	STEP32(0, 0)
	ADDQ $32, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  tail32loop

store32:
	CMPB load+40(FP), $0
	JEQ  set32
	ROW32LOAD(Z16, Z17)
	ROW32LOAD(Z18, Z19)
	ROW32LOAD(Z20, Z21)
	ROW32LOAD(Z22, Z23)
	ROW32LOAD(Z24, Z25)
	ROW32LOAD(Z26, Z27)
	ROW32LOAD(Z28, Z29)
	ROW32LOAD(Z30, Z31)
	VZEROUPPER
	RET

set32:
	ROW32(Z16, Z17)
	ROW32(Z18, Z19)
	ROW32(Z20, Z21)
	ROW32(Z22, Z23)
	ROW32(Z24, Z25)
	ROW32(Z26, Z27)
	ROW32(Z28, Z29)
	ROW32(Z30, Z31)
	VZEROUPPER
	RET

// func transpose8x8AVX(src *float32, lds int, dst *float32, ldd int)
// dst[c*ldd+r] = src[r*lds+c] for r, c < 8 (strides in elements): the
// packing of A by rows and of B by columns, 8x8 blocks at a time.
TEXT ·transpose8x8AVX(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), AX
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), BX
	SHLQ $2, AX
	SHLQ $2, BX
	LEAQ (AX)(AX*2), CX // 3*lds
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(AX*1), Y1
	VMOVUPS (SI)(AX*2), Y2
	VMOVUPS (SI)(CX*1), Y3
	LEAQ    (SI)(AX*4), SI
	VMOVUPS (SI), Y4
	VMOVUPS (SI)(AX*1), Y5
	VMOVUPS (SI)(AX*2), Y6
	VMOVUPS (SI)(CX*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	LEAQ       (BX)(BX*2), CX // 3*ldd
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS    Y8, (DI)
	VMOVUPS    Y9, (DI)(BX*1)
	VMOVUPS    Y10, (DI)(BX*2)
	VMOVUPS    Y11, (DI)(CX*1)
	LEAQ       (DI)(BX*4), DI
	VMOVUPS    Y12, (DI)
	VMOVUPS    Y13, (DI)(BX*1)
	VMOVUPS    Y14, (DI)(BX*2)
	VMOVUPS    Y15, (DI)(CX*1)
	VZEROUPPER
	RET

// func copyRows32AVX(dst, src *float32, ld, kc int)
// dst[p*32+j] = src[p*ld+j] for p < kc, j < 32 (ld in elements): packing
// of untransposed B for the 8x32 kernel, 4 YMM moves per row where
// runtime.memmove costs a call per 128-byte row.
TEXT ·copyRows32AVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), AX
	MOVQ kc+24(FP), CX
	SHLQ $2, AX
	TESTQ CX, CX
	JLE  done32

loop32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    AX, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     loop32

done32:
	VZEROUPPER
	RET

// func copyRows24AVX(dst, src *float32, ld, kc int)
// As copyRows32AVX for the 24 columns of the 4x24 kernel.
TEXT ·copyRows24AVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), AX
	MOVQ kc+24(FP), CX
	SHLQ $2, AX
	TESTQ CX, CX
	JLE  done24

loop24:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	ADDQ    AX, SI
	ADDQ    $96, DI
	DECQ    CX
	JNZ     loop24

done24:
	VZEROUPPER
	RET
