package ml

// Winograd F(4x4, 3x3): 4x4 output tiles from 6x6 input patches, 36 products per tile and
// channel pair where F(2x2, 3x3) needs 64 for the same 16 outputs, so the GEMMs, which are
// most of a convolution's time, shrink by 44%. Its transforms have larger coefficients, so it
// rounds a little more than F(2x2, 3x3): the forward pass uses it, while the gradients keep
// the smaller tiles.

// winograd4Budget bounds each core's transformed patches and products (float32 values).
var winograd4Budget = 1 << 18

// winograd4MinTiles is the fewest tiles a chunk takes when the image has them (40x40 planes
// of 256 channels would otherwise get chunks of 10); single-slice inference 1-2% faster.
const winograd4MinTiles = 32

// winograd4MinSide is the smallest side for which the forward pass takes F(4x4, 3x3): on
// smaller planes a chunk holds too few tiles for its 36 GEMMs, and F(2x2, 3x3) is faster
// (20x20 planes of 128 channels: 0.66 ms against 0.49 ms per convolution).
const winograd4MinSide = 32

// winograd4Usable reports whether the forward convolution s runs by F(4x4, 3x3): what
// winogradUsable asks, with sides that are multiples of 4 and at least winograd4MinSide.
func winograd4Usable(s ConvShape) bool {
	return winogradUsable(s) && s.H%4 == 0 && s.W%4 == 0 &&
		s.H >= winograd4MinSide && s.W >= winograd4MinSide
}

// convWinograd4 computes y = w*x + bias (bias may be nil) for a convolution that
// winograd4Usable accepts; w is Out x (In*9) with row stride ld.
func (b *cpu) convWinograd4(ws *Workspace, s ConvShape, x, w []float32, ld int, bias, y []float32) {
	in, out := s.In, s.Out
	th, tw := s.H/4, s.W/4
	u := ws.reordered(36 * out * in)
	b.parallel(out, 8, func(lo, hi int) {
		winograd4Weights(w[lo*ld:], ld, hi-lo, in, out, u[lo*in:])
	})
	// Chunks of tile rows within one image, a few per core, their patches and products
	// within winograd4Budget, but at least winograd4MinTiles tiles wide when the image has
	// them: narrower GEMMs cost more in OpenBLAS's packing than the budget saves.
	step := max(winograd4Budget/(36*(in+out)*tw), 1, (winograd4MinTiles+tw-1)/tw)
	step = min(step, (s.N*th+3*b.workers-1)/(3*b.workers), th)
	perImage := (th + step - 1) / step
	ws.reserveWorkers(b.workers)
	b.dynamicW(s.N*perImage, func(i, worker int) {
		img, t0 := i/perImage, (i%perImage)*step
		t1 := min(t0+step, th)
		tiles := (t1 - t0) * tw
		buf := ws.workerCols(worker, 36*(in+out)*tiles+13*(s.W+4))
		v, m, e := buf[:36*in*tiles], buf[36*in*tiles:36*(in+out)*tiles], buf[36*(in+out)*tiles:]
		winograd4Input(x, in, s.N, s.H, s.W, img, t0, t1, v, e)
		for k := 0; k < 36; k++ {
			sgemm(false, false, out, tiles, in, 1, u[k*out*in:], in, v[k*in*tiles:], tiles, 0, m[k*out*tiles:], tiles)
		}
		winograd4Output(m, out, s.N, s.H, s.W, img, t0, t1, bias, y, e)
	})
}
