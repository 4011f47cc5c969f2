module kgot-platform.local/standin

go 1.24
