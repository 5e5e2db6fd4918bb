package hsm

import (
	"fmt"
)

// Random returns n bytes from the token's random number generator
// (C_GenerateRandom): certificate serials are drawn there, not in Go.
func (t *Token) Random(n int) ([]byte, error) {
	if n <= 0 || n > 1024 {
		return nil, fmt.Errorf("token %q: random: %d bytes asked", t.info.Label, n)
	}
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	b, err := t.ctx.GenerateRandom(t.sh, n)
	if err != nil {
		return nil, p11err(fmt.Sprintf("token %q: random", t.info.Label), err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("token %q: random: %d bytes returned, %d asked", t.info.Label, len(b), n)
	}
	return b, nil
}
