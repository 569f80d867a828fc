//go:build linux

package httploop

import (
	"syscall"
	"unsafe"
)

// rawRead, rawWrite and rawEpollWait are recv(2), send(2) and epoll_wait(2)
// made without the scheduler hand-off that syscall.Read and its kind do
// around every call for calls that might block. Reads and writes cannot
// block here (the sockets are non-blocking); epoll_wait blocks for at most
// msec milliseconds, which only a loop with a spare P asks for (see
// loop.wait). recvfrom and sendto go to the socket directly, where read and
// write first pass through the file layer; MSG_NOSIGNAL makes a write to a
// reset connection fail with EPIPE instead of raising SIGPIPE.
func rawRead(fd int, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

func rawEpollWait(ep int, events []syscall.EpollEvent, msec int) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), uintptr(msec), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
