module github.com/gracefd/gracefd/go

go 1.22
