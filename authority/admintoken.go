package authority

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ResetAdminToken replaces the admin token of the authority whose data is
// in cfg.DataDir with a new random one and returns it: the way back in when
// the generated token was lost. Only its hash is stored; the old token stops
// working. The authority must be stopped (its database is locked while it
// runs). Being able to open the data folder is the authorization: whoever
// can read it holds the root keys anyway.
//
// cfg.AdminToken must be empty; cfg.Logger receives the "admin_token_set"
// audit event.
func ResetAdminToken(ctx context.Context, cfg Config, opts ...Option) (string, error) {
	if cfg.AdminToken != "" {
		return "", errors.New("authority: ResetAdminToken generates the token; leave Config.AdminToken empty")
	}
	if cfg.DataDir == "" {
		return "", errors.New("authority: Config.DataDir is required")
	}
	// Refuse a folder that holds no authority: Open would create one.
	for _, sub := range []string{"keys", "db"} {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, sub)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("authority: %s holds no authority (no %s folder); pass the --data folder the authority runs with", cfg.DataDir, sub)
			}
			return "", fmt.Errorf("authority: %w", err)
		}
	}
	rnd, err := newSecret()
	if err != nil {
		return "", err
	}
	tok := adminTokenPrefix + rnd
	cfg.AdminToken = tok
	cfg.AdminTokenOutput = io.Discard
	a, err := Open(ctx, cfg, opts...)
	if err != nil {
		return "", fmt.Errorf("%w (is the authority running? stop it first)", err)
	}
	if err := a.Close(); err != nil {
		return "", fmt.Errorf("authority: close storage: %w", err)
	}
	return tok, nil
}
