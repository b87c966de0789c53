//go:build !purego

#include "textflag.h"

// ASSIGN8 is the body of assignWindowAVX2 for the 8 pixels at byte offset
// AX of the current row: d as described below, ^bits(d) in Y6, the new best
// distances (unsigned max) in Y9; where the best did not change (Y10) the
// label stays, elsewhere it becomes id.
#define ASSIGN8 \
	VMOVUPS   (SI)(AX*1), Y6 \
	VSUBPS    Y0, Y6, Y6 \
	VMULPS    Y6, Y6, Y6 \
	VMOVUPS   (DI)(AX*1), Y7 \
	VSUBPS    Y1, Y7, Y7 \
	VMULPS    Y7, Y7, Y7 \
	VADDPS    Y7, Y6, Y6 \
	VMOVUPS   (R8)(AX*1), Y7 \
	VSUBPS    Y2, Y7, Y7 \
	VMULPS    Y7, Y7, Y7 \
	VADDPS    Y7, Y6, Y6 \
	VMULPS    Y3, Y6, Y6 \
	VMOVUPS   (R11)(AX*1), Y7 \
	VADDPS    Y5, Y7, Y7 \
	VADDPS    Y7, Y6, Y6 \
	VPXOR     Y15, Y6, Y6 \
	VMOVDQU   (R9)(AX*1), Y8 \
	VPMAXUD   Y6, Y8, Y9 \
	VPCMPEQD  Y8, Y9, Y10 \
	VMOVDQU   Y9, (R9)(AX*1) \
	VMOVDQU   (R10)(AX*1), Y11 \
	VPBLENDVB Y10, Y11, Y4, Y11 \
	VMOVDQU   Y11, (R10)(AX*1)

// func assignWindowAVX2(l, a, b *float32, dist *uint32, label *int32, dxw, dyw *float32, n, rows, stride int, cl, ca, cb, wc float32, id int32)
//
// For each of rows rows (stride pixels apart) and n columns of the window:
// d = ((dl*dl + da*da) + db*db)*wc + (dxw[x] + dyw[y]); the pixel takes id
// when ^bits(d) > dist (unsigned), i.e. when d is strictly smaller than its
// best distance so far. See solver.dist for the encoding. A row of n >= 8
// pixels ends with a vector over its last 8, overlapping the one before:
// visiting a pixel twice for the same cluster changes nothing, since the
// second visit's distance is not strictly smaller than the first's.
TEXT ·assignWindowAVX2(SB), NOSPLIT, $0-100
	MOVQ l+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ b+16(FP), R8
	MOVQ dist+24(FP), R9
	MOVQ label+32(FP), R10
	MOVQ dxw+40(FP), R11
	MOVQ dyw+48(FP), R12
	MOVQ n+56(FP), CX
	MOVQ rows+64(FP), DX
	MOVQ stride+72(FP), BX
	SHLQ $2, BX                 // stride in bytes
	SHLQ $2, CX                 // n in bytes
	MOVQ CX, R13
	ANDQ $~31, R13              // bytes covered by whole vectors
	VBROADCASTSS cl+80(FP), Y0
	VBROADCASTSS ca+84(FP), Y1
	VBROADCASTSS cb+88(FP), Y2
	VBROADCASTSS wc+92(FP), Y3
	MOVL         id+96(FP), R15
	VMOVD        R15, X4
	VPBROADCASTD X4, Y4
	VPCMPEQD     Y15, Y15, Y15  // all ones
	TESTQ DX, DX
	JLE   done

row:
	VBROADCASTSS (R12), Y5      // dy² ws of this row
	XORQ AX, AX
	CMPQ AX, R13
	JGE  tail

vec:
	ASSIGN8
	ADDQ $32, AX
	CMPQ AX, R13
	JLT  vec
	CMPQ AX, CX
	JGE  next
	MOVQ CX, AX
	SUBQ $32, AX                // last 8 pixels
	ASSIGN8
	JMP  next

tail:
	CMPQ AX, CX
	JGE  next

	VMOVSS (SI)(AX*1), X6
	VSUBSS X0, X6, X6
	VMULSS X6, X6, X6
	VMOVSS (DI)(AX*1), X7
	VSUBSS X1, X7, X7
	VMULSS X7, X7, X7
	VADDSS X7, X6, X6
	VMOVSS (R8)(AX*1), X7
	VSUBSS X2, X7, X7
	VMULSS X7, X7, X7
	VADDSS X7, X6, X6
	VMULSS X3, X6, X6
	VMOVSS (R11)(AX*1), X7
	VADDSS X5, X7, X7
	VADDSS X7, X6, X6
	VMOVD  X6, R14
	NOTL   R14
	CMPL   R14, (R9)(AX*1)
	JLS    skip                 // ^bits(d) <= best (unsigned): keep
	MOVL   R14, (R9)(AX*1)
	MOVL   R15, (R10)(AX*1)

skip:
	ADDQ $4, AX
	JMP  tail

next:
	ADDQ $4, R12
	ADDQ BX, SI
	ADDQ BX, DI
	ADDQ BX, R8
	ADDQ BX, R9
	ADDQ BX, R10
	DECQ DX
	JNZ  row

done:
	VZEROUPPER
	RET

// func convolveRowAVX2(out, src *float32, off *int, k *float32, n, nk int)
TEXT ·convolveRowAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ off+16(FP), R8
	MOVQ k+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ nk+40(FP), DX
	SHLQ $2, CX                 // n in bytes
	MOVQ CX, R13
	ANDQ $~31, R13
	XORQ AX, AX                 // byte offset of x
	CMPQ AX, R13
	JGE  ctail

cvec:
	MOVQ         (R8), R10      // off[0]
	LEAQ         (SI)(R10*4), R10
	VBROADCASTSS (R9), Y1
	VMULPS       (R10)(AX*1), Y1, Y0
	MOVQ         $1, BX

ctap:
	CMPQ         BX, DX
	JGE          cstore
	MOVQ         (R8)(BX*8), R10
	LEAQ         (SI)(R10*4), R10
	VBROADCASTSS (R9)(BX*4), Y1
	VMULPS       (R10)(AX*1), Y1, Y1
	VADDPS       Y1, Y0, Y0
	INCQ         BX
	JMP          ctap

cstore:
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R13
	JLT     cvec

ctail:
	CMPQ AX, CX
	JGE  cdone
	MOVQ   (R8), R10
	LEAQ   (SI)(R10*4), R10
	VMOVSS (R9), X1
	VMULSS (R10)(AX*1), X1, X0
	MOVQ   $1, BX

cttap:
	CMPQ   BX, DX
	JGE    ctstore
	MOVQ   (R8)(BX*8), R10
	LEAQ   (SI)(R10*4), R10
	VMOVSS (R9)(BX*4), X1
	VMULSS (R10)(AX*1), X1, X1
	VADDSS X1, X0, X0
	INCQ   BX
	JMP    cttap

ctstore:
	VMOVSS X0, (DI)(AX*1)
	ADDQ   $4, AX
	JMP    ctail

cdone:
	VZEROUPPER
	RET

// tailmask<>+4*(8-n) is the load mask of the first n of 8 lanes.
DATA tailmask<>+0(SB)/8, $-1
DATA tailmask<>+8(SB)/8, $-1
DATA tailmask<>+16(SB)/8, $-1
DATA tailmask<>+24(SB)/8, $-1
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// func updateRowAVX2(label *int32, l, a, b *float32, w int, sum *clusterSum, y int64)
TEXT ·updateRowAVX2(SB), NOSPLIT, $0-56
	MOVQ label+0(FP), SI
	MOVQ l+8(FP), R8
	MOVQ a+16(FP), R9
	MOVQ b+24(FP), R10
	MOVQ w+32(FP), CX
	MOVQ sum+40(FP), DI
	MOVQ y+48(FP), BX
	LEAQ tailmask<>(SB), R15
	VXORPS Y8, Y8, Y8
	XORQ AX, AX                 // x0, start of the run

urun:
	CMPQ AX, CX
	JGE  udone
	MOVL (SI)(AX*4), R12        // k
	VMOVD        R12, X0
	VPBROADCASTD X0, Y0
	LEAQ 1(AX), DX              // x, end of the run

uscan8:
	LEAQ      8(DX), R11
	CMPQ      R11, CX
	JGT       uscan1
	VPCMPEQD  (SI)(DX*4), Y0, Y7
	VMOVMSKPS Y7, R11
	XORL      $0xff, R11
	JNZ       uhit
	ADDQ      $8, DX
	JMP       uscan8

uhit:
	BSFL R11, R11
	ADDQ R11, DX
	JMP  usum

uscan1:
	CMPQ DX, CX
	JGE  usum
	CMPL (SI)(DX*4), R12
	JNE  usum
	INCQ DX
	JMP  uscan1

usum:
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   AX, R11              // j

usum8:
	LEAQ   8(R11), R13
	CMPQ   R13, DX
	JGT    utail
	VADDPS (R8)(R11*4), Y1, Y1
	VADDPS (R9)(R11*4), Y2, Y2
	VADDPS (R10)(R11*4), Y3, Y3
	MOVQ   R13, R11
	JMP    usum8

utail:
	MOVQ       DX, R13
	SUBQ       R11, R13         // 0..7 pixels left
	JZ         ureduce
	NEGQ       R13
	ADDQ       $8, R13
	VMOVDQU    (R15)(R13*4), Y7
	VMASKMOVPS (R8)(R11*4), Y7, Y4
	VADDPS     Y4, Y1, Y1
	VMASKMOVPS (R9)(R11*4), Y7, Y4
	VADDPS     Y4, Y2, Y2
	VMASKMOVPS (R10)(R11*4), Y7, Y4
	VADDPS     Y4, Y3, Y3

ureduce:
	// Lanes pairwise, as sum8: hadd(L, A) = L01 L23 A01 A23 | L45 L67 A45 A67,
	// hadd(B, B) = B01 B23 B01 B23 | B45 B67 B45 B67, hadd of both =
	// L0-3 A0-3 B0-3 B0-3 | L4-7 A4-7 B4-7 B4-7, then the halves.
	VHADDPS      Y2, Y1, Y1
	VHADDPS      Y3, Y3, Y3
	VHADDPS      Y3, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VADDPS       X2, X1, X1
	VBLENDPS     $8, X8, X1, X1  // lane 3 = 0 (X8 is zero)
	VCVTPS2PD    X1, Y1
	LEAQ         (R12)(R12*1), R13
	SHLQ         $5, R13         // 64 k
	ADDQ         DI, R13         // &sum[k]
	VADDPD       (R13), Y1, Y1
	VMOVUPD      Y1, (R13)

	MOVQ  DX, R11
	SUBQ  AX, R11                // n
	LEAQ  -1(AX)(DX*1), R14
	IMULQ R11, R14
	SHRQ  $1, R14                // Σx over the run = n(x0+x-1)/2
	ADDQ  R14, 32(R13)
	MOVQ  R11, R14
	IMULQ BX, R14
	ADDQ  R14, 40(R13)
	ADDQ  R11, 48(R13)

	MOVQ DX, AX
	JMP  urun

udone:
	VZEROUPPER
	RET
