package nifti

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestCanonicalPSR checks the sagittal t2 volume stored PSR: canonical axis 0 (R) is source axis 2, axis 1
// (A) is source axis 0 reversed (P), axis 2 (S) is source axis 1, so axial slice z is the source's plane
// at array index z of axis 1.
func TestCanonicalPSR(t *testing.T) {
	img, err := Read(sharedFile(t, "sct_testing_data/t2/t2.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.AxisCodes(); got != [3]string{"P", "S", "R"} {
		t.Fatalf("axis codes %v, want P S R", got)
	}
	vol, o := img.Canonical()
	want := Orientation{Perm: [3]int{2, 0, 1}, Flip: [3]bool{false, true, false}}
	if o != want {
		t.Fatalf("orientation %+v, want %+v", o, want)
	}
	src := img.Shape()
	if vol.Shape != [3]int{src[2], src[0], src[1]} || vol.NumSlices() != src[1] {
		t.Fatalf("canonical shape %v from source %v", vol.Shape, src)
	}
	if AxisCodes(vol.Affine) != [3]string{"R", "A", "S"} {
		t.Errorf("canonical affine is %v, not RAS", AxisCodes(vol.Affine))
	}
	for z := range vol.NumSlices() {
		slice := vol.Slice(z)
		for y := range vol.Shape[1] {
			for x := range vol.Shape[0] {
				sx, sy, sz := src[0]-1-y, z, x
				if got, want := slice[x+y*vol.Shape[0]], img.Data[sx+src[0]*(sy+src[1]*sz)]; got != want {
					t.Fatalf("canonical (%d,%d,%d) = %g, source (%d,%d,%d) = %g", x, y, z, got, sx, sy, sz, want)
				}
			}
		}
	}
	// World coordinates are preserved: each canonical voxel sits where its source voxel sat.
	srcAff := img.Affine()
	for _, c := range [][3]int{{0, 0, 0}, {5, 17, 33}, {vol.Shape[0] - 1, vol.Shape[1] - 1, vol.Shape[2] - 1}} {
		s := [3]int{src[0] - 1 - c[1], c[2], c[0]}
		if a, b := apply(vol.Affine, c), apply(srcAff, s); !closeVec(a, b) {
			t.Errorf("canonical voxel %v at %v, its source voxel %v at %v", c, a, s, b)
		}
	}
}

// TestCanonicalOblique checks the oblique gm-challenge T2* volume (LAS with off-diagonal terms) and that its
// expert mask lands on the canonical grid exactly as the image does.
func TestCanonicalOblique(t *testing.T) {
	img, err := Read(sharedFile(t, "gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	mask, err := Read(sharedFile(t, "gm-challenge-data/derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	aff := img.Affine()
	if aff[0][2] == 0 || aff[1][2] == 0 {
		t.Fatalf("expected an oblique affine, got %v", aff)
	}
	vol, o := img.Canonical()
	if want := (Orientation{Perm: [3]int{0, 1, 2}, Flip: [3]bool{true, false, false}}); o != want {
		t.Fatalf("orientation %+v, want %+v", o, want)
	}
	for _, c := range [][3]int{{0, 0, 0}, {100, 50, 7}, {255, 191, 19}} {
		s := [3]int{vol.Shape[0] - 1 - c[0], c[1], c[2]}
		if a, b := apply(vol.Affine, c), apply(aff, s); !closeVec(a, b) {
			t.Errorf("canonical voxel %v at %v, its source voxel %v at %v", c, a, s, b)
		}
	}
	maskVol, maskO := mask.Canonical()
	if maskO != o {
		t.Fatalf("mask orientation %+v differs from the image's %+v", maskO, o)
	}
	labels := make([]uint8, len(mask.Data))
	nonzero := 0
	for i, v := range mask.Data {
		labels[i] = uint8(v)
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("GM mask is empty")
	}
	canonLabels := o.ToCanonical(labels, mask.Shape())
	for i, v := range maskVol.Data {
		if uint8(v) != canonLabels[i] {
			t.Fatalf("ToCanonical(mask)[%d] = %d, canonical mask %g", i, canonLabels[i], v)
		}
	}
	if back := o.ToSource(canonLabels, maskVol.Shape); !equalSlices(back, labels) {
		t.Error("ToSource(ToCanonical(mask)) differs from the mask")
	}
}

// TestOrientationRoundTrip checks ToSource(ToCanonical(x)) == x for every permutation and flip, on a shape
// with three different lengths, and that both directions agree with CanonicalShape/SourceShape.
func TestOrientationRoundTrip(t *testing.T) {
	shape := [3]int{4, 3, 5}
	src := make([]uint8, 60)
	for i := range src {
		src[i] = uint8(rand.IntN(256))
	}
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		for f := range 8 {
			o := Orientation{Perm: p, Flip: [3]bool{f&1 != 0, f&2 != 0, f&4 != 0}}
			canon := o.ToCanonical(src, shape)
			cs := o.CanonicalShape(shape)
			if o.SourceShape(cs) != shape {
				t.Fatalf("%+v: SourceShape(CanonicalShape(%v)) = %v", o, shape, o.SourceShape(cs))
			}
			if back := o.ToSource(canon, cs); !equalSlices(back, src) {
				t.Fatalf("%+v: ToSource(ToCanonical(x)) != x", o)
			}
			// Spot-check the definition: canonical axis i is source axis Perm[i], reversed when Flip[i].
			c := [3]int{cs[0] - 1, 0, cs[2] / 2}
			var s [3]int
			for i := range 3 {
				s[p[i]] = c[i]
				if o.Flip[i] {
					s[p[i]] = cs[i] - 1 - c[i]
				}
			}
			if canon[c[0]+cs[0]*(c[1]+cs[1]*c[2])] != src[s[0]+shape[0]*(s[1]+shape[1]*s[2])] {
				t.Fatalf("%+v: canonical %v does not hold source %v", o, c, s)
			}
		}
	}
	if err := (Orientation{}).Validate(); err == nil {
		t.Error("the zero Orientation validated")
	}
}

func apply(a [4][4]float64, v [3]int) [3]float64 {
	var w [3]float64
	for i := range 3 {
		w[i] = a[i][0]*float64(v[0]) + a[i][1]*float64(v[1]) + a[i][2]*float64(v[2]) + a[i][3]
	}
	return w
}

func closeVec(a, b [3]float64) bool {
	for i := range 3 {
		if !closeTo(a[i], b[i], 1e-9) && (a[i]-b[i] > 1e-6 || b[i]-a[i] > 1e-6) {
			return false
		}
	}
	return true
}

// TestOrientationGolden compares io_orientation on synthetic affines (random rotations, near-45-degree
// ties, flips, anisotropic zooms, shears) with nibabel's answers.
func TestOrientationGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Orientations []struct {
			Affine  [4][4]float64 `json:"affine"`
			Ornt    [3][2]int     `json:"ornt"`
			AxCodes [3]string     `json:"axcodes"`
		} `json:"orientations"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Orientations) == 0 {
		t.Fatal("golden.json has no synthetic orientations")
	}
	for i, c := range g.Orientations {
		world, sign := ioOrientation(c.Affine)
		for ax := range 3 {
			if world[ax] != c.Ornt[ax][0] || sign[ax] != c.Ornt[ax][1] {
				t.Errorf("case %d: io_orientation %v %v, nibabel %v", i, world, sign, c.Ornt)
				break
			}
		}
		if got := AxisCodes(c.Affine); got != c.AxCodes {
			t.Errorf("case %d: axis codes %v, nibabel %v", i, got, c.AxCodes)
		}
	}
}
