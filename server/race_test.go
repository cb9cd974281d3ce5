//go:build race

package server

// raceDetector reports whether the tests run under the race detector, whose shadow memory makes resident
// memory measurements meaningless.
const raceDetector = true
