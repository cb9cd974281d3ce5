package job

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// protocolOutput moves the protocol to a private copy of stdout and points file descriptor 1 at stderr, so a
// stray write to stdout (by C code, say) cannot corrupt the stream.
func protocolOutput() (*os.File, error) {
	fd, err := syscall.Dup(1)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Dup3(2, 1, 0); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "protocol"), nil
}

// supervise makes the worker its own process group, so a Ctrl-C at the terminal reaches only the trainer
// (which cancels the worker), and has the kernel kill it if the trainer dies.
func supervise(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// lowerPriority gives every thread of the worker the nice value workerNice, so that the server it trains
// beside (label saves, slice views) gets the CPU first. Linux keeps a nice value per thread, and a new thread
// inherits its creator's: setting all the present ones (the BLAS library's pool among them) covers the rest.
func lowerPriority() {
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, task := range tasks {
		if tid, err := strconv.Atoi(filepath.Base(task)); err == nil {
			syscall.Setpriority(syscall.PRIO_PROCESS, tid, workerNice)
		}
	}
}
