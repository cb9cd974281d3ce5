package nifti

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/mriworkbench/workbench/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maskPattern is a deterministic uint8 label map that nibabel's check script rebuilds: (i*7) mod 5.
func maskPattern(n int) []uint8 {
	m := make([]uint8, n)
	for i := range m {
		m[i] = uint8(i * 7 % 5)
	}
	return m
}

type writeCase struct {
	name   string
	source string // file whose geometry the mask takes
	header *Header
	out    string
	// firstVolume: the source has several volumes and the mask covers one.
	firstVolume bool
}

// TestWriteMaskRoundTrip writes masks with the geometry of real files (oblique, PSR, big-endian, NIfTI-2),
// reads them back here, then asks nibabel to confirm shape, affine, qform/sform, codes, pixdim and values.
func TestWriteMaskRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var cases []writeCase
	add := func(name, source string, ext string) {
		img, err := readPath(source, readOptions{firstVolume: true})
		if err != nil {
			t.Fatal(err)
		}
		h := img.Header
		multi := h.Volumes() > 1
		if multi { // the mask covers one volume
			h.Dim[0], h.Dim[4] = 3, 1
		}
		cases = append(cases, writeCase{name, source, &h, filepath.Join(dir, name+ext), multi})
	}
	// Each source set is optional here, unless CI requires the data (then a missing file fails the test).
	if _, err := os.Stat(filepath.Join(repoRoot(t), "..", "shared", "data")); err == nil || testenv.DataRequired() {
		add("oblique", sharedFile(t, "gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz"), ".nii.gz")
		add("psr", sharedFile(t, "sct_testing_data/t2/t2.nii.gz"), ".nii")
		add("qform2-sform1", sharedFile(t, "sct_testing_data/t2s/t2s.nii.gz"), ".nii.gz")
	}
	if _, err := os.Stat(nibabelData); err == nil || testenv.DataRequired() {
		add("big-endian", nibabelFile(t, "anatomical.nii"), ".nii.gz")
		add("nifti2", nibabelFile(t, "example_nifti2.nii.gz"), ".nii.gz")
		add("sform-only", nibabelFile(t, "standard.nii.gz"), ".nii")
	}
	if len(cases) == 0 {
		t.Skip("neither ../shared/data nor nibabel's test data is present")
	}

	type check struct {
		Written     string `json:"written"`
		Source      string `json:"source"`
		FirstVolume bool   `json:"first_volume"`
	}
	var checks []check
	for _, c := range cases {
		shape := c.header.Shape()
		data := maskPattern(shape[0] * shape[1] * shape[2])
		if err := writeMask(c.out, c.header, data); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		back, err := Read(c.out)
		if err != nil {
			t.Fatalf("%s: reading back: %v", c.name, err)
		}
		bh := back.Header
		if bh.Version != 1 || bh.BigEndian || bh.Datatype != DTUint8 || bh.SclSlope != 1 || bh.SclInter != 0 || len(back.Extensions) != 0 {
			t.Errorf("%s: written header: version %d big-endian %v datatype %d scaling %g/%g", c.name, bh.Version, bh.BigEndian, bh.Datatype, bh.SclSlope, bh.SclInter)
		}
		if bh.Dim != c.header.Dim || bh.QformCode != c.header.QformCode || bh.SformCode != c.header.SformCode || bh.XYZTUnits != c.header.XYZTUnits {
			t.Errorf("%s: dims/codes/units changed: %v %d %d %d, source %v %d %d %d", c.name, bh.Dim, bh.QformCode, bh.SformCode, bh.XYZTUnits, c.header.Dim, c.header.QformCode, c.header.SformCode, c.header.XYZTUnits)
		}
		if !affinesClose(back.Affine(), c.header.Affine(), 1e-4) {
			t.Errorf("%s: affine\n%v\nsource\n%v", c.name, back.Affine(), c.header.Affine())
		}
		for i, v := range back.Data {
			if uint8(v) != data[i] {
				t.Fatalf("%s: voxel %d = %g, wrote %d", c.name, i, v, data[i])
			}
		}
		checks = append(checks, check{c.out, c.source, c.firstVolume})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(cases) {
		t.Errorf("%d files in the output directory, want %d (temporary files left behind?)", len(entries), len(cases))
	}

	requireNibabel(t)
	arg, err := json.Marshal(checks)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", nibabelCheckScript, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("nibabel disagrees with what we wrote: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != fmt.Sprintf("ok %d", len(checks)) {
		t.Fatalf("nibabel check script said %q", got)
	}
}

// nibabelCheckScript loads each written mask and its source with nibabel and compares them. A NIfTI-2 source
// is narrowed to float32 NIfTI-1 fields, hence the float32 tolerance on affines.
const nibabelCheckScript = `
import json, sys
import numpy as np, nibabel as nib
checks = json.loads(sys.argv[1])
for c in checks:
    w, s = nib.load(c["written"]), nib.load(c["source"])
    wh, sh = w.header, s.header
    assert isinstance(wh, nib.Nifti1Header) and wh.endianness == "<", c
    assert wh.get_data_dtype() == np.uint8, (c, wh.get_data_dtype())
    shape = s.shape[:3] if c["first_volume"] else s.shape
    assert w.shape == shape, (c, w.shape, shape)
    for name in ("qform_code", "sform_code", "xyzt_units"):
        assert int(wh[name]) == int(sh[name]), (c, name, wh[name], sh[name])
    n = len(w.shape) + 1
    assert np.allclose(wh["pixdim"][:n], sh["pixdim"][:n], rtol=1e-6), (c, wh["pixdim"], sh["pixdim"])
    for a, b in ((w.affine, s.affine), (wh.get_qform(), sh.get_qform()), (wh.get_sform(), sh.get_sform())):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-5), (c, a, b)
    assert w.dataobj.slope == 1 and w.dataobj.inter == 0, c
    data = np.asanyarray(w.dataobj)
    want = (np.arange(data.size) * 7 % 5).astype(np.uint8).reshape(data.shape, order="F")
    assert data.dtype == np.uint8 and np.array_equal(data, want), c
print("ok", len(checks))
`

// TestWriteErrors checks the refusals of the mask encoder (through writeMask): wrong data length, names it cannot write, dimensions
// NIfTI-1 cannot hold; and that a failed write leaves nothing behind.
func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	h := &Header{Version: 1, Dim: [8]int64{3, 4, 3, 2, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1}}
	if err := writeMask(filepath.Join(dir, "a.nii.gz"), h, make([]uint8, 23)); err == nil || !strings.Contains(err.Error(), "23 values") {
		t.Errorf("wrong length: %v", err)
	}
	if err := writeMask(filepath.Join(dir, "a.png"), h, make([]uint8, 24)); err == nil || !strings.Contains(err.Error(), ".nii") {
		t.Errorf("bad extension: %v", err)
	}
	big := *h
	big.Version, big.Dim[1] = 2, 40000
	if err := writeMask(filepath.Join(dir, "big.nii"), &big, make([]uint8, 40000*6)); err == nil || !strings.Contains(err.Error(), "dim[1] = 40000") {
		t.Errorf("NIfTI-2 dimension above int16: %v", err)
	}
	if err := writeMask(filepath.Join(dir, "missing", "a.nii"), h, make([]uint8, 24)); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d files", len(entries))
	}
	// A float32 map written then read keeps its values.
	vals := []float32{0, 0.25, -1.5, 3e7}
	small := &Header{Version: 1, Dim: [8]int64{3, 2, 2, 1, 1, 1, 1, 1}, Pixdim: [8]float64{1, 2, 2, 2}}
	p := filepath.Join(dir, "p.nii")
	if err := writeFloat32(p, small, vals); err != nil {
		t.Fatal(err)
	}
	img, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if img.Header.Datatype != DTFloat32 || !equalSlices(img.Data, vals) {
		t.Errorf("float32 round trip: datatype %d data %v", img.Header.Datatype, img.Data)
	}
}

// EncodeMask streams the same image writeMask writes to a .nii.gz file.
func TestEncodeMaskMatchesWriteMask(t *testing.T) {
	like := &Header{Version: 1, Dim: [8]int64{3, 4, 3, 2, 1, 1, 1, 1}, Pixdim: [8]float64{-1, 0.5, 0.5, 2},
		QformCode: 1, SformCode: 2, SrowX: [4]float64{0.5, 0, 0, 1}, SrowY: [4]float64{0, 0.5, 0, 2}, SrowZ: [4]float64{0, 0, 2, 3}}
	data := maskPattern(4 * 3 * 2)
	path := filepath.Join(t.TempDir(), "m.nii.gz")
	if err := writeMask(path, like, data); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := EncodeMask(&buf, like, data); err != nil {
		t.Fatal(err)
	}
	fromFile, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := ReadBytes("m.nii.gz", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Header != fromFile.Header || !slices.Equal(streamed.Data, fromFile.Data) {
		t.Fatalf("streamed image differs from the written file:\n%+v\n%+v", streamed.Header, fromFile.Header)
	}
	for i, v := range streamed.Data {
		if uint8(v) != data[i] {
			t.Fatalf("voxel %d = %v, want %d", i, v, data[i])
		}
	}
}
