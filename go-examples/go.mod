module gracefd.example/go-examples

go 1.22
