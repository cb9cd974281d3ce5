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
		for i := lo; i < hi; i++ {
			clear(acc)
			for p := 0; p < k; p++ {
				var av float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if av == 0 {
					continue
				}
				if transB {
					for j := range acc {
						acc[j] += av * b[j*ldb+p]
					}
				} else {
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
