module otterscale/tests/interop/yamux_go

go 1.26

require github.com/hashicorp/yamux v0.1.2
