module github.com/gracefd/gracefd/go-examples

go 1.22

require github.com/gracefd/gracefd/go v0.0.0

// The library module sits beside this one in the repository.
replace github.com/gracefd/gracefd/go => ../go
