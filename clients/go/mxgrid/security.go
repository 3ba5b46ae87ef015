package mxgrid

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"

	"google.golang.org/grpc/credentials"
)

// TLSCredentials are transport credentials for servers started with --tls_cert/--tls_key:
// caFile holds the CA certificates that signed the servers' certificates (empty: the
// system's roots); certFile and keyFile, this client's certificate and key for servers that
// also set --tls_ca (mutual TLS; both empty otherwise); serverName, the name to verify in
// the servers' certificates when it is not the host dialed (empty: that host). Files are
// read now; dial again to pick up rotated ones.
func TLSCredentials(caFile, certFile, keyFile, serverName string) (credentials.TransportCredentials, error) {
	config := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("mxgrid: reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mxgrid: %s holds no PEM certificate", caFile)
		}
		config.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("mxgrid: a client certificate needs its key: give both or neither")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mxgrid: loading the client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

// bearerToken sends "authorization: Bearer <token>" on every call, over TLS only: the token
// given, or the first line of a token file read again whenever it changes (rotation).
type bearerToken struct {
	token string
	file  string
	mu    sync.Mutex
	stamp string // the file's modification time and size when last read
}

func (b *bearerToken) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	token, err := b.current()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

func (b *bearerToken) RequireTransportSecurity() bool { return true }

func (b *bearerToken) current() (string, error) {
	if b.file == "" {
		return b.token, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := os.Stat(b.file)
	if err != nil {
		if b.token != "" {
			return b.token, nil // keep the token read before: the file is being replaced
		}
		return "", fmt.Errorf("mxgrid: token file: %w", err)
	}
	stamp := fmt.Sprint(st.ModTime().UnixNano(), st.Size())
	if stamp != b.stamp {
		text, err := os.ReadFile(b.file)
		if err == nil {
			for _, line := range strings.Split(string(text), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					b.token, b.stamp = line, stamp
					break
				}
			}
		}
	}
	if b.token == "" {
		return "", fmt.Errorf("mxgrid: token file %s holds no token", b.file)
	}
	return b.token, nil
}
