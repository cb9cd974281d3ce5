package nifti

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// Image is a NIfTI image as stored: its header, its header extensions and its voxel values, scaled by
// scl_slope/scl_inter, in file order (x fastest: index x + y*nx + z*nx*ny).
type Image struct {
	Header     Header
	Extensions []Extension
	Data       []float32
}

// Extension is one NIfTI header extension: its code (e.g. 4 = AFNI, 6 = comment) and raw content, padding
// included.
type Extension struct {
	Code int32
	Data []byte
}

// Shape is the image's spatial shape.
func (img *Image) Shape() [3]int { return img.Header.Shape() }

// ReadOptions bound what a reader accepts; the zero value accepts every image this package can read.
type ReadOptions struct {
	// MaxVoxels refuses an image whose volume holds more voxels than this, with an error wrapping
	// ErrTooManyVoxels, after the header is parsed and before any voxel is read or allocated: a few MB of gzip
	// can claim gigabytes of voxels. 0 means no limit beyond the package's own 2^31.
	MaxVoxels int64
}

// ErrTooManyVoxels is wrapped by the error of a reader refusing an image over ReadOptions.MaxVoxels.
var ErrTooManyVoxels = errors.New("image too large")

// readOptions are the decoder's knobs: the exported ones, and firstVolume, which reads volume 0 of a
// multi-volume image instead of refusing it. The workbench never imports such images, but the golden and
// round-trip tests compare volume 0 of nibabel's multi-volume test files, through the same decoder.
type readOptions struct {
	ReadOptions
	firstVolume bool
}

// Read reads a NIfTI-1 or NIfTI-2 image from a .nii or .nii.gz file, or from a .hdr/.img pair (path may name
// either file of the pair; each may be gzipped). Only 3-D images, or 4-D images holding one volume, are read.
func Read(path string) (*Image, error) {
	return readPath(path, readOptions{})
}

// ReadWith is Read with limits.
func ReadWith(path string, opts ReadOptions) (*Image, error) {
	return readPath(path, readOptions{ReadOptions: opts})
}

// ReadBytes reads a single-file NIfTI image (.nii, or .nii.gz detected by its gzip magic bytes, whatever the
// name) held in memory, e.g. an upload. name only serves to word the error for half of a .hdr/.img pair.
func ReadBytes(name string, data []byte) (*Image, error) {
	return decode(bytes.NewReader(data), name, readOptions{})
}

// ReadBytesWith is ReadBytes with limits, for data from untrusted sources such as uploads.
func ReadBytesWith(name string, data []byte, opts ReadOptions) (*Image, error) {
	return decode(bytes.NewReader(data), name, readOptions{ReadOptions: opts})
}

// Decode reads a single-file NIfTI image (.nii or .nii.gz, detected by magic bytes) from a stream. Memory
// grows with the data actually present, never with what a header claims.
func Decode(r io.Reader) (*Image, error) {
	return decode(r, "", readOptions{})
}

// ReadHeader reads only the header of an image file: a .nii or .nii.gz file, or a .hdr/.img pair named by
// either file (each may be gzipped). Voxel data are not read.
func ReadHeader(path string) (*Header, error) {
	if hdrPath, _, ok := pairPaths(path); ok {
		path = hdrPath
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open image: %w", err)
	}
	defer f.Close()
	src, err := newSource(f)
	if err != nil {
		return nil, err
	}
	h, _, err := readHeader(src)
	return h, err
}

func readPath(path string, opts readOptions) (*Image, error) {
	if hdrPath, imgPath, ok := pairPaths(path); ok {
		return readPair(hdrPath, imgPath, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open image: %w", err)
	}
	defer f.Close()
	return decode(f, path, opts)
}

// pairPaths returns the header and image file names of a .hdr/.img pair named by either file. Either file
// may be gzipped independently: the other one is looked for with the same compression first, then the other.
func pairPaths(path string) (hdr, img string, ok bool) {
	lower := strings.ToLower(path)
	gz := ""
	if strings.HasSuffix(lower, ".gz") {
		gz = path[len(path)-3:]
		lower = lower[:len(lower)-3]
	}
	if !strings.HasSuffix(lower, ".hdr") && !strings.HasSuffix(lower, ".img") {
		return "", "", false
	}
	base, ext := path[:len(lower)-4], path[len(lower)-4:len(lower)]
	other := ".img"
	if strings.EqualFold(ext, ".img") {
		other = ".hdr"
	}
	counterpart := base + swapExt(ext, other) + gz
	if _, err := os.Stat(counterpart); err != nil {
		alternative := base + swapExt(ext, other) + swapExt(ext, ".gz")
		if gz != "" {
			alternative = base + swapExt(ext, other)
		}
		if _, err := os.Stat(alternative); err == nil {
			counterpart = alternative
		}
	}
	if other == ".img" {
		return path, counterpart, true
	}
	return counterpart, path, true
}

// swapExt returns to, in upper case when from is upper case (FILE.HDR goes with FILE.IMG).
func swapExt(from, to string) string {
	if from == strings.ToUpper(from) {
		return strings.ToUpper(to)
	}
	return to
}

// source is a (possibly gunzipped) input stream that remembers the first real read failure, so that a
// stream ending early is told apart from a damaged gzip stream or an I/O error.
type source struct {
	r   io.Reader
	gz  *gzip.Reader // nil for plain data
	err error        // first error other than io.EOF from r
}

// newSource gunzips r when it starts with the gzip magic bytes.
func newSource(r io.Reader) (*source, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, gzipError(err)
		}
		return &source{r: zr, gz: zr}, nil
	}
	return &source{r: br}, nil
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// fail returns the stream's own failure when there was one, else the given error about the content.
func (s *source) fail(content error) error {
	switch {
	case s.err == nil:
		return content
	case s.gz != nil:
		return gzipError(s.err)
	default:
		return fmt.Errorf("cannot read image: %v", s.err)
	}
}

// finish reads a gzip stream to its end, which verifies its checksum, so a damaged file is not taken for a
// good one.
func (s *source) finish() error {
	if s.gz == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, s); err != nil {
		return s.fail(gzipError(err))
	}
	if err := s.gz.Close(); err != nil {
		return gzipError(err)
	}
	return nil
}

// gzipError words a decompression failure for a user.
func gzipError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("truncated gzip data")
	}
	return fmt.Errorf("corrupt gzip data: %v", err)
}

// readHeader reads and parses the fixed-size header from src, returning it with its raw bytes.
func readHeader(src *source) (*Header, []byte, error) {
	raw := make([]byte, nifti2HeaderSize)
	if n, err := io.ReadFull(src, raw[:4]); err != nil {
		return nil, nil, src.fail(fmt.Errorf("not a NIfTI file: only %d bytes", n))
	}
	version, _, ok := headerVersion(raw)
	if !ok {
		_, err := ParseHeader(raw[:4])
		return nil, nil, err
	}
	size := nifti1HeaderSize
	if version == 2 {
		size = nifti2HeaderSize
	}
	if n, err := io.ReadFull(src, raw[4:size]); err != nil {
		return nil, nil, src.fail(fmt.Errorf("not a NIfTI file: header truncated at %d of %d bytes", 4+n, size))
	}
	h, err := ParseHeader(raw[:size])
	if err != nil {
		return nil, nil, err
	}
	return h, raw[:size], nil
}

func decode(r io.Reader, name string, opts readOptions) (*Image, error) {
	src, err := newSource(r)
	if err != nil {
		return nil, err
	}
	h, exts, err := decodeHeader(src, name, opts)
	if err != nil {
		return nil, err
	}
	data, err := readVoxels(src, h)
	if err != nil {
		return nil, err
	}
	if err := src.finish(); err != nil {
		return nil, err
	}
	return &Image{Header: *h, Extensions: exts, Data: data}, nil
}

// decodeHeader reads what comes before the voxel data of a single file: the header, then the extender bytes
// and any extensions, leaving src at the first voxel.
func decodeHeader(src *source, name string, opts readOptions) (*Header, []Extension, error) {
	h, raw, err := readHeader(src)
	if err != nil {
		return nil, nil, err
	}
	if h.IsPair() {
		return nil, nil, fmt.Errorf("header-only NIfTI file (magic %q): the voxel data are in the .img file of a .hdr/.img pair %s", h.Magic, pairHint(name))
	}
	if err := checkVolumes(h, opts); err != nil {
		return nil, nil, err
	}
	// Everything between the header and the voxel data: the extender bytes and any extensions. The buffer
	// grows with the bytes actually present, whatever vox_offset claims, and is bounded like a pair's.
	offset := h.dataOffset()
	want := offset - int64(len(raw))
	var between bytes.Buffer
	if n, err := io.CopyN(&between, src, min(want, maxExtensionBytes+1)); err != nil {
		return nil, nil, src.fail(fmt.Errorf("vox_offset %d is past the end of the data (%d bytes)", offset, int64(len(raw))+n))
	}
	if want > maxExtensionBytes {
		return nil, nil, fmt.Errorf("unsupported image: vox_offset %d leaves more than %d MiB for header extensions", offset, maxExtensionBytes>>20)
	}
	exts, err := parseExtensions(between.Bytes(), h.BigEndian)
	if err != nil {
		return nil, nil, err
	}
	return h, exts, nil
}

func pairHint(name string) string {
	if name == "" {
		return "(read it from disk with both files)"
	}
	return fmt.Sprintf("(read %s from disk next to its .img)", name)
}

func readPair(hdrPath, imgPath string, opts readOptions) (*Image, error) {
	hf, err := os.Open(hdrPath)
	if err != nil {
		return nil, fmt.Errorf("cannot open the .hdr of a .hdr/.img pair: %w", err)
	}
	defer hf.Close()
	hsrc, err := newSource(hf)
	if err != nil {
		return nil, err
	}
	h, _, err := readHeader(hsrc)
	if err != nil {
		return nil, err
	}
	if !h.IsPair() {
		return nil, fmt.Errorf("not a NIfTI pair header: magic %q is that of a single .nii file", h.Magic)
	}
	if err := checkVolumes(h, opts); err != nil {
		return nil, err
	}
	// Extensions of a pair run to the end of the .hdr file; a header file is small, but stay bounded.
	rest, err := io.ReadAll(io.LimitReader(hsrc, maxExtensionBytes))
	if err != nil {
		return nil, hsrc.fail(err)
	}
	exts, err := parseExtensions(rest, h.BigEndian)
	if err != nil {
		return nil, err
	}

	imf, err := os.Open(imgPath)
	if err != nil {
		return nil, fmt.Errorf("cannot open the .img of a .hdr/.img pair: %w", err)
	}
	defer imf.Close()
	isrc, err := newSource(imf)
	if err != nil {
		return nil, err
	}
	offset := h.dataOffset()
	if n, err := io.CopyN(io.Discard, isrc, offset); err != nil {
		return nil, isrc.fail(fmt.Errorf("vox_offset %d is past the end of the .img file (%d bytes)", offset, n))
	}
	data, err := readVoxels(isrc, h)
	if err != nil {
		return nil, err
	}
	if err := isrc.finish(); err != nil {
		return nil, err
	}
	return &Image{Header: *h, Extensions: exts, Data: data}, nil
}

// maxExtensionBytes bounds the header extensions kept in memory.
const maxExtensionBytes = 64 << 20

// checkVolumes refuses images with more than one volume (unless told to take the first) and volumes over the
// voxel limit, before anything is allocated for the voxels.
func checkVolumes(h *Header, opts readOptions) error {
	if n := h.Volumes(); n > 1 && !opts.firstVolume {
		return fmt.Errorf("unsupported %d-D image with %d volumes: only 3-D images (or 4-D with one volume) can be read", h.NDim(), n)
	}
	shape := h.Shape()
	if n := int64(shape[0]) * int64(shape[1]) * int64(shape[2]); opts.MaxVoxels > 0 && n > opts.MaxVoxels {
		return fmt.Errorf("%w: %dx%dx%d = %d voxels, more than the limit of %d", ErrTooManyVoxels, shape[0], shape[1], shape[2], n, opts.MaxVoxels)
	}
	return nil
}

// parseExtensions decodes the extender flag and the extensions that follow the header. b starts right after
// the fixed header and ends where the voxel data (or the .hdr file) end.
func parseExtensions(b []byte, bigEndian bool) ([]Extension, error) {
	if len(b) < 4 || b[0] == 0 {
		return nil, nil
	}
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	b = b[4:]
	var exts []Extension
	for len(b) >= 8 {
		esize := int64(int32(order.Uint32(b)))
		code := int32(order.Uint32(b[4:]))
		if esize == 0 && code == 0 {
			break // zero padding before the voxel data, not an extension
		}
		if esize < 8 || esize > int64(len(b)) {
			return nil, fmt.Errorf("corrupt header extension: size %d with %d bytes left before the voxel data", esize, len(b))
		}
		exts = append(exts, Extension{Code: code, Data: bytes.Clone(b[8:esize])})
		b = b[esize:]
	}
	return exts, nil
}

// voxelChunk is how many voxels are converted per read, so that memory follows the data actually present.
const voxelChunk = 1 << 16

// readVoxels reads one volume of voxel data from src and returns it scaled, as float32.
func readVoxels(src *source, h *Header) ([]float32, error) {
	shape := h.Shape()
	nvox := shape[0] * shape[1] * shape[2]
	// Grow the output as data arrive rather than trusting the header's size up front.
	out := make([]float32, 0, min(nvox, 4*voxelChunk))
	err := readChunks(src, h, func(start, n int) []float32 {
		out = slices.Grow(out, n)[:start+n]
		return out[start:]
	}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readChunks reads one volume of voxels from src chunk by chunk, in file order: each chunk of n voxels
// starting at voxel start is converted, scaled, into into(start, n), then handed to placed when it is not nil.
func readChunks(src *source, h *Header, into func(start, n int) []float32, placed func(start int, chunk []float32)) error {
	slope, inter, err := h.scaling()
	if err != nil {
		return err
	}
	shape := h.Shape()
	nvox := shape[0] * shape[1] * shape[2]
	bpv := bytesPerVoxel(h.Datatype)
	var order binary.ByteOrder = binary.LittleEndian
	if h.BigEndian {
		order = binary.BigEndian
	}
	buf := make([]byte, min(nvox, voxelChunk)*bpv)
	scratch := make([]float64, min(nvox, voxelChunk))
	for start := 0; start < nvox; {
		n := min(nvox-start, voxelChunk)
		chunk := buf[:n*bpv]
		if got, err := io.ReadFull(src, chunk); err != nil {
			return src.fail(truncatedError(h, int64(start*bpv+got)))
		}
		dst := into(start, n)[:n]
		convert(dst, scratch, chunk, h.Datatype, order, slope, inter)
		if placed != nil {
			placed(start, dst)
		}
		start += n
	}
	return nil
}

// truncatedError is the refusal of a volume whose voxel data stop after have bytes.
func truncatedError(h *Header, have int64) error {
	shape := h.Shape()
	nvox := int64(shape[0]) * int64(shape[1]) * int64(shape[2])
	return fmt.Errorf("truncated file: %d voxels of %s need %d bytes of data, only %d present",
		nvox, DatatypeName(h.Datatype), nvox*int64(bytesPerVoxel(h.Datatype)), have)
}

// convert decodes len(dst) voxels of the given datatype from src into scratch (float64, so that 64-bit values
// are scaled before rounding), then stores value*slope+inter in dst.
func convert(dst []float32, scratch []float64, src []byte, datatype int16, o binary.ByteOrder, slope, inter float64) {
	v := scratch[:len(dst)]
	switch datatype {
	case DTUint8:
		for i := range v {
			v[i] = float64(src[i])
		}
	case DTInt8:
		for i := range v {
			v[i] = float64(int8(src[i]))
		}
	case DTInt16:
		for i := range v {
			v[i] = float64(int16(o.Uint16(src[2*i:])))
		}
	case DTUint16:
		for i := range v {
			v[i] = float64(o.Uint16(src[2*i:]))
		}
	case DTInt32:
		for i := range v {
			v[i] = float64(int32(o.Uint32(src[4*i:])))
		}
	case DTUint32:
		for i := range v {
			v[i] = float64(o.Uint32(src[4*i:]))
		}
	case DTFloat32:
		for i := range v {
			v[i] = float64(math.Float32frombits(o.Uint32(src[4*i:])))
		}
	case DTInt64:
		for i := range v {
			v[i] = float64(int64(o.Uint64(src[8*i:])))
		}
	case DTUint64:
		for i := range v {
			v[i] = float64(o.Uint64(src[8*i:]))
		}
	case DTFloat64:
		for i := range v {
			v[i] = math.Float64frombits(o.Uint64(src[8*i:]))
		}
	}
	if slope == 1 && inter == 0 {
		for i, x := range v {
			dst[i] = float32(x)
		}
		return
	}
	for i, x := range v {
		dst[i] = float32(x*slope + inter)
	}
}
