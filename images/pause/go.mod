module kgot-platform.local/pause

go 1.24
