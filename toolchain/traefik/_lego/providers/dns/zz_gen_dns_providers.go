// Replaces lego v5's generated registry of ACME DNS providers in the toolchain's
// copy of the module (toolchain/build.sh): that file imports every provider,
// and the module proxy refuses 14 of their SDKs. Traefik calls only this
// function (for the DNS-01 challenge), which needs the network to reach a DNS
// provider's API anyway; the local gateway uses no ACME at all.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName refuses every provider: this build has none.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("unrecognized DNS provider: %s (this Traefik build, kgot-platform's toolchain, has no ACME DNS providers)", name)
}
