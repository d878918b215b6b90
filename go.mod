module github.com/multilayer-cache/multilayer

go 1.26
