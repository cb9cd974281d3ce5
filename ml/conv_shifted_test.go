package ml

import (
	"fmt"
	"math"
	"testing"
)

// TestConvPathsMatchDirect checks the CPU convolution paths (im2col for few input taps,
// Winograd for 3x3 same-size convolutions of even sides, F(4x4, 3x3) in the forward pass
// when the sides are multiples of 4 and large enough, direct loops for 3x3 same-size
// convolutions with few outputs, row-shifted GEMMs otherwise)
// against a direct float64 convolution: output, weight and bias gradients and input
// gradient, for padded, valid, dilated and 1x1 kernels and chunks that split images.
func TestConvPathsMatchDirect(t *testing.T) {
	saved, savedW, savedW4 := colBudget, winogradBudget, winograd4Budget
	defer func() { colBudget, winogradBudget, winograd4Budget = saved, savedW, savedW4 }()
	for _, tc := range []struct{ in, out, k, pad, dil, n, h, w, budget int }{
		{1, 5, 3, 1, 1, 2, 9, 7, 1 << 19},     // im2col forward, im2col backward
		{6, 5, 3, 1, 1, 2, 9, 7, 1 << 19},     // shifted
		{6, 5, 3, 1, 1, 3, 9, 7, 200},         // shifted, one row per chunk
		{7, 4, 3, 2, 2, 2, 8, 9, 600},         // dilated
		{6, 6, 3, 0, 1, 2, 8, 7, 1 << 19},     // valid
		{17, 16, 1, 0, 1, 2, 5, 6, 1 << 19},   // 1x1
		{2, 9, 3, 1, 1, 2, 6, 6, 1 << 19},     // shifted backward data, im2col forward
		{16, 17, 3, 1, 1, 2, 8, 6, 1 << 19},   // Winograd
		{18, 16, 3, 1, 1, 3, 8, 10, 300},      // Winograd, one tile row per chunk
		{16, 16, 3, 1, 1, 1, 7, 6, 1 << 19},   // odd side: shifted
		{8, 3, 3, 1, 1, 2, 9, 7, 1 << 19},     // direct forward (few outputs)
		{16, 17, 3, 1, 1, 2, 32, 36, 1 << 19}, // Winograd F(4x4, 3x3) forward
		{17, 16, 3, 1, 1, 1, 36, 32, 300},     // F(4x4, 3x3), three chunks per image
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			colBudget, winogradBudget, winograd4Budget = tc.budget, 8*tc.budget, 8*tc.budget
			rng := testRNG()
			be := DefaultBackend
			c := NewConv2d("c", tc.in, tc.out, tc.k, tc.pad, tc.dil, true, be, NewWorkspace(be), rng)
			ho, wo := c.OutSize(tc.h, tc.w)
			x := randSlice(rng, tc.in*tc.n*tc.h*tc.w, 1)
			dy := randSlice(rng, tc.out*tc.n*ho*wo, 1)
			y := make([]float32, len(dy))
			dx := make([]float32, len(x))
			c.Forward(x, tc.n, tc.h, tc.w, y)
			c.Backward(append([]float32(nil), dy...), dx)

			wantY := make([]float64, len(y))
			wantDx := make([]float64, len(x))
			wantDw := make([]float64, len(c.Weight.Data))
			wantDb := make([]float64, tc.out)
			k := tc.k
			for o := 0; o < tc.out; o++ {
				for s := 0; s < tc.n; s++ {
					for oy := 0; oy < ho; oy++ {
						for ox := 0; ox < wo; ox++ {
							yi := ((o*tc.n+s)*ho+oy)*wo + ox
							acc := float64(c.Bias.Data[o])
							g := float64(dy[yi])
							wantDb[o] += g
							for ci := 0; ci < tc.in; ci++ {
								for ky := 0; ky < k; ky++ {
									for kx := 0; kx < k; kx++ {
										iy, ix := oy+ky*tc.dil-tc.pad, ox+kx*tc.dil-tc.pad
										if iy < 0 || iy >= tc.h || ix < 0 || ix >= tc.w {
											continue
										}
										xi := ((ci*tc.n+s)*tc.h+iy)*tc.w + ix
										wi := ((o*tc.in+ci)*k+ky)*k + kx
										acc += float64(c.Weight.Data[wi]) * float64(x[xi])
										wantDw[wi] += g * float64(x[xi])
										wantDx[xi] += g * float64(c.Weight.Data[wi])
									}
								}
							}
							wantY[yi] = acc
						}
					}
				}
			}
			check := func(name string, got []float32, want []float64) {
				for i := range want {
					if d := math.Abs(float64(got[i]) - want[i]); d > 1e-4*(1+math.Abs(want[i])) {
						t.Fatalf("%s[%d] = %g, want %g", name, i, got[i], want[i])
					}
				}
			}
			check("y", y, wantY)
			check("dx", dx, wantDx)
			check("dw", c.Weight.Grad, wantDw)
			check("db", c.Bias.Grad, wantDb)
		})
	}
}
