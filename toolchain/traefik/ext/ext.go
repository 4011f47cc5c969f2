// Package ext holds the extension points of Traefik's dynamic configuration.
// Traefik's open-source build leaves them empty; this copy is the same.
package ext

// HTTP is inlined into dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is inlined into dynamic.Router.
type Router struct{}

// RouterIng is the extension of a router read from Ingress annotations.
type RouterIng struct{}

// ToRouter converts the Ingress extension into the router one.
func (RouterIng) ToRouter() Router { return Router{} }
