"""Components of the kgot-platform Pulumi program, and its typed stack settings."""
