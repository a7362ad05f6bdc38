module gracefd.bench/tableflip-httpd

go 1.22

require github.com/cloudflare/tableflip v1.2.3
