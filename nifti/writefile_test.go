package nifti

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
)

// writeMask writes a uint8 image with like's geometry to a test file, gzipped for .nii.gz and plain for .nii:
// what EncodeMask streams (the package itself writes no files; the program writes them atomically).
func writeMask(path string, like *Header, data []uint8) error {
	h, err := outputHeader(like, DTUint8, len(data))
	if err != nil {
		return err
	}
	return writeFile(path, encodeNifti1(h, binary.LittleEndian), data)
}

// writeFloat32 is writeMask for float32 data, with datatype FLOAT32.
func writeFloat32(path string, like *Header, data []float32) error {
	h, err := outputHeader(like, DTFloat32, len(data))
	if err != nil {
		return err
	}
	payload := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(payload[4*i:], math.Float32bits(v))
	}
	return writeFile(path, encodeNifti1(h, binary.LittleEndian), payload)
}

func writeFile(path string, header, payload []byte) error {
	lower := strings.ToLower(path)
	gzipped := strings.HasSuffix(lower, ".nii.gz")
	if !gzipped && !strings.HasSuffix(lower, ".nii") {
		return fmt.Errorf("cannot write %s: the file name must end in .nii or .nii.gz", path)
	}
	var buf bytes.Buffer
	if err := encode(&buf, gzipped, header, payload); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
