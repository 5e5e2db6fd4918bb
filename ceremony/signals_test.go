package ceremony

import (
	"syscall"
	"testing"
	"time"
)

// SIGHUP and SIGTERM are held like SIGINT while armed; a second signal
// within ExitWindow exits with 128+n.
func TestStopSignalsHeld(t *testing.T) {
	exited := make(chan int, 1)
	var told []Interrupt
	e := &Engine{Exit: func(c int) { exited <- c }, OnInterrupt: func(in Interrupt) { told = append(told, in) }}
	disarm := e.armSignals()
	defer disarm()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); e.stopRequested() == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("SIGHUP was not held")
		}
	}
	if s := e.stopRequested(); s != syscall.SIGHUP {
		t.Fatalf("held %v, want SIGHUP", s)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-exited:
		if c != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit code %d", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal within the window did not exit")
	}
	if len(told) != 2 || told[0].Second || !told[1].Second {
		t.Fatalf("front end told %+v", told)
	}
	if s := e.stopRequested(); s != syscall.SIGHUP {
		t.Fatalf("the first signal is what stops the ceremony; held %v", s)
	}
}
