package nifti

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGolden reads every file that testdata/gen_golden.py described with nibabel and compares header,
// geometry, extensions, voxel values and the canonical reorientation.
func TestGolden(t *testing.T) {
	for key, want := range loadGolden(t) {
		t.Run(key, func(t *testing.T) {
			var path string
			switch {
			case strings.HasPrefix(key, "shared/"):
				path = sharedFile(t, strings.TrimPrefix(key, "shared/"))
			case strings.HasPrefix(key, "nibabel/"):
				path = nibabelFile(t, strings.TrimPrefix(key, "nibabel/"))
			default:
				t.Fatalf("unknown golden key %q", key)
			}
			checkGolden(t, path, want)
		})
	}
}

func checkGolden(t *testing.T, path string, want goldenFile) {
	var img *Image
	switch {
	case want.HeaderOnly:
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(raw)
		if err != nil {
			t.Fatal(err)
		}
		img = &Image{Header: *h}
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), ".img") {
			t.Errorf("Read of a .hdr without its .img: error %v, want one naming the .img", err)
		}
	case want.Volumes > 1:
		_, err := Read(path)
		if wantMsg := fmt.Sprintf("with %d volumes", want.Volumes); err == nil || !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("Read of a %d-volume image: error %v, want one saying %q", want.Volumes, err, wantMsg)
		}
		if img, err = readPath(path, readOptions{firstVolume: true}); err != nil {
			t.Fatal(err)
		}
	default:
		var err error
		if img, err = Read(path); err != nil {
			t.Fatal(err)
		}
	}
	h := &img.Header
	if h.Version != want.Version || h.BigEndian != want.BigEndian || h.Datatype != want.Datatype {
		t.Errorf("version %d big-endian %v datatype %d, nibabel: %d %v %d", h.Version, h.BigEndian, h.Datatype, want.Version, want.BigEndian, want.Datatype)
	}
	if got := h.Dim[1 : h.NDim()+1]; fmt.Sprint(got) != fmt.Sprint(want.Shape) {
		t.Errorf("shape %v, nibabel %v", got, want.Shape)
	}
	for i, p := range want.Pixdim {
		if !closeTo(h.Pixdim[i], p, 1e-12) {
			t.Errorf("pixdim[%d] = %g, nibabel %g", i, h.Pixdim[i], p)
		}
	}
	if slope, inter, err := h.scaling(); err != nil || slope != want.SclSlope || inter != want.SclInter {
		t.Errorf("scaling %g, %g (%v), nibabel %g, %g", slope, inter, err, want.SclSlope, want.SclInter)
	}
	if h.QformCode != want.QformCode || h.SformCode != want.SformCode {
		t.Errorf("qform/sform codes %d/%d, nibabel %d/%d", h.QformCode, h.SformCode, want.QformCode, want.SformCode)
	}
	// The affine is computed in float64 from float32 fields as nibabel does; only the qform's square root
	// and products may differ in the last bits.
	for _, c := range []struct {
		name      string
		got, want [4][4]float64
	}{{"affine", img.Affine(), want.Affine}, {"qform", h.QformAffine(), want.Qform}, {"sform", h.SformAffine(), want.Sform}} {
		if !affinesClose(c.got, c.want, 1e-9) {
			t.Errorf("%s\n%v\nnibabel\n%v", c.name, c.got, c.want)
		}
	}
	if got := img.AxisCodes(); got != want.AxCodes {
		t.Errorf("axis codes %v, nibabel %v", got, want.AxCodes)
	}
	if len(img.Extensions) != len(want.Extensions) {
		t.Errorf("%d extensions, nibabel %d", len(img.Extensions), len(want.Extensions))
	} else {
		for i, e := range img.Extensions {
			content := bytes.TrimRight(e.Data, "\x00") // nibabel strips the padding
			sum := sha256.Sum256(content)
			w := want.Extensions[i]
			if e.Code != w.Code || len(content) != w.Length || hex.EncodeToString(sum[:]) != w.SHA256 {
				t.Errorf("extension %d: code %d, %d bytes; nibabel code %d, %d bytes (or content differs)", i, e.Code, len(content), w.Code, w.Length)
			}
		}
	}
	if want.HeaderOnly {
		return
	}
	checkDigest(t, "file order", img.Data, *want.Data)

	vol, o := img.Canonical()
	c := want.Canonical
	if vol.Shape != c.Shape {
		t.Errorf("canonical shape %v, nibabel %v (orientation %+v)", vol.Shape, c.Shape, o)
	}
	if !affinesClose(vol.Affine, c.Affine, 1e-9) {
		t.Errorf("canonical affine\n%v\nnibabel\n%v", vol.Affine, c.Affine)
	}
	if got := AxisCodes(vol.Affine); got != c.AxCodes {
		t.Errorf("canonical axis codes %v, nibabel %v", got, c.AxCodes)
	}
	checkDigest(t, "canonical order", vol.Data, c.Data)
	if back := o.ToSourceFloat32(vol.Data, vol.Shape); !equalSlices(back, img.Data) {
		t.Error("ToSourceFloat32(canonical data) differs from the file's data")
	}
	if want.Volumes <= 1 && !h.IsPair() {
		checkDecodeCanonical(t, path, img, vol)
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPairFiles splits real single files into .hdr/.img pairs (plain and gzipped, little and big endian) and
// checks that either name of the pair reads the same image.
func TestPairFiles(t *testing.T) {
	sources := []string{nibabelFile(t, "anatomical.nii"), nibabelFile(t, "reoriented_anat_moved.nii")}
	for _, src := range sources {
		whole, err := Read(src)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		off := int(whole.Header.VoxOffset)
		hdr := bytes.Clone(raw[:nifti1HeaderSize+4])
		copy(hdr[344:348], nifti1PairMagic+"\x00")
		// vox_offset 0: data start at the beginning of the .img (stored as float32 0, any byte order).
		copy(hdr[108:112], []byte{0, 0, 0, 0})
		dir := t.TempDir()
		for _, gz := range []bool{false, true} {
			base := filepath.Join(dir, fmt.Sprintf("pair-gz%v", gz))
			hdrPath, imgPath := base+".hdr", base+".img"
			img := raw[off:]
			if gz {
				imgPath += ".gz"
				img = gzipBytes(t, img)
			}
			if err := os.WriteFile(hdrPath, hdr, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(imgPath, img, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{hdrPath, imgPath} {
				got, err := Read(name)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(name), err)
				}
				if !got.Header.IsPair() || got.Affine() != whole.Affine() || !equalSlices(got.Data, whole.Data) {
					t.Errorf("%s: pair reads differently from the single file", filepath.Base(name))
				}
			}
		}
		if _, err := ReadBytes("upload.hdr", hdr); err == nil || !strings.Contains(err.Error(), ".img") {
			t.Errorf("ReadBytes of a lone .hdr: error %v, want one naming the .img", err)
		}
	}
}
