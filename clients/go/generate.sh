#!/usr/bin/env bash
# Writes what the Go client builds from but does not commit, offline:
#   mxgridpb/*.pb.go  Go code of proto/mxgrid/v1/*.proto (protoc-gen-go, protoc-gen-go-grpc);
#   vendor/           links to Debian's Go sources (/usr/share/gocode/src, golang-*-dev
#                     packages) for each module go.mod requires, and vendor/modules.txt, so
#                     that `go build` (vendor mode) never reaches for a module proxy.
# Run it after a checkout and whenever a .proto changes; it is idempotent.
#
#   clients/go/generate.sh && cd clients/go && go vet ./... && go build ./...
#
# Environment: MXGRID_GOCODE replaces /usr/share/gocode/src.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
gocode=${MXGRID_GOCODE:-/usr/share/gocode/src}
module=$(awk '$1 == "module" { print $2; exit }' "$here/go.mod")

for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || {
    echo "generate.sh: $tool not found; apt-get install protobuf-compiler protoc-gen-go" \
         "protoc-gen-go-grpc" >&2
    exit 1
  }
done

# gRPC marshals messages through github.com/golang/protobuf: Debian's 1.3 (the first choice of
# golang-google-grpc-dev's dependency) predates the API protoc-gen-go 1.28 writes for; 1.4+
# forwards to google.golang.org/protobuf.
if ! grep -q 'google.golang.org/protobuf' "$gocode/github.com/golang/protobuf/go.mod" 2>/dev/null; then
  echo "generate.sh: $gocode/github.com/golang/protobuf is missing or older than 1.4:" \
       "apt-get install golang-github-golang-protobuf-1-5-dev" >&2
  exit 1
fi

# --- Go code of the protos ------------------------------------------------------------------
# The protos carry no go_package option (they are shared with C++ and Python): map every file
# to one Go package, mxgridpb (all are proto package mxgrid.v1).
protos=(tensor graph compiler kvstore worker)
go_opts=(--go_opt="module=$module")
grpc_opts=(--go-grpc_opt="module=$module")
files=()
for p in "${protos[@]}"; do
  file=proto/mxgrid/v1/$p.proto
  files+=("$file")
  go_opts+=(--go_opt="M$file=$module/mxgridpb")
  grpc_opts+=(--go-grpc_opt="M$file=$module/mxgridpb")
done
rm -f "$here"/mxgridpb/*.pb.go
(cd "$repo" && protoc -I . --go_out="$here" "${go_opts[@]}" \
  --go-grpc_out="$here" "${grpc_opts[@]}" "${files[@]}")

# --- vendor/ ----------------------------------------------------------------------------------
# One link per required module and the modules.txt that `go build -mod=vendor` checks against
# go.mod: "# path version", "## explicit; go X", then the module's packages (directories with
# Go files, nested modules and testdata left out).
rm -rf "$here/vendor"
mkdir -p "$here/vendor"
modules_txt=$here/vendor/modules.txt
: >"$modules_txt"
awk '/^require \(/ { inside = 1; next } inside && /^\)/ { inside = 0; next }
     inside && NF >= 2 { print $1, $2 } /^require [^(]/ { print $2, $3 }' "$here/go.mod" |
while read -r path version; do
  src=$gocode/$path
  if [[ ! -f $src/go.mod ]]; then
    echo "generate.sh: $src/go.mod missing: install the Debian package of $path" \
         "(clients/go/README.md lists them)" >&2
    exit 1
  fi
  mkdir -p "$here/vendor/$(dirname "$path")"
  ln -s "$src" "$here/vendor/$path"
  go_version=$(awk '$1 == "go" { print $2; exit }' "$src/go.mod")
  echo "# $path $version" >>"$modules_txt"
  echo "## explicit${go_version:+; go $go_version}" >>"$modules_txt"
  # Directories holding a go.mod below the module's root are other modules.
  nested=$(cd "$src" && find . -mindepth 2 -name go.mod -printf '%h\n' | sed 's|^\./||')
  (cd "$src" && find . -name '*.go' ! -name '*_test.go' -printf '%h\n' | sed 's|^\.$||; s|^\./||' |
     sort -u) | while read -r dir; do
    case "/$dir/" in */testdata/*) continue ;; esac
    skip=
    for n in $nested; do
      [[ $dir == "$n" || $dir == "$n"/* ]] && { skip=1; break; }
    done
    [[ -n $skip ]] && continue
    echo "$path${dir:+/$dir}" >>"$modules_txt"
  done
done
