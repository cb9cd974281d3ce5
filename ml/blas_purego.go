//go:build purego

package ml

import (
	"runtime"
	"sync"
)

const blasName = "purego"

var goBLASThreads = runtime.GOMAXPROCS(0)

func setBLASThreads(n int) { goBLASThreads = n }

// sgemm is a portable fallback for machines without OpenBLAS: correct and parallel over
// rows of C, but several times slower than an optimised BLAS.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	rows := func(lo, hi int) {
		acc := make([]float32, n)
		arow := make([]float32, k)
		for i := lo; i < hi; i++ {
			for p := range arow {
				if transA {
					arow[p] = a[p*lda+i]
				} else {
					arow[p] = a[i*lda+p]
				}
			}
			if transB {
				// Row i of A against rows j of B: both contiguous.
				for j := range acc {
					acc[j] = dot(arow, b[j*ldb:j*ldb+k])
				}
			} else {
				clear(acc)
				for p, av := range arow {
					if av == 0 {
						continue
					}
					br := b[p*ldb : p*ldb+n]
					for j, bv := range br {
						acc[j] += av * bv
					}
				}
			}
			cr := c[i*ldc : i*ldc+n]
			for j := range cr {
				if beta == 0 {
					cr[j] = alpha * acc[j]
				} else {
					cr[j] = alpha*acc[j] + beta*cr[j]
				}
			}
		}
	}
	w := min(goBLASThreads, m)
	if w <= 1 || m*n*k < 1<<16 {
		rows(0, m)
		return
	}
	var wg sync.WaitGroup
	step := (m + w - 1) / w
	for lo := 0; lo < m; lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			rows(lo, hi)
		}(lo, min(lo+step, m))
	}
	wg.Wait()
}

func dot(x, y []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return s0 + s1 + s2 + s3
}
