#!/usr/bin/env bash
# Make a private CA and the certificates for 2-way SSL between the name server, the
# services and their clients (see the README, "Across hosts").
#
#   tools/make-certs.sh DIR [HOST_OR_IP ...]
#
# DIR gets ca.crt/ca.key, server.crt/server.key (for the name server and both services;
# its subjectAltName lists every HOST_OR_IP, default 127.0.0.1 and localhost) and
# client.crt/client.key (for clients, and for the services' calls to each other).
# Keep ca.key offline; hand out ca.crt with each certificate.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [HOST_OR_IP ...]" >&2
  exit 2
fi
dir=$1
shift
hosts=("$@")
[ ${#hosts[@]} -gt 0 ] || hosts=(127.0.0.1 localhost)

san=""
for host in "${hosts[@]}"; do
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then entry="IP:$host"; else entry="DNS:$host"; fi
  san="${san:+$san,}$entry"
done

mkdir -p "$dir"
cd "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
  -keyout ca.key -out ca.crt -subj "/CN=cpm private CA" 2>/dev/null

issue() {  # name, extensions
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=cpm-$1" 2>/dev/null
  printf '%s\n' "$2" > "$1.ext"
  openssl x509 -req -sha256 -days 825 -in "$1.csr" -CA ca.crt -CAkey ca.key \
    -CAcreateserial -out "$1.crt" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue server "subjectAltName=$san
extendedKeyUsage=serverAuth"
issue client "extendedKeyUsage=clientAuth"
chmod 644 ca.crt server.crt client.crt
echo "certificates in $dir: ca.crt, server.crt/.key (for ${hosts[*]}), client.crt/.key"
