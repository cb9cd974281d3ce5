package ingest

import (
	"bytes"
	"io"
)

// bufferChunk is the size of a Buffer's chunks: large enough that a big upload is a few hundred of them,
// small enough that a small one wastes little.
const bufferChunk = 1 << 20

// Buffer holds a file's bytes in memory, in chunks: it grows without copying (one growing slice holds up to
// twice the bytes while it reallocates, and leaves the old copies to the garbage collector) and can be read
// any number of times, to decode the file and then to store it verbatim.
type Buffer struct {
	chunks [][]byte
	size   int64
}

// BufferOf wraps bytes already in memory, without copying them.
func BufferOf(data []byte) *Buffer {
	return &Buffer{chunks: [][]byte{data[:len(data):len(data)]}, size: int64(len(data))}
}

// ReadFrom appends everything r yields until io.EOF; the error is r's, nil at io.EOF.
func (b *Buffer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		last := len(b.chunks) - 1
		if last < 0 || len(b.chunks[last]) == cap(b.chunks[last]) {
			b.chunks = append(b.chunks, make([]byte, 0, bufferChunk))
			last++
		}
		chunk := b.chunks[last]
		n, err := r.Read(chunk[len(chunk):cap(chunk)])
		b.chunks[last] = chunk[:len(chunk)+n]
		b.size += int64(n)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Len is the number of bytes held.
func (b *Buffer) Len() int64 { return b.size }

// Reader reads the bytes from the start; each call returns a new reader.
func (b *Buffer) Reader() io.Reader {
	readers := make([]io.Reader, len(b.chunks))
	for i, c := range b.chunks {
		readers[i] = bytes.NewReader(c)
	}
	return io.MultiReader(readers...)
}
