// Package testcluster starts a real mxgrid compiler and worker on loopback for tests: each
// server picks a free port itself (--address=127.0.0.1:0) and reports it through an
// inherited pipe once it serves (--ready_fd), so there is no polling and no port race.
//
//	c, err := testcluster.Start(t.TempDir())
//	if err != nil { ... }
//	defer c.Stop()
//	client, err := mxgrid.Dial(ctx, c.Worker, nil)
//
// The binaries are found as clients/python/mxgrid/cluster.py finds them: $MXGRID_BIN_DIR
// (a flat folder), else $MXGRID_BAZEL_BIN (a bazel-bin folder, services/<name>/<binary>,
// or a flat one), else <repo>/bazel-bin.
//
// Thread-safety: a Cluster is driven by one goroutine.
package testcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ErrNoBinaries is returned (wrapped) by Start when the server binaries are not found.
var ErrNoBinaries = errors.New("mxgrid server binaries not found")

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// Cluster is a running compiler and worker.
type Cluster struct {
	// host:port of each server.
	Compiler, Worker string
	procs            []*server // started order; stopped in reverse
}

type server struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once cmd.Wait returned; err is then set
	err  error
}

// FindBinary returns the path of the binary of service ("compiler", "worker", "kvstore").
func FindBinary(service string) (string, error) {
	name := "mxgrid-" + service
	var candidates []string
	if dir := os.Getenv("MXGRID_BIN_DIR"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, name))
	}
	if dir := os.Getenv("MXGRID_BAZEL_BIN"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, "services", service, name),
			filepath.Join(dir, name))
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		repo := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
		candidates = append(candidates, filepath.Join(repo, "bazel-bin", "services", service, name))
	}
	for _, path := range candidates {
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("%w: %s (looked in %s); build it with `bazel build //services/%s:%s` "+
		"or set MXGRID_BIN_DIR", ErrNoBinaries, name, strings.Join(candidates, ", "), service, name)
}

// Start starts a compiler, then a worker planning through it, writing their logs to
// logDir/<name>.log. It returns once both serve; on failure it stops what it started.
func Start(logDir string) (*Cluster, error) { return StartWith(logDir) }

// StartWith is Start with more flags for both servers (e.g. --tls_cert=...).
func StartWith(logDir string, flags ...string) (*Cluster, error) {
	compilerBin, err := FindBinary("compiler")
	if err != nil {
		return nil, err
	}
	workerBin, err := FindBinary("worker")
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	if c.Compiler, err = c.start("compiler", compilerBin, logDir, flags...); err != nil {
		c.Stop()
		return nil, err
	}
	workerFlags := append([]string{"--compiler=" + c.Compiler}, flags...)
	if c.Worker, err = c.start("worker", workerBin, logDir, workerFlags...); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// start runs one server and returns the address it reports on its ready pipe.
func (c *Cluster) start(name, bin, logDir string, args ...string) (string, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer readyR.Close()
	cmd := exec.Command(bin, append([]string{"--address=127.0.0.1:0", "--metrics_address=",
		"--ready_fd=3"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{readyW} // fd 3 in the child
	// The server dies with the process that started it (a killed test leaves none behind).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	err = cmd.Start()
	readyW.Close() // the child holds its own copy
	if err != nil {
		return "", fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &server{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	c.procs = append(c.procs, s)
	go func() { s.err = cmd.Wait(); close(s.done) }()

	line := make(chan string, 1)
	go func() {
		text, _ := bufio.NewReader(readyR).ReadString('\n')
		line <- text
	}()
	select {
	case text := <-line:
		if addr := strings.TrimSpace(text); strings.HasSuffix(text, "\n") && addr != "" {
			return addr, nil
		}
		<-s.done // the pipe closed without an address: the server exited
		return "", fmt.Errorf("%s exited before serving (%v); see %s", name, s.err, logPath)
	case <-time.After(startTimeout):
		return "", fmt.Errorf("%s did not start within %v; see %s", name, startTimeout, logPath)
	}
}

// Stop sends SIGTERM to the servers (the worker first) and waits for them (SIGKILL after
// 15 s). It returns an error naming each server that had died before or did not exit
// cleanly. Stop is idempotent.
func (c *Cluster) Stop() error {
	var problems []string
	for i := len(c.procs) - 1; i >= 0; i-- {
		s := c.procs[i]
		select {
		case <-s.done:
			problems = append(problems, fmt.Sprintf("%s had exited (%v); see %s", s.name, s.err,
				s.log))
			continue
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
			if s.err != nil {
				problems = append(problems, fmt.Sprintf("%s exited with %v on SIGTERM; see %s",
					s.name, s.err, s.log))
			}
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			problems = append(problems, fmt.Sprintf("%s ignored SIGTERM for %v; killed; see %s",
				s.name, stopTimeout, s.log))
		}
	}
	c.procs = nil
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
