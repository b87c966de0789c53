//go:build !purego && !(openblas && cgo)

#include "textflag.h"

// BCAST broadcasts the float32 with bits imm into the ZMM register z.
#define BCAST(imm, z) \
	MOVL         $imm, AX \
	VPBROADCASTD AX, z

// func expSumAVX512(s *float64, z, b *float32, n int)
// s[j] += float64(expf32(z[j] - b[j])) for j < n, n a multiple of 16, with
// expf32's operations in its order (no fused multiply-add), so that every
// lane is bit for bit the Go function's.
TEXT ·expSumAVX512(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ z+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	BCAST(0xc2ae0000, Z16) // -87
	BCAST(0x3fb8aa3b, Z17) // log2(e)
	BCAST(0x4b400000, Z18) // 1.5*2^23
	BCAST(0x3f318000, Z19) // ln 2, high part
	BCAST(0xb95e8083, Z20) // ln 2, low part
	BCAST(0x39506967, Z21) // polynomial, highest degree first
	BCAST(0x3ab743ce, Z22)
	BCAST(0x3c088908, Z23)
	BCAST(0x3d2aa9c1, Z24)
	BCAST(0x3e2aaaaa, Z25)
	BCAST(0x3f000000, Z26)
	BCAST(0x3f800000, Z27) // 1
	MOVL         $0x4B400000, AX
	VPBROADCASTD AX, Z28
	MOVL         $127, AX
	VPBROADCASTD AX, Z29
	TESTQ        CX, CX
	JLE          expdone

exploop:
	VMOVUPS (SI), Z0
	VSUBPS  (DX), Z0, Z0     // x
	VCMPPS  $5, Z16, Z0, K1  // keep lanes with !(x < -87)
	VMULPS  Z17, Z0, Z1
	VADDPS  Z18, Z1, Z1      // t
	VSUBPS  Z18, Z1, Z2      // fn
	VPSUBD  Z28, Z1, Z3      // n
	VMULPS  Z19, Z2, Z4
	VSUBPS  Z4, Z0, Z5
	VMULPS  Z20, Z2, Z4
	VSUBPS  Z4, Z5, Z5       // r
	VMULPS  Z21, Z5, Z6
	VADDPS  Z22, Z6, Z6
	VMULPS  Z5, Z6, Z6
	VADDPS  Z23, Z6, Z6
	VMULPS  Z5, Z6, Z6
	VADDPS  Z24, Z6, Z6
	VMULPS  Z5, Z6, Z6
	VADDPS  Z25, Z6, Z6
	VMULPS  Z5, Z6, Z6
	VADDPS  Z26, Z6, Z6      // p
	VMULPS  Z5, Z6, Z6
	VMULPS  Z5, Z6, Z6
	VADDPS  Z5, Z6, Z6
	VADDPS  Z27, Z6, Z6      // p*r*r + r + 1
	VPADDD  Z29, Z3, Z3
	VPSLLD  $23, Z3, Z3      // 2^n
	VMULPS.Z Z3, Z6, K1, Z7  // e, 0 where x < -87
	VEXTRACTF64X4 $1, Z7, Y8
	VCVTPS2PD Y7, Z9
	VCVTPS2PD Y8, Z10
	VADDPD  (DI), Z9, Z9
	VADDPD  64(DI), Z10, Z10
	VMOVUPD Z9, (DI)
	VMOVUPD Z10, 64(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $128, DI
	SUBQ    $16, CX
	JG      exploop

expdone:
	VZEROUPPER
	RET

// func bnPlaneAVX512(x, y *float32, n int, a, b float32, relu bool)
// y[j] = a*x[j] + b (multiply, then add: no fused multiply-add), with ReLU
// if relu as reluMask does it (kept when the bits are a positive int32),
// for j < n, n a multiple of 16.
TEXT ·bnPlaneAVX512(SB), NOSPLIT, $0-33
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS a+24(FP), Z1
	VBROADCASTSS b+28(FP), Z2
	MOVBLZX      relu+32(FP), AX
	VPXORD       Z3, Z3, Z3
	TESTQ        CX, CX
	JLE          bndone
	TESTQ        AX, AX
	JNZ          bnrelu

bnloop:
	VMULPS  (SI), Z1, Z0
	VADDPS  Z2, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JG      bnloop
	JMP     bndone

bnrelu:
	VMULPS   (SI), Z1, Z0
	VADDPS   Z2, Z0, Z0
	VPCMPGTD Z3, Z0, K1
	VMOVUPS.Z Z0, K1, Z0
	VMOVUPS  Z0, (DI)
	ADDQ     $64, SI
	ADDQ     $64, DI
	SUBQ     $16, CX
	JG       bnrelu

bndone:
	VZEROUPPER
	RET

// Indices of the even elements of a pair of ZMM registers.
DATA evens<>+0(SB)/4, $0
DATA evens<>+4(SB)/4, $2
DATA evens<>+8(SB)/4, $4
DATA evens<>+12(SB)/4, $6
DATA evens<>+16(SB)/4, $8
DATA evens<>+20(SB)/4, $10
DATA evens<>+24(SB)/4, $12
DATA evens<>+28(SB)/4, $14
DATA evens<>+32(SB)/4, $16
DATA evens<>+36(SB)/4, $18
DATA evens<>+40(SB)/4, $20
DATA evens<>+44(SB)/4, $22
DATA evens<>+48(SB)/4, $24
DATA evens<>+52(SB)/4, $26
DATA evens<>+56(SB)/4, $28
DATA evens<>+60(SB)/4, $30
GLOBL evens<>(SB), RODATA|NOPTR, $64

// func gather2AVX512(dst, src *float32, n int)
// dst[i] = src[2*i] for i < n, n a multiple of 16; reads src[0:2*n].
TEXT ·gather2AVX512(SB), NOSPLIT, $0-24
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	VMOVDQU32 evens<>(SB), Z2
	TESTQ   CX, CX
	JLE     g2done

g2loop:
	VMOVUPS   (SI), Z0
	VPERMT2PS 64(SI), Z2, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $128, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JG        g2loop

g2done:
	VZEROUPPER
	RET
