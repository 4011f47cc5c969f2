// Stand-in for Traefik's nested module github.com/traefik/traefik/dynamic/ext,
// which lives at pkg/config/dynamic/ext upstream and is not in the module zip
// (so the module proxy cannot serve it). Upstream it is these empty types.
module github.com/traefik/traefik/dynamic/ext

go 1.24
