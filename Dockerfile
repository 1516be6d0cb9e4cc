# The agiqa harness: built with cgo, which it uses to load libjpeg-turbo at run time (dlopen), so the
# build stage needs no libjpeg-turbo; the runtime stage installs the library (Pillow-exact JPEG decoding).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/agiqa ./cmd/agiqa

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libturbojpeg0 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/agiqa /usr/local/bin/agiqa
ENTRYPOINT ["agiqa"]
