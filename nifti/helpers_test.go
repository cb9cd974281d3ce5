package nifti

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mriworkbench/workbench/internal/testenv"
)

// The shared test environment (internal/testenv) under the names this package's tests use: a missing input
// skips the test, or fails it when WORKBENCH_REQUIRE_DATA=1 (as in CI).
var (
	repoRoot       = testenv.RepoRoot
	sharedFile     = testenv.SharedData
	nibabelFile    = testenv.NibabelFile
	requireNibabel = testenv.RequireNibabel
)

// nibabelData is where Debian's python3-nibabel installs nibabel's own test images.
const nibabelData = testenv.NibabelData

type goldenDigest struct {
	Count       int       `json:"count"`
	Sum         float64   `json:"sum"`
	SumSq       float64   `json:"sumsq"`
	Weighted    float64   `json:"weighted"`
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
	SampleIndex []int     `json:"sample_index"`
	SampleValue []float64 `json:"sample_value"`
}

type goldenExtension struct {
	Code   int32  `json:"code"`
	Length int    `json:"length"`
	SHA256 string `json:"sha256"`
}

type goldenFile struct {
	Version    int               `json:"version"`
	BigEndian  bool              `json:"big_endian"`
	Datatype   int16             `json:"datatype"`
	Shape      []int64           `json:"shape"`
	Pixdim     []float64         `json:"pixdim"`
	SclSlope   float64           `json:"scl_slope"`
	SclInter   float64           `json:"scl_inter"`
	QformCode  int32             `json:"qform_code"`
	SformCode  int32             `json:"sform_code"`
	Affine     [4][4]float64     `json:"affine"`
	Qform      [4][4]float64     `json:"qform"`
	Sform      [4][4]float64     `json:"sform"`
	AxCodes    [3]string         `json:"axcodes"`
	Extensions []goldenExtension `json:"extensions"`
	HeaderOnly bool              `json:"header_only"`
	Volumes    int64             `json:"volumes"`
	Data       *goldenDigest     `json:"data"`
	Canonical  *struct {
		Shape   [3]int        `json:"shape"`
		Affine  [4][4]float64 `json:"affine"`
		AxCodes [3]string     `json:"axcodes"`
		Data    goldenDigest  `json:"data"`
	} `json:"canonical"`
}

func loadGolden(t testing.TB) map[string]goldenFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Files map[string]goldenFile `json:"files"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return g.Files
}

// close reports whether a and b agree to a relative tolerance (float32 voxel storage) or tiny absolute one.
func closeTo(a, b, rel float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) || math.Abs(a-b) <= 1e-9
}

func affinesClose(a, b [4][4]float64, tol float64) bool {
	for i := range 4 {
		for j := range 4 {
			if math.Abs(a[i][j]-b[i][j]) > tol {
				return false
			}
		}
	}
	return true
}

// checkDigest compares voxel data (x fastest) with a digest nibabel computed in float64.
func checkDigest(t *testing.T, what string, data []float32, want goldenDigest) {
	t.Helper()
	if len(data) != want.Count {
		t.Errorf("%s: %d voxels, nibabel has %d", what, len(data), want.Count)
		return
	}
	var sum, sumsq, weighted float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range data {
		x := float64(v)
		sum += x
		sumsq += x * x
		weighted += x * float64(i%97+1)
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	const rel = 1e-6 // float32 rounding of scaled values, summed
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"sum", sum, want.Sum}, {"sum of squares", sumsq, want.SumSq}, {"order-weighted sum", weighted, want.Weighted}, {"min", lo, want.Min}, {"max", hi, want.Max}} {
		if !closeTo(c.got, c.want, rel) {
			t.Errorf("%s: %s %.10g, nibabel %.10g", what, c.name, c.got, c.want)
		}
	}
	for k, i := range want.SampleIndex {
		if got := float64(data[i]); !closeTo(got, want.SampleValue[k], 1e-7) {
			t.Errorf("%s: voxel %d = %.10g, nibabel %.10g", what, i, got, want.SampleValue[k])
		}
	}
}
