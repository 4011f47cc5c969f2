// abbot/go-http-auth v0.4.0 has no go.mod of its own; the toolchain's build
// copies the module's files beside this one and kgot_additions.go (the two
// names Traefik's fork adds). See toolchain/traefik/go.mod.
module github.com/abbot/go-http-auth

go 1.24

require (
	golang.org/x/crypto v0.56.0
	golang.org/x/net v0.58.0
)
