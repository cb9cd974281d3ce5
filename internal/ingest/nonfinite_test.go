package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// float32Nifti encodes data (file order) as a gzipped float32 NIfTI-1 file with like's geometry.
func float32Nifti(t testing.TB, like *nifti.Header, data []float32) []byte {
	t.Helper()
	var enc bytes.Buffer
	if err := nifti.EncodeMask(&enc, like, make([]uint8, len(data))); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&enc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	const voxOffset = 352 // EncodeMask writes a NIfTI-1 header, no extensions
	hdr := raw[:voxOffset]
	binary.LittleEndian.PutUint16(hdr[70:], uint16(nifti.DTFloat32))
	binary.LittleEndian.PutUint16(hdr[72:], 32)
	payload := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(payload[4*i:], math.Float32bits(v))
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(hdr)
	zw.Write(payload)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// A real volume as registration tools leave it, NaN outside the field of view (here its dark background)
// and a few infinities, imports with them replaced by its lowest finite value, reported; the stored volume
// reads back the same; its statistics describe the replaced voxels.
func TestNaNBackgroundReplaced(t *testing.T) {
	src, err := nifti.ReadBytes("t2s.nii.gz", readShared(t, "sct_testing_data/t2s/t2s.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, len(src.Data))
	lowest := float32(math.Inf(1))
	var holes int
	for i, v := range src.Data {
		switch {
		case v < 50:
			data[i] = float32(math.NaN())
			holes++
		case i%997 == 0:
			data[i] = float32(math.Inf(1 - 2*(i%2)))
			holes++
		default:
			data[i] = v + 10
			lowest = min(lowest, v+10)
		}
	}
	if holes == 0 || holes > len(data)/2 {
		t.Fatalf("%d of %d voxels made NaN or infinite: pick another threshold", holes, len(data))
	}
	file := float32Nifti(t, &src.Header, data)

	dec, err := Decode("registered.nii.gz", file, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := NonFinite{Count: holes, Replacement: lowest, Total: len(data)}
	if dec.NonFinite != want {
		t.Errorf("reported %+v, want %+v", dec.NonFinite, want)
	}
	if notice := dec.NonFinite.String(); !strings.Contains(notice, strconv.Itoa(holes)+" of "+strconv.Itoa(len(data))) ||
		!strings.Contains(notice, "NaN or infinite") || !strings.Contains(notice, strconv.FormatFloat(float64(lowest), 'g', -1, 32)) {
		t.Errorf("notice %q should give the count and the replacement", notice)
	}
	for i, v := range dec.Volume.Data {
		if !isFinite(v) {
			t.Fatalf("canonical voxel %d is %v after the replacement", i, v)
		}
	}

	st := openStore(t)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "nan", []store.Class{{Name: "cord", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, vol, err := Import(ctx, st, p.ID, "registered.nii.gz", file, dec, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Stats.Min != float64(lowest) || math.IsNaN(v.Stats.Mean) || v.Stats.P1 != float64(lowest) {
		t.Errorf("stats %+v: want min and p1 at the replacement %v (over 1%% of voxels replaced)", v.Stats, lowest)
	}
	loaded, err := LoadCanonical(ctx, st, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vol.Data {
		if loaded.Data[i] != vol.Data[i] {
			t.Fatalf("voxel %d: loaded %v, imported %v", i, loaded.Data[i], vol.Data[i])
		}
	}
}

// A volume with no finite voxel is refused, with the count.
func TestAllNaNRefused(t *testing.T) {
	like := nifti.Header{Dim: [8]int64{3, 4, 5, 6, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 1}}
	data := make([]float32, 4*5*6)
	for i := range data {
		data[i] = float32(math.NaN())
	}
	data[7] = float32(math.Inf(-1))
	_, err := Decode("empty.nii.gz", float32Nifti(t, &like, data), nifti.ReadOptions{})
	var invalid *store.ValidationError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "all 120 voxels are NaN or infinite") ||
		!strings.HasPrefix(err.Error(), "empty.nii.gz: ") {
		t.Errorf("error %v, want a validation error naming the file and the count", err)
	}
}

// A Buffer takes whatever a reader yields, however it is cut, and reads back the same bytes every time.
func TestBuffer(t *testing.T) {
	want := make([]byte, 2*bufferChunk+12345)
	for i := range want {
		want[i] = byte(i * 31 / 7)
	}
	for name, r := range map[string]func() io.Reader{
		"whole":     func() io.Reader { return bytes.NewReader(want) },
		"half":      func() io.Reader { return iotest.HalfReader(bytes.NewReader(want)) },
		"data+EOF":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(want)) },
		"one bytes": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(want[:3000])) },
	} {
		var b Buffer
		n, err := b.ReadFrom(r())
		expect := want
		if name == "one bytes" {
			expect = want[:3000]
		}
		if err != nil || n != int64(len(expect)) || b.Len() != n {
			t.Fatalf("%s: ReadFrom = %d, %v; Len %d; want %d", name, n, err, b.Len(), len(expect))
		}
		for range 2 {
			got, err := io.ReadAll(b.Reader())
			if err != nil || !bytes.Equal(got, expect) {
				t.Fatalf("%s: read back %d bytes (%v), want the %d written", name, len(got), err, len(expect))
			}
		}
	}
	var b Buffer
	boom := errors.New("connection reset")
	if _, err := b.ReadFrom(io.MultiReader(bytes.NewReader(want[:10]), iotest.ErrReader(boom))); !errors.Is(err, boom) || b.Len() != 10 {
		t.Errorf("failing reader: %v after %d bytes, want its error after 10", err, b.Len())
	}
	if got, _ := io.ReadAll(BufferOf(want).Reader()); !bytes.Equal(got, want) {
		t.Error("BufferOf reads back differently")
	}
}
