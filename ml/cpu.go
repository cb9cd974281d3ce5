package ml

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// cpu is the CPU backend. Its elementwise kernels split work into one contiguous range per
// core; reductions run per channel in a fixed order, so results never depend on scheduling.
type cpu struct {
	workers int
}

func newCPU() *cpu {
	w := runtime.GOMAXPROCS(0)
	if w < 1 {
		w = 1
	}
	// The BLAS runs single-threaded and Sgemm splits products across cores itself: OpenBLAS's
	// own worker threads spin while waiting, which on a shared machine steals the cores that
	// the other worker (or another process) needs.
	setBLASThreads(1)
	return &cpu{workers: w}
}

func (b *cpu) Name() string { return "cpu/" + blasName }

func (b *cpu) Alloc(n int) []float32 { return make([]float32, n) }

func (b *cpu) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	bm []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if b.workers == 1 || float64(m)*float64(n)*float64(k) < 1<<18 {
		sgemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
		return
	}
	// Split C into blocks of columns (or rows, when it is taller than wide) on multiples of
	// 16, so every block keeps whole SIMD kernel tiles; several blocks per core let a core
	// that another process slows down take fewer of them.
	if n >= m {
		step := blockSize(n, b.workers)
		b.dynamic((n+step-1)/step, func(i int) {
			j0 := i * step
			j1 := min(j0+step, n)
			bOff := j0
			if transB {
				bOff = j0 * ldb
			}
			sgemm(transA, transB, m, j1-j0, k, alpha, a, lda, bm[bOff:], ldb, beta, c[j0:], ldc)
		})
		return
	}
	step := blockSize(m, b.workers)
	b.dynamic((m+step-1)/step, func(i int) {
		i0 := i * step
		i1 := min(i0+step, m)
		aOff := i0 * lda
		if transA {
			aOff = i0
		}
		sgemm(transA, transB, i1-i0, n, k, alpha, a[aOff:], lda, bm, ldb, beta, c[i0*ldc:], ldc)
	})
}

// gemmBlocksPerWorker bounds how many blocks each core may get of one product.
var gemmBlocksPerWorker = 2

// blockSize splits n into one block per worker, or up to gemmBlocksPerWorker when blocks
// still span at least 512 columns (every block repacks the other operand), on multiples of 16.
func blockSize(n, workers int) int {
	parts := min(gemmBlocksPerWorker*workers, max(workers, n/512))
	return max((n/parts+15)&^15, 16)
}

// dynamic runs fn(0..parts-1) on the workers, each taking the next part when it is free.
func (b *cpu) dynamic(parts int, fn func(i int)) {
	if parts <= 1 {
		if parts == 1 {
			fn(0)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= parts {
				return
			}
			fn(i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < min(b.workers, parts); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

// dynamicW is dynamic passing also the index (0..workers-1) of the worker running each part,
// for per-worker scratch.
func (b *cpu) dynamicW(parts int, fn func(i, worker int)) {
	if parts <= 0 {
		return
	}
	var next atomic.Int64
	work := func(worker int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= parts {
				return
			}
			fn(i, worker)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < min(b.workers, parts); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
}

// parallel runs fn over [0, n) in contiguous ranges of at least minPerPart items, a few
// per worker; small jobs run inline because starting goroutines costs more than the work.
func (b *cpu) parallel(n, minPerPart int, fn func(lo, hi int)) {
	if n < 2*minPerPart || b.workers == 1 {
		fn(0, n)
		return
	}
	parts := min(n/minPerPart, 3*b.workers)
	step := (n + parts - 1) / parts
	b.dynamic((n+step-1)/step, func(i int) {
		fn(i*step, min((i+1)*step, n))
	})
}

func (b *cpu) ReLUForward(x []float32) {
	b.parallel(len(x), 1<<14, func(lo, hi int) {
		s := x[lo:hi]
		for i, v := range s {
			if v < 0 {
				s[i] = 0
			}
		}
	})
}

func (b *cpu) ReLUBackward(y, dy []float32) {
	b.parallel(len(y), 1<<14, func(lo, hi int) {
		ys, ds := y[lo:hi], dy[lo:hi]
		for i, v := range ys {
			if v <= 0 {
				ds[i] = 0
			}
		}
	})
}

func (b *cpu) ChannelStats(x []float32, c, m int, relu bool, mean, variance []float32) {
	b.parallel(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mu, v := channelMoments(x[ch*m:(ch+1)*m], relu)
			mean[ch], variance[ch] = float32(mu), float32(v)
		}
	})
}

func (b *cpu) ChannelAffine(x, y []float32, c, n, hw int, relu bool, mean, invstd, gamma, beta, scale []float32) {
	b.parallel(c*n, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p / n
			a := invstd[ch] * gamma[ch]
			off := beta[ch] - mean[ch]*a
			if scale != nil {
				a *= scale[p]
				off *= scale[p]
			}
			affinePlane(x[p*hw:(p+1)*hw], y[p*hw:(p+1)*hw], a, off, relu)
		}
	})
}

func (b *cpu) BatchNormBackward(x, dy []float32, c, n, hw int, mean, invstd, gamma, scale []float32,
	relu bool, dgamma, dbeta []float32) {
	m := n * hw
	b.parallel(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mu, is := mean[ch], invstd[ch]
			var sdy, sdyx float64
			for s := 0; s < n; s++ {
				sc := float32(1)
				if scale != nil {
					sc = scale[ch*n+s]
				}
				if sc == 0 {
					continue
				}
				off := (ch*n + s) * hw
				a, bb := bnGradSums(x[off:off+hw], dy[off:off+hw], mu)
				sdy += a * float64(sc)
				sdyx += bb * float64(sc*is)
			}
			dgamma[ch] += float32(sdyx)
			dbeta[ch] += float32(sdy)
			// dx = k*(m*dy*scale - sum(dy) - xhat*sum(dy*xhat)), xhat = (x-mu)*invstd.
			k := gamma[ch] * is / float32(m)
			add, slope := -k*float32(sdy), -k*is*float32(sdyx)
			for s := 0; s < n; s++ {
				sc := float32(1)
				if scale != nil {
					sc = scale[ch*n+s]
				}
				off := (ch*n + s) * hw
				bnGradApply(x[off:off+hw], dy[off:off+hw], mu, k*float32(m)*sc, add, slope, relu)
			}
		}
	})
}

func (b *cpu) ScalePlanes(x []float32, c, n, hw int, scale []float32) {
	b.parallel(c*n, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			s := scale[p]
			xs := x[p*hw : (p+1)*hw]
			for i := range xs {
				xs[i] *= s
			}
		}
	})
}

func (b *cpu) MaxPool2Forward(x []float32, planes, h, w int, y []float32, arg []uint8) {
	oh, ow := h/2, w/2
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			maxPool2Plane(x[p*h*w:(p+1)*h*w], y[p*oh*ow:(p+1)*oh*ow], arg[p*oh*ow:(p+1)*oh*ow], h, w)
		}
	})
}

func (b *cpu) MaxPool2Backward(dy []float32, arg []uint8, planes, h, w int, dx []float32) {
	oh, ow := h/2, w/2
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			g, ar := dy[p*oh*ow:(p+1)*oh*ow], arg[p*oh*ow:(p+1)*oh*ow]
			d := dx[p*h*w : (p+1)*h*w]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					a := int(ar[oy*ow+ox])
					d[(2*oy+a/2)*w+2*ox+a%2] += g[oy*ow+ox]
				}
			}
		}
	})
}

func (b *cpu) Upsample2Forward(x []float32, planes, h, w int, y []float32) {
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			upsample2Plane(x[p*h*w:(p+1)*h*w], y[p*4*h*w:(p+1)*4*h*w], h, w)
		}
	})
}

func (b *cpu) Upsample2Backward(dy []float32, planes, h, w int, dx []float32) {
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			upsample2AdjointPlane(dy[p*4*h*w:(p+1)*4*h*w], dx[p*h*w:(p+1)*h*w], h, w)
		}
	})
}

func (b *cpu) SoftmaxChannels(z, p []float32, c, m int) {
	b.parallel(m, 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			mx := z[i]
			for ch := 1; ch < c; ch++ {
				mx = max(mx, z[ch*m+i])
			}
			var sum float32
			for ch := 0; ch < c; ch++ {
				e := float32(math.Exp(float64(z[ch*m+i] - mx)))
				p[ch*m+i] = e
				sum += e
			}
			inv := 1 / sum
			for ch := 0; ch < c; ch++ {
				p[ch*m+i] *= inv
			}
		}
	})
}

func (b *cpu) Sigmoid(z, p []float32) {
	b.parallel(len(z), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p[i] = float32(1 / (1 + math.Exp(-float64(z[i]))))
		}
	})
}

func (b *cpu) AdamUpdate(w, g, m, v []float32, lr, beta1, beta2, eps, bias1, bias2 float32) {
	stepSize := lr / bias1
	b2sqrt := float32(math.Sqrt(float64(bias2)))
	b.parallel(len(w), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := g[i]
			m[i] = beta1*m[i] + (1-beta1)*gi
			v[i] = beta2*v[i] + (1-beta2)*gi*gi
			denom := float32(math.Sqrt(float64(v[i])))/b2sqrt + eps
			w[i] -= stepSize * m[i] / denom
		}
	})
}

func (b *cpu) MaxUnpool2Forward(x []float32, arg []uint8, planes, h, w int, y []float32) {
	oh, ow := h/2, w/2
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			v, ar := x[p*oh*ow:(p+1)*oh*ow], arg[p*oh*ow:(p+1)*oh*ow]
			out := y[p*h*w : (p+1)*h*w]
			clear(out)
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					a := int(ar[oy*ow+ox])
					out[(2*oy+a/2)*w+2*ox+a%2] = v[oy*ow+ox]
				}
			}
		}
	})
}

func (b *cpu) MaxUnpool2Backward(dy []float32, arg []uint8, planes, h, w int, dx []float32) {
	oh, ow := h/2, w/2
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			g, ar := dy[p*h*w:(p+1)*h*w], arg[p*oh*ow:(p+1)*oh*ow]
			d := dx[p*oh*ow : (p+1)*oh*ow]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					a := int(ar[oy*ow+ox])
					d[oy*ow+ox] = g[(2*oy+a/2)*w+2*ox+a%2]
				}
			}
		}
	})
}

func (b *cpu) PlaneSums(x []float32, planes, hw int, scale float32, out []float32) {
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var s float64 // a plane can hold tens of thousands of values
			for _, v := range x[p*hw : (p+1)*hw] {
				s += float64(v)
			}
			out[p] = float32(s * float64(scale))
		}
	})
}

func (b *cpu) FillPlanes(v []float32, planes, hw int, scale float32, accumulate bool, y []float32) {
	b.parallel(planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c, ys := scale*v[p], y[p*hw:(p+1)*hw]
			if !accumulate {
				for i := range ys {
					ys[i] = c
				}
				continue
			}
			for i := range ys {
				ys[i] += c
			}
		}
	})
}

func (b *cpu) AddTo(dst, src []float32) {
	b.parallel(len(dst), 1<<14, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i, v := range s {
			d[i] += v
		}
	})
}
