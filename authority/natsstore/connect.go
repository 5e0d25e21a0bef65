package natsstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mandate-dev/mandate/authority"
)

// ConnectOptions are what NATS users expect to set: credentials and TLS.
// User and password may also be given in the URL (nats://user:pass@host).
type ConnectOptions struct {
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// NKeyFile is an NKey seed file.
	NKeyFile string
	// TLSCA, TLSCert and TLSKey are PEM files: the CA that signed the
	// servers' certificates, and a client certificate and key for mutual
	// TLS.
	TLSCA, TLSCert, TLSKey string
	// Name is the connection's name as the servers show it.
	Name string
	// Options are appended to the above.
	Options []nats.Option
}

// ParseURLs turns "nats://h1,h2:4223,nats://h3" into the servers' URLs:
// each comma-separated host gets the scheme of the first when it has none.
func ParseURLs(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("natsstore: no server URL; use nats://host1,host2,host3")
	}
	parts := strings.Split(s, ",")
	scheme := "nats"
	var out []string
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("natsstore: empty server in %q", s)
		}
		if !strings.Contains(p, "://") {
			if i == 0 {
				return nil, fmt.Errorf("natsstore: %q: start with the scheme, such as nats://%s or tls://%s", s, p, p)
			}
			p = scheme + "://" + p
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("natsstore: %q is not a NATS server URL (nats://host:4222)", p)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return nil, fmt.Errorf("natsstore: %q: the scheme must be nats, tls, ws or wss", p)
		}
		if i == 0 {
			scheme = u.Scheme
		}
		out = append(out, u.String())
	}
	return out, nil
}

// Connect connects to the NATS servers named by urls (see ParseURLs),
// reconnecting for ever (a replica rides out server restarts).
func Connect(urls string, o ConnectOptions) (*nats.Conn, error) {
	servers, err := ParseURLs(urls)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "mandate-authority"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.RetryOnFailedConnect(false),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsstore: nkey seed file %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("natsstore: give both a TLS client certificate and its key, or neither")
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	opts = append(opts, o.Options...)
	nc, err := nats.Connect(strings.Join(servers, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("natsstore: connect to %s: %w (are the NATS servers up, with JetStream enabled?)", redact(servers), err)
	}
	return nc, nil
}

// redact drops passwords from URLs for messages.
func redact(servers []string) string {
	out := make([]string, len(servers))
	for i, s := range servers {
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		}
	}
	return strings.Join(out, ",")
}

// StoreOptions configure OpenStore.
type StoreOptions struct {
	Connect ConnectOptions
	// Stream and Replicas: see Options.
	Stream   string
	Replicas int
}

// OpenStore connects to NATS and returns the authority's Store on it,
// replicated (several authorities may share it). Closing the store closes
// the connection.
func OpenStore(ctx context.Context, urls string, o StoreOptions) (*authority.KVStore, error) {
	nc, err := Connect(urls, o.Connect)
	if err != nil {
		return nil, err
	}
	e, err := Open(ctx, nc, Options{Stream: o.Stream, Replicas: o.Replicas})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return authority.NewKVStore(e, authority.KVStoreOptions{Replicated: true, Close: func() error {
		return nc.Drain()
	}}), nil
}
