package train

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/ml/metrics"
)

// trainedModel returns a model whose weights and batch-norm statistics have moved away from their
// initialisation, with metadata in every header field.
func trainedModel(t *testing.T) *Model {
	t.Helper()
	s := quickSettings()
	s.ClassNames = []string{"ring", "core"}
	m, err := NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	samples := discSamples(4, 32, 32)
	img, mask := make([]float32, 0, 4*32*32), make([]uint8, 0, 4*32*32)
	for _, smp := range samples {
		for _, v := range smp.Image {
			img = append(img, (v-200)/120)
		}
		mask = append(mask, smp.Mask...)
	}
	for range 2 {
		if _, err := m.net.Step(img, mask, 4, 32, 32); err != nil {
			t.Fatal(err)
		}
	}
	m.Info.Spacing = [2]float64{0.5, 0.75}
	m.Info.Iterations = 2
	m.Info.Metrics = []metrics.ClassMetrics{{Class: 1, Dice: 0.5}, {Class: 2, Dice: 0.25}}
	return m
}

func TestSaveLoadPredictsIdentically(t *testing.T) {
	m := trainedModel(t)
	path := filepath.Join(t.TempDir(), "model.wbm")
	saveModel(t, m, path)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Info.Settings, m.Info.Settings) || got.Info.Arch != m.Info.Arch ||
		!reflect.DeepEqual(got.Info.ClassNames, m.Info.ClassNames) || got.Info.Spacing != m.Info.Spacing ||
		got.Info.Norm != m.Info.Norm || got.Info.Iterations != 2 || !got.Info.Created.Equal(m.Info.Created) {
		t.Fatalf("header changed:\n got %+v\nwant %+v", got.Info, m.Info)
	}
	if len(got.Info.Metrics) != 2 || got.Info.Metrics[1].Dice != 0.25 {
		t.Fatalf("metrics %+v", got.Info.Metrics)
	}
	src, dst := m.tensors(), got.tensors()
	for i := range src {
		if !reflect.DeepEqual(src[i].Data, dst[i].Data) {
			t.Fatalf("tensor %s differs after loading", src[i].Name)
		}
	}
	// Whole slices of an odd size, through the full inference path.
	slice := discSamples(1, 45, 37)[0]
	c1, p1, u1, err := m.PredictSlice(slice.Image, slice.W, slice.H)
	if err != nil {
		t.Fatal(err)
	}
	c2, p2, u2, err := got.PredictSlice(slice.Image, slice.W, slice.H)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(c1, c2) || u1 != u2 {
		t.Fatal("loaded model predicts differently")
	}
	// Streaming gives the file's bytes, and reading them back the same model.
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if onDisk, _ := os.ReadFile(path); !bytes.Equal(buf.Bytes(), onDisk) {
		t.Fatal("WriteTo and the saved file differ")
	}
	streamed, err := ReadModel(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, p3, _, _ := streamed.PredictSlice(slice.Image, slice.W, slice.H); !reflect.DeepEqual(p1, p3) {
		t.Fatal("streamed model predicts differently")
	}
	if _, err := ReadModel(bytes.NewReader([]byte("MRIWBMDL\x02"))); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("short stream: %v", err)
	}
	// Saving the loaded model gives the same bytes.
	path2 := filepath.Join(t.TempDir(), "again.wbm")
	saveModel(t, got, path2)
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path2)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("save of a loaded model is not byte-identical")
	}
}

// saveModel writes a model file for a test; the program writes them atomically through the store.
func saveModel(t testing.TB, m *Model, path string) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reseal recomputes the trailing checksum, so a test can change a field and reach the check behind it.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crcTable))
	return b
}

func TestLoadRejectsBadFiles(t *testing.T) {
	m := trainedModel(t)
	good, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	headerLen := int(binary.LittleEndian.Uint32(good[12:]))
	clone := func() []byte { return append([]byte(nil), good...) }

	other := quickSettings()
	other.Classes = 3
	wrongClasses, err := NewModel(other)
	if err != nil {
		t.Fatal(err)
	}
	wrongArch, err := wrongClasses.encode()
	if err != nil {
		t.Fatal(err)
	}
	// The file of a 3-class model with the header of a 2-class one: the tensors do not fit.
	mismatch := append(append(append([]byte(nil), good[:16+headerLen]...), wrongArch[16+int(binary.LittleEndian.Uint32(wrongArch[12:])):len(wrongArch)-4]...), 0, 0, 0, 0)

	cases := []struct {
		name, want string
		b          []byte
	}{
		{"empty", "truncated", nil},
		{"wrong magic", "not a workbench model file", append([]byte("PK\x03\x04 zip file"), good[16:]...)},
		{"text file", "not a workbench model file", []byte("hello")},
		{"magic only", "truncated", good[:8]},
		{"cut in header", "truncated", good[:16+headerLen/2]},
		{"cut in tensors", "truncated", good[:len(good)/2]},
		{"last byte missing", "truncated", good[:len(good)-1]},
		{"trailing bytes", "after the model's end", append(clone(), 1, 2, 3)},
		{"flipped weight bit", "checksum mismatch", func() []byte { b := clone(); b[len(b)-100] ^= 0x10; return b }()},
		{"flipped header byte", "checksum mismatch", func() []byte { b := clone(); b[20] ^= 0x01; return b }()},
		{"newer version", "newer than this program reads", func() []byte {
			b := clone()
			binary.LittleEndian.PutUint32(b[8:], FormatVersion+1)
			return reseal(b)
		}()},
		{"version zero", "version 0 is invalid", func() []byte {
			b := clone()
			binary.LittleEndian.PutUint32(b[8:], 0)
			return reseal(b)
		}()},
		{"architecture mismatch", "architecture smallunet expects", reseal(mismatch)},
		{"unknown architecture", `architecture "vnet9____" is unknown`, func() []byte {
			b := clone()
			i := strings.Index(string(b[:16+headerLen]), `"arch":"smallunet"`)
			copy(b[i:], `"arch":"vnet9____"`)
			return reseal(b)
		}()},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(path, c.b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, path) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming the file and saying %q", msg, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestDeeperArchitectures: crops must suit the architecture's pooling, and a narrow UNet reloads at its width.
func TestDeeperArchitectures(t *testing.T) {
	s := quickSettings()
	s.Arch, s.Width, s.CropW, s.CropH = "unet", 4, 40, 40
	if _, err := NewModel(s); err == nil || !strings.Contains(err.Error(), "multiples of 16") {
		t.Fatalf("unet with a 40x40 crop: %v, want a multiples-of-16 refusal", err)
	}
	s.CropW, s.CropH = 32, 32
	m, err := NewModel(s)
	if err != nil {
		t.Fatal(err)
	}
	// A slice whose sides are not multiples of 16 is padded for the whole-slice pass.
	img := make([]float32, 40*24)
	for i := range img {
		img[i] = float32(i%7) - 3
	}
	want, _, _, err := m.PredictSlice(img, 40, 24)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "unet.model")
	saveModel(t, m, path)
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.Net().Net.Config().Width; got != 4 {
		t.Fatalf("reloaded width %d, want 4", got)
	}
	got, _, _, err := loaded.PredictSlice(img, 40, 24)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("reloaded unet predicts differently")
	}
}
