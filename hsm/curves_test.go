package hsm_test

import "crypto/elliptic"

func ecdsaP256() elliptic.Curve { return elliptic.P256() }
func ecdsaP384() elliptic.Curve { return elliptic.P384() }
