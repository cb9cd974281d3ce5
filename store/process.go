package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Process identifies a process that owns a training run or writes a partial file. A pid alone is not enough:
// pids are reused, so Start records when the process started (the boot id and the start time in clock ticks
// from /proc on Linux; empty where unknown).
type Process struct {
	PID   int    `json:"pid"`
	Host  string `json:"host"`
	Start string `json:"start,omitempty"`
}

// CurrentProcess is this process.
func CurrentProcess() Process {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return Process{PID: pid, Host: host, Start: processStart(pid)}
}

// String names the process for messages.
func (p Process) String() string { return fmt.Sprintf("pid %d on %s", p.PID, p.Host) }

// Alive reports whether the process may still run. Only processes on this host can be checked: one on another
// host (a data directory on a shared disk) is assumed alive, and its heartbeat decides.
func (p Process) Alive() bool {
	if host, _ := os.Hostname(); p.Host != host {
		return true
	}
	if p.PID <= 0 {
		return false
	}
	if err := syscall.Kill(p.PID, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// The pid exists; it is the same process only if it started at the same time, and a zombie (exited, not
	// yet reaped by its parent) runs nothing.
	start, zombie := processState(p.PID)
	return !zombie && (p.Start == "" || p.Start == start)
}

// processStart is the start identity of a pid (see processState).
func processStart(pid int) string {
	start, _ := processState(pid)
	return start
}

// processState reads a pid's start identity, "BOOT_ID:STARTTIME" (the boot id tells a pid from before a
// reboot apart), and whether it is a zombie, from /proc on Linux; elsewhere it says "" and false.
func processState(pid int) (start string, zombie bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// The command name (field 2) is in parentheses and may contain spaces: fields after it are split safely.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return "", false
	}
	fields := strings.Fields(string(stat[end+1:]))
	const state, startTime = 0, 22 - 3 // fields 3 and 22, counted from field 3 (the first after the name)
	if len(fields) <= startTime {
		return "", false
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(boot)) + ":" + fields[startTime], fields[state] == "Z"
}
