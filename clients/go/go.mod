// The Go client of mxgrid (clients/go/README.md).
//
// Built offline from Debian 12's Go packages: generate.sh links vendor/ to
// /usr/share/gocode/src and writes vendor/modules.txt, so `go build` reads nothing from the
// network. The versions below are those packages' upstream versions (genproto's is Debian's
// snapshot git20200413.b5235f6); with network access, `go mod tidy` resolves them for real.
module mxgrid/clients/go

go 1.19

require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)

require (
	github.com/golang/protobuf v1.5.2 // indirect
	golang.org/x/net v0.7.0 // indirect
	golang.org/x/sys v0.3.0 // indirect
	golang.org/x/text v0.7.0 // indirect
	google.golang.org/genproto v0.0.0-20200413115906-b5235f65be36 // indirect
)
