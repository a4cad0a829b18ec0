#!/bin/sh
# Regenerates the signer's known-answer test data (run from this directory):
#   test keys with openssl (throwaway keys made for these tests, never used anywhere else),
#   then signatures of fixed requests computed by the official OCI Python SDK's signer.
#     sh make_kat.sh /path/to/python-with-oci
# (CI does not run this; cr-oci's tests read the committed output.)
set -eu
PY=${1:-python3}
openssl genrsa -traditional -out key_pkcs1.pem 2048
openssl pkcs8 -topk8 -nocrypt -in key_pkcs1.pem -out key_pkcs8.pem
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:kat-pass-phrase -in key_pkcs1.pem -out key_pkcs8_encrypted.pem
openssl rsa -traditional -aes256 -passout pass:kat-pass-phrase -in key_pkcs1.pem -out key_pkcs1_encrypted.pem
# The OCI console's download may end with an OCI_API_KEY label line.
{ cat key_pkcs8.pem; echo OCI_API_KEY; } > key_pkcs8_labelled.pem
"$PY" make_kat.py > kat.json
