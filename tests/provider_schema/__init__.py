"""Resource inputs and invoke arguments checked against the providers' own Pulumi schemas (vendored pieces)."""
