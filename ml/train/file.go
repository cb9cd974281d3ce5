package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"

	"github.com/mriworkbench/workbench/ml"
)

// Model file layout (all integers little-endian):
//
//	magic      8 bytes  "MRIWBMDL"
//	version    uint32   FormatVersion
//	headerLen  uint32
//	header     JSON     fileHeader: Info plus the tensor section's length
//	count      uint32   number of tensors
//	count times:
//	  nameLen  uint16, name (UTF-8)
//	  ndim     uint8, ndim x uint32 dimensions
//	  values   product(dims) x float32
//	crc        uint32   CRC-32 (Castagnoli) of every byte before it
//
// Tensors are the network's parameters then its batch-norm buffers, by the engine's stable names.
const (
	fileMagic = "MRIWBMDL"
	// FormatVersion is the model file version this program writes and the newest it reads.
	FormatVersion = 1
	prefixLen     = len(fileMagic) + 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type fileHeader struct {
	Info
	Format      string `json:"format"`
	TensorBytes int64  `json:"tensor_bytes"` // length of the tensor section (count included)
}

// WriteTo writes the model file's contents to w: into the store's model file (the store writes it atomically),
// a download, or any file. The package writes no files itself.
func (m *Model) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	b, err := m.encode()
	m.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("write model: %w", err)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ReadModel reads a model file's contents from r, with Load's checks.
func ReadModel(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	return m, nil
}

// encode returns the model's file contents.
func (m *Model) encode() ([]byte, error) {
	var tensors bytes.Buffer
	ts := m.tensors()
	le := binary.LittleEndian
	tensors.Write(le.AppendUint32(nil, uint32(len(ts))))
	for _, t := range ts {
		if len(t.Name) > math.MaxUint16 || len(t.Shape) > math.MaxUint8 {
			return nil, fmt.Errorf("tensor %q: name or rank too large for the format", t.Name)
		}
		rec := le.AppendUint16(nil, uint16(len(t.Name)))
		rec = append(rec, t.Name...)
		rec = append(rec, byte(len(t.Shape)))
		for _, d := range t.Shape {
			rec = le.AppendUint32(rec, uint32(d))
		}
		rec = append(rec, make([]byte, 4*len(t.Data))...)
		vals := rec[len(rec)-4*len(t.Data):]
		for i, v := range t.Data {
			le.PutUint32(vals[4*i:], math.Float32bits(v))
		}
		tensors.Write(rec)
	}
	header, err := json.Marshal(fileHeader{Info: m.Info, Format: "mriworkbench-model", TensorBytes: int64(tensors.Len())})
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	out := make([]byte, 0, prefixLen+len(header)+tensors.Len()+4)
	out = append(out, fileMagic...)
	out = le.AppendUint32(out, FormatVersion)
	out = le.AppendUint32(out, uint32(len(header)))
	out = append(out, header...)
	out = append(out, tensors.Bytes()...)
	return le.AppendUint32(out, crc32.Checksum(out, crcTable)), nil
}

// Load reads a model file written by WriteTo. A file that is not a model, truncated, corrupt, of a newer format
// version or whose tensors do not fit its architecture gives a one-line error saying which.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

var errTruncated = errors.New("file is truncated")

// decode parses and checks a model file's contents.
func decode(b []byte) (*Model, error) {
	le := binary.LittleEndian
	if len(b) < len(fileMagic) {
		if bytes.HasPrefix([]byte(fileMagic), b) {
			return nil, errTruncated
		}
		return nil, errors.New("not a workbench model file (wrong magic)")
	}
	if string(b[:len(fileMagic)]) != fileMagic {
		return nil, errors.New("not a workbench model file (wrong magic)")
	}
	if len(b) < prefixLen {
		return nil, errTruncated
	}
	version := le.Uint32(b[len(fileMagic):])
	if version > FormatVersion {
		return nil, fmt.Errorf("format version %d is newer than this program reads (up to %d): upgrade the workbench", version, FormatVersion)
	}
	if version == 0 {
		return nil, errors.New("format version 0 is invalid: the file is corrupt")
	}
	headerLen := int64(le.Uint32(b[len(fileMagic)+4:]))
	if int64(prefixLen)+headerLen+4 > int64(len(b)) {
		return nil, errTruncated
	}
	var h fileHeader
	headerErr := json.Unmarshal(b[prefixLen:int64(prefixLen)+headerLen], &h)
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != le.Uint32(b[len(b)-4:]) {
		if headerErr == nil && h.TensorBytes >= 0 {
			want := int64(prefixLen) + headerLen + h.TensorBytes + 4
			if int64(len(b)) < want {
				return nil, fmt.Errorf("file is truncated (%d of %d bytes)", len(b), want)
			}
			if int64(len(b)) > want {
				return nil, fmt.Errorf("file has %d bytes after the model's end: corrupt", int64(len(b))-want)
			}
		}
		return nil, errors.New("checksum mismatch: the file is corrupt")
	}
	if headerErr != nil {
		return nil, fmt.Errorf("header: %w", headerErr)
	}
	m, err := modelFor(h.Info)
	if err != nil {
		return nil, err
	}
	if err := readTensors(m, body[int64(prefixLen)+headerLen:]); err != nil {
		return nil, err
	}
	return m, nil
}

// modelFor builds the network a model file's header describes.
func modelFor(info Info) (*Model, error) {
	loss, err := ml.ParseLoss(info.Settings.Loss)
	if err != nil {
		loss = ml.PaperDice() // inference does not use the loss; a later program may have added names
	}
	if _, err := info.Norm.data(); err != nil {
		return nil, err
	}
	if !slices.Contains(ml.Archs(), info.Arch) {
		return nil, fmt.Errorf("architecture %q is unknown to this program (have %v)", info.Arch, ml.Archs())
	}
	cfg := ml.DefaultArchConfig(info.Classes)
	if d := info.Settings.DropRate; d >= 0 && d < 1 {
		cfg.DropRate = float32(d)
	}
	cfg.Width = info.Settings.Width
	net, err := ml.NewModel(info.Arch, cfg, loss)
	if err != nil {
		return nil, fmt.Errorf("architecture %q with %d classes: %w", info.Arch, info.Classes, err)
	}
	if lr := info.Settings.LearningRate; lr > 0 {
		net.SetLearningRate(float32(lr))
	}
	return &Model{Info: info, net: net}, nil
}

// readTensors fills m's tensors from a file's tensor section, which must hold exactly the architecture's tensors.
func readTensors(m *Model, b []byte) error {
	le := binary.LittleEndian
	want := map[string]*ml.Param{}
	for _, t := range m.tensors() {
		want[t.Name] = t
	}
	if len(b) < 4 {
		return errTruncated
	}
	count := int(le.Uint32(b))
	b = b[4:]
	if count != len(want) {
		return fmt.Errorf("file holds %d tensors, architecture %s expects %d", count, m.Info.Arch, len(want))
	}
	seen := map[string]bool{}
	for range count {
		if len(b) < 3 {
			return errTruncated
		}
		nameLen := int(le.Uint16(b))
		if len(b) < 2+nameLen+1 {
			return errTruncated
		}
		name := string(b[2 : 2+nameLen])
		ndim := int(b[2+nameLen])
		b = b[3+nameLen:]
		if len(b) < 4*ndim {
			return errTruncated
		}
		shape := make([]int, ndim)
		n := 1
		for i := range shape {
			shape[i] = int(le.Uint32(b[4*i:]))
			n *= shape[i]
		}
		b = b[4*ndim:]
		t, ok := want[name]
		switch {
		case !ok:
			return fmt.Errorf("tensor %q is not part of architecture %s", name, m.Info.Arch)
		case seen[name]:
			return fmt.Errorf("tensor %q appears twice", name)
		case !equalShape(shape, t.Shape):
			return fmt.Errorf("tensor %q has shape %v, architecture %s expects %v", name, shape, m.Info.Arch, t.Shape)
		}
		seen[name] = true
		if len(b) < 4*n {
			return errTruncated
		}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		b = b[4*n:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the last tensor: corrupt", len(b))
	}
	return nil
}
