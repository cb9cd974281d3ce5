package nifti

import (
	"math"
)

// Affine is the voxel-to-world (RAS mm) transform nibabel would use for this image: the sform when
// sform_code > 0, else the qform when qform_code > 0, else the pixdim diagonal of Analyze (x flipped,
// origin at the centre of the volume). Invalid xform codes count as 0, as nibabel fixes them on load.
func (img *Image) Affine() [4][4]float64 { return img.Header.Affine() }

// AxisCodes is nibabel's aff2axcodes of the image's affine: for each array axis, the world direction it runs
// towards ("R", "A", "S", "L", "P", "I"; "" for an axis with no direction).
func (img *Image) AxisCodes() [3]string { return AxisCodes(img.Header.Affine()) }

// Affine is the voxel-to-world transform chosen as nibabel's get_best_affine does; see (*Image).Affine.
func (h *Header) Affine() [4][4]float64 {
	if validXformCode(h.SformCode) && h.SformCode > 0 {
		return h.SformAffine()
	}
	if validXformCode(h.QformCode) && h.QformCode > 0 {
		return h.QformAffine()
	}
	return h.BaseAffine()
}

// validXformCode reports whether nibabel accepts an sform/qform code (0 to 5); it resets any other to 0.
func validXformCode(code int32) bool { return code >= 0 && code <= 5 }

// SformAffine is the affine stored in the srow_x/y/z rows, whatever sform_code says.
func (h *Header) SformAffine() [4][4]float64 {
	return [4][4]float64{h.SrowX, h.SrowY, h.SrowZ, {0, 0, 0, 1}}
}

// spatialZooms returns pixdim[1..3] as nibabel sees them after loading: zeros become 1, negatives their
// absolute value.
func (h *Header) spatialZooms() [3]float64 {
	var z [3]float64
	for i := range z {
		v := h.Pixdim[i+1]
		switch {
		case v == 0:
			v = 1
		case v < 0:
			v = -v
		}
		z[i] = v
	}
	return z
}

// QformAffine is the affine computed from the quaternion, offsets, pixdim and qfac, whatever qform_code says.
// As in nibabel, a qfac (pixdim[0]) other than -1 counts as 1, and a quaternion whose b,c,d have norm above 1
// (within the header's float precision) yields a 180 degree rotation (a = 0).
func (h *Header) QformAffine() [4][4]float64 {
	b, c, d := h.QuaternB, h.QuaternC, h.QuaternD
	a := 0.0
	if w2 := 1 - (b*b + c*c + d*d); w2 > 0 {
		a = math.Sqrt(w2)
	}
	r := quaternionMatrix(a, b, c, d)
	zooms := h.spatialZooms()
	if h.Pixdim[0] == -1 {
		zooms[2] = -zooms[2]
	}
	var m [4][4]float64
	for i := range 3 {
		for j := range 3 {
			m[i][j] = r[i][j] * zooms[j]
		}
	}
	m[0][3], m[1][3], m[2][3] = h.QoffsetX, h.QoffsetY, h.QoffsetZ
	m[3][3] = 1
	return m
}

// quaternionMatrix is nibabel's quat2mat: the rotation of quaternion (w, x, y, z), normalised.
func quaternionMatrix(w, x, y, z float64) [3][3]float64 {
	n := w*w + x*x + y*y + z*z
	if n < 2.220446049250313e-16 {
		return [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	}
	s := 2 / n
	X, Y, Z := x*s, y*s, z*s
	wX, wY, wZ := w*X, w*Y, w*Z
	xX, xY, xZ := x*X, x*Y, x*Z
	yY, yZ, zZ := y*Y, y*Z, z*Z
	return [3][3]float64{
		{1 - (yY + zZ), xY - wZ, xZ + wY},
		{xY + wZ, 1 - (xX + zZ), yZ - wX},
		{xZ - wY, yZ + wX, 1 - (xX + yY)},
	}
}

// BaseAffine is the Analyze-style affine nibabel falls back to when neither sform nor qform is set: a diagonal
// of pixdim with x negated (radiological storage), the origin at the volume's centre.
func (h *Header) BaseAffine() [4][4]float64 {
	shape := h.Shape()
	zooms := h.spatialZooms()
	zooms[0] = -zooms[0]
	var m [4][4]float64
	for i := range 3 {
		m[i][i] = zooms[i]
		m[i][3] = -float64(shape[i]-1) / 2 * zooms[i]
	}
	m[3][3] = 1
	return m
}

// orientation is nibabel's io_orientation for a 3-D affine: for each array axis, the world axis (0 = x/R,
// 1 = y/A, 2 = z/S) it is closest to and the sign of its direction; world axis -1 where the axis has none.
func ioOrientation(aff [4][4]float64) (worldAxis [3]int, sign [3]int) {
	var rs [3][3]float64
	for j := range 3 {
		norm := math.Sqrt(aff[0][j]*aff[0][j] + aff[1][j]*aff[1][j] + aff[2][j]*aff[2][j])
		if norm == 0 {
			norm = 1
		}
		for i := range 3 {
			rs[i][j] = aff[i][j] / norm
		}
	}
	r := polarFactor(rs)
	for j := range 3 {
		worldAxis[j] = -1
		best, bestAbs := -1, 0.0
		allSmall := true
		for i := range 3 {
			if math.Abs(r[i][j]) > 1e-8 {
				allSmall = false
			}
			if a := math.Abs(r[i][j]); best < 0 || a > bestAbs {
				best, bestAbs = i, a
			}
		}
		if allSmall || bestAbs == 0 {
			continue
		}
		worldAxis[j] = best
		sign[j] = 1
		if r[best][j] < 0 {
			sign[j] = -1
		}
		// Ties are broken by taking world axes in array-axis order: a used world axis is out of the running.
		r[best] = [3]float64{}
	}
	return worldAxis, sign
}

// polarFactor returns the orthogonal factor U·Vᵀ of the singular value decomposition of m, dropping the
// directions of (near) zero singular values as io_orientation does. nibabel's tolerance is 3·eps·max(s);
// singular values found through mᵀm are only accurate to about sqrt(eps)·max(s), so ours is 1e-7·max(s).
// The two differ only for matrices that are singular to within 1e-7, which no scanner writes.
func polarFactor(m [3][3]float64) [3][3]float64 {
	// Eigen-decompose mᵀm = V·diag(s²)·Vᵀ by Jacobi rotations; then U's columns are m·v / s.
	var ata [3][3]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				ata[i][j] += m[k][i] * m[k][j]
			}
		}
	}
	eig, v := jacobiEigen(ata)
	var s [3]float64
	smax := 0.0
	for i := range 3 {
		s[i] = math.Sqrt(max(eig[i], 0))
		smax = max(smax, s[i])
	}
	tol := smax * 1e-7
	var r [3][3]float64
	for k := range 3 {
		if s[k] <= tol {
			continue
		}
		var u [3]float64
		for i := range 3 {
			for j := range 3 {
				u[i] += m[i][j] * v[j][k]
			}
			u[i] /= s[k]
		}
		for i := range 3 {
			for j := range 3 {
				r[i][j] += u[i] * v[j][k]
			}
		}
	}
	return r
}

// jacobiEigen diagonalises a symmetric 3x3 matrix: a = v·diag(eig)·vᵀ, eigenvectors in v's columns.
func jacobiEigen(a [3][3]float64) (eig [3]float64, v [3][3]float64) {
	v = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	for sweep := 0; sweep < 64; sweep++ {
		off := a[0][1]*a[0][1] + a[0][2]*a[0][2] + a[1][2]*a[1][2]
		if off < 1e-300 {
			break
		}
		for p := 0; p < 2; p++ {
			for q := p + 1; q < 3; q++ {
				if a[p][q] == 0 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				sn := t * c
				for k := range 3 {
					akp, akq := a[k][p], a[k][q]
					a[k][p] = c*akp - sn*akq
					a[k][q] = sn*akp + c*akq
				}
				for k := range 3 {
					apk, aqk := a[p][k], a[q][k]
					a[p][k] = c*apk - sn*aqk
					a[q][k] = sn*apk + c*aqk
				}
				for k := range 3 {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p] = c*vkp - sn*vkq
					v[k][q] = sn*vkp + c*vkq
				}
			}
		}
	}
	return [3]float64{a[0][0], a[1][1], a[2][2]}, v
}

// AxisCodes is nibabel's aff2axcodes with the default RAS labels: for each array axis of a voxel-to-world
// affine, the direction it points to ("R", "A", "S", "L", "P" or "I"), or "" where it has none.
func AxisCodes(aff [4][4]float64) [3]string {
	labels := [3][2]string{{"L", "R"}, {"P", "A"}, {"I", "S"}}
	world, sign := ioOrientation(aff)
	var codes [3]string
	for j := range 3 {
		if world[j] < 0 {
			continue
		}
		if sign[j] > 0 {
			codes[j] = labels[world[j]][1]
		} else {
			codes[j] = labels[world[j]][0]
		}
	}
	return codes
}
